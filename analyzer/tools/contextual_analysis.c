/* contextual_analysis: a question in plain English, answered by a model that chains the data tools
 * (or by the offline analyst). */
#include <errno.h>
#include <string.h>

#include "tools/data.h"
#include "tools/tool.h"

static int run(struct tool_context *ctx, json_object *args, json_object **ret, char **ret_error)
{
	if (!ctx->analyst || !ctx->analyst->contextual)
		return data_no_analyst(ret_error);
	return ctx->analyst->contextual(ctx, args, ret, ret_error);
}

static void print(FILE *f, json_object *result)
{
	json_object *calls = NULL, *c, *a;
	size_t i, n;

	text_answer(f, result, "answer");
	json_object_object_get_ex(result, "tools_called", &calls);
	n = json_object_is_type(calls, json_type_array) ? json_object_array_length(calls) : 0;
	fprintf(f, "\n");
	if (n)
		fprintf(f, "Tools used:\n");
	for (i = 0; i < n; i++) {
		c = json_object_array_get_idx(calls, i);
		a = NULL;
		json_object_object_get_ex(c, "arguments", &a);
		fputs("  ", f);
		text_safe(f, json_object_get_string(json_object_object_get(c, "name")));
		fputc(' ', f);
		text_safe(f, a ? json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN) : "{}");
		fputc('\n', f);
	}
	text_origin(f, result);
}

const struct tool tool_contextual_analysis = {
	.name = "contextual_analysis",
	.command = "ask",
	.alias = "contextual",
	.title = "Contextual analysis",
	.description =
	    "Answer a question about the machine's network behaviour in plain English "
	    "(\"what is curl doing?\", \"are there packet drops?\"). A model chooses and "
	    "chains the data tools; without a model the offline analyst runs a fixed plan "
	    "over the same tools and says so.",
	.input_schema = "{\"type\":\"object\",\"properties\":{"
			"\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,"
			"\"description\":\"The question\"},"
			"\"pid\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":4194304,"
			"\"description\":\"Focus on this process id\"},"
			"\"process_name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":15,"
			"\"description\":\"Focus on processes with this name\"},"
			"\"duration\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":86400,"
			"\"description\":\"Look back this many seconds (default 60)\"}},"
			"\"required\":[\"query\"],\"additionalProperties\":false}",
	.output_schema = "{\"type\":\"object\",\"properties\":{"
			 "\"answer\":{\"type\":\"string\"},"
			 "\"offline\":{\"type\":\"boolean\"},"
			 "\"model\":" S_STRING_OR_NULL ","
			 "\"tools_called\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
			 "\"properties\":{\"name\":{\"type\":\"string\"},"
			 "\"arguments\":{\"type\":\"object\"}},"
			 "\"required\":[\"name\",\"arguments\"]}},"
			 "\"iterations\":{\"type\":\"integer\"},"
			 "\"stopped_early\":{\"type\":\"boolean\"},"
			 "\"streamed\":{\"type\":\"boolean\"},"
			 "\"findings\":{\"type\":\"object\"}},"
			 "\"required\":[\"answer\",\"offline\",\"model\",\"tools_called\"]}",
	.read_only = true,
	.open_world = true,
	.offered_to_model = false,
	.run = run,
	.print = print,
};
