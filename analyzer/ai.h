/* The AI side of the analyzer: ai_insights and contextual_analysis. With a model configured they
 * run OpenAI-compatible function calling over the data tools; without one, the built-in offline
 * analyst answers from the same tools. Tool handlers (tool_ai_insights.c,
 * tool_contextual_analysis.c) call these. */
#ifndef NETSPY_AI_H
#define NETSPY_AI_H

#include <json-c/json.h>

#include "context.h"

/* Same contract as struct tool's run(). */
int ai_insights(struct tool_context *ctx, json_object *args, json_object **ret, char **ret_error);
int ai_contextual(struct tool_context *ctx, json_object *args, json_object **ret,
		  char **ret_error);
void ai_insights_print(FILE *f, json_object *result);
void ai_contextual_print(FILE *f, json_object *result);
/* Frees ctx->ai_session (the shell's conversation). */
void ai_session_free(struct tool_context *ctx);

#endif
