/* The AI layer seen from above: the analyst behind ai_insights and contextual_analysis. With a
 * model configured it runs function calling over the data tools through an AI backend
 * (ai/backend.h); without one, the built-in offline analyst answers from the same tools.
 * Frontends plug ai_analyst into their tool context. */
#ifndef NETSPY_AI_H
#define NETSPY_AI_H

#include <stdio.h>
#include <json-c/json.h>

#include "tools/context.h"

/* ai_insights and ai_contextual, for tool_context.analyst. */
extern const struct tool_analyst ai_analyst;

/* Same contract as struct tool's run(). Configuration comes from ctx->ai and the environment
 * (OPENAI_API_KEY, OPENAI_BASE_URL, NETSPY_MODEL, NETSPY_AI_TIMEOUT, $CREDENTIALS_DIRECTORY/
 * openai_api_key); without a key or a non-default endpoint, or with ai.offline, the offline
 * analyst answers (offline: true, model: null, plus "findings" / "numbers"). With
 * ctx->stream_out the answer is streamed there as it arrives ("streamed": true in the result,
 * and the print functions then print only the footer). A configured backend that fails gives
 * -EREMOTEIO with a message that never contains the key. */
int ai_insights(struct tool_context *ctx, json_object *args, json_object **ret, char **ret_error);
int ai_contextual(struct tool_context *ctx, json_object *args, json_object **ret, char **ret_error);
/* Frees ctx->ai_session: the conversation that contextual_analysis keeps between questions for
 * a frontend with a person (ctx->progress set: the shell); MCP calls do not keep one. */
void ai_session_free(struct tool_context *ctx);
/* Fills the endpoint and model that flags left unset from the environment ($OPENAI_BASE_URL,
 * $NETSPY_MODEL), else the defaults of the OpenAI-compatible backend. */
void ai_settings_resolve(struct ai_settings *s);

#endif
