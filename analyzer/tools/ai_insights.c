/* ai_insights: interpretation of a summary text given by the user. */
#include <errno.h>
#include <string.h>

#include "tools/data.h"
#include "tools/tool.h"

static int run(struct tool_context *ctx, json_object *args, json_object **ret, char **ret_error)
{
	if (!ctx->analyst || !ctx->analyst->insights)
		return data_no_analyst(ret_error);
	return ctx->analyst->insights(ctx, args, ret, ret_error);
}

static void print(FILE *f, json_object *result)
{
	text_answer(f, result, "insights");
	text_origin(f, result);
}

const struct tool tool_ai_insights = {
	.name = "ai_insights",
	.command = "insights",
	.title = "AI insights",
	.description = "Interpret a network summary text (for example the output of "
		       "get_network_summary) and explain what it means and what to check next. "
		       "Uses the configured model, or the built-in offline analyst without one.",
	.input_schema = "{\"type\":\"object\",\"properties\":{"
			"\"summary_text\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":16384,"
			"\"description\":\"The summary to interpret\"}},"
			"\"required\":[\"summary_text\"],\"additionalProperties\":false}",
	.output_schema = "{\"type\":\"object\",\"properties\":{"
			 "\"insights\":{\"type\":\"string\"},"
			 "\"offline\":{\"type\":\"boolean\"},"
			 "\"model\":" S_STRING_OR_NULL ","
			 "\"streamed\":{\"type\":\"boolean\"},"
			 "\"numbers\":{\"type\":\"object\"}},"
			 "\"required\":[\"insights\",\"offline\",\"model\"]}",
	.read_only = true,
	.open_world = true,
	.offered_to_model = false,
	.run = run,
	.print = print,
};
