/* contextual_analysis: a question in plain English, answered by a model that chains the data tools
 * (or by the offline analyst). */
#include "ai/ai.h"
#include "tools/tool.h"

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
			 "\"model\":{\"type\":[\"string\",\"null\"]},"
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
	.run = ai_contextual,
	.print = ai_contextual_print,
};
