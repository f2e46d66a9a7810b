/* The offline analyst: a fixed plan over the same data tools, for when no model is configured. */
#ifndef NETSPY_AI_OFFLINE_H
#define NETSPY_AI_OFFLINE_H

#include <json-c/json.h>

#include "tools/context.h"

/* The offline analyst. */
int ai_offline_contextual(struct tool_context *ctx, json_object *args, json_object **ret,
			  char **ret_error);
int ai_offline_insights(const char *text, json_object **ret, char **ret_error);
/* A one-line explanation of a kernel drop reason, or NULL when the name is not in the table. */
const char *ai_offline_drop_reason(const char *name);

#endif
