/* Placeholder for the AI module until the chat client and offline analyst land. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ai.h"

static int not_yet(char **ret_error)
{
	*ret_error = strdup("the AI module is not built into this netspyctl yet");
	return -ENOSYS;
}

int ai_insights(struct tool_context *ctx, json_object *args, json_object **ret, char **ret_error)
{
	return not_yet(ret_error);
}

int ai_contextual(struct tool_context *ctx, json_object *args, json_object **ret,
		  char **ret_error)
{
	return not_yet(ret_error);
}

void ai_insights_print(FILE *f, json_object *result)
{
	fprintf(f, "%s\n", json_object_to_json_string(result));
}

void ai_contextual_print(FILE *f, json_object *result)
{
	fprintf(f, "%s\n", json_object_to_json_string(result));
}

void ai_session_free(struct tool_context *ctx)
{
	ctx->ai_session = NULL;
}
