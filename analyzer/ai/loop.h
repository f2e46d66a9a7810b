/* The function-calling loop: offers the read-only data tools of ctx->tools to a backend's model as
 * functions and runs the calls it makes through tool_invoke. */
#ifndef NETSPY_AI_LOOP_H
#define NETSPY_AI_LOOP_H

#include <stddef.h>
#include <json-c/json.h>

#include "ai/backend.h"
#include "tools/context.h"

/* The function-calling loop over ctx->tools: messages holds the conversation (system prompt,
 * previous turns and the new user message) and grows with it. Fills result (answer,
 * tools_called, iterations, stopped_early, streamed). */
struct ai_loop_limits {
	int max_iterations;
	size_t max_bytes;      /* tool output plus conversation */
	size_t max_tool_bytes; /* one tool result */
};

void ai_loop_limits_default(struct ai_loop_limits *l);
/* Removes every "cmdline" member from a tool result, at any depth: what a remote model gets
 * unless the user opted in (struct ai_settings share_cmdline). */
void ai_redact_cmdlines(json_object *o);
/* The function definitions offered to the model (a new array), from ctx->tools. */
json_object *ai_loop_functions(const struct tool_context *ctx);
int ai_loop_run(struct tool_context *ctx, struct ai_backend *be, const struct ai_loop_limits *l,
		json_object *messages, json_object *result, char **ret_error);

#endif
