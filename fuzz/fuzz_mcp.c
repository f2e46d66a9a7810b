/* Fuzzes the MCP dispatcher: the input is split into lines and fed to a fresh server and to an
 * initialized one, whose fake registry has a data tool (lists, truncation) and a text tool. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frontends/mcp.h"
#include "tools/tool.h"

static int data_run(struct tool_context *ctx, json_object *args, json_object **ret,
		    char **ret_error)
{
	json_object *n_obj, *r = json_object_new_object(), *events = json_object_new_array();
	int n = 3;

	if (args && json_object_object_get_ex(args, "max_events", &n_obj))
		n = json_object_get_int(n_obj);
	for (int i = 0; i < n; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "pid", json_object_new_int(1000 + i));
		json_object_object_add(e, "process", json_object_new_string("curl"));
		json_object_array_add(events, e);
	}
	json_object_object_add(r, "total_connections", json_object_new_int(n));
	json_object_object_add(r, "events", events);
	if (args)
		json_object_object_add(r, "arguments", json_object_get(args));
	*ret = r;
	return 0;
}

static int text_run(struct tool_context *ctx, json_object *args, json_object **ret,
		    char **ret_error)
{
	*ret_error = strdup("no model configured");
	return -EIO;
}

static const struct tool fuzz_data = {
	.name = "fuzz_data",
	.command = "data",
	.title = "Fuzz data",
	.description = "Returns events",
	.input_schema = "{\"type\":\"object\",\"properties\":{"
			"\"pid\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":4194304},"
			"\"process_name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":15},"
			"\"duration\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":86400},"
			"\"max_events\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":2000}},"
			"\"additionalProperties\":false}",
	.output_schema = "{\"type\":\"object\",\"properties\":{\"total_connections\":{\"type\":"
			 "\"integer\"},\"events\":{\"type\":\"array\"}},"
			 "\"required\":[\"total_connections\",\"events\"]}",
	.read_only = true,
	.run = data_run,
};

static const struct tool fuzz_text = {
	.name = "fuzz_text",
	.command = "text",
	.title = "Fuzz text",
	.description = "Fails",
	.input_schema = "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\","
			"\"maxLength\":4096}},\"required\":[\"query\"]}",
	.output_schema = "{\"type\":\"object\"}",
	.read_only = true,
	.open_world = true,
	.run = text_run,
};

static const struct tool *const fuzz_tools[] = { &fuzz_data, &fuzz_text, NULL };

static void feed(struct mcp_server *s, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		free(mcp_handle_line(s, p, len));
		p += len + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char init[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
				   "\"params\":{\"protocolVersion\":\"2025-11-25\"}}";
	struct tool_context ctx = { .tools = fuzz_tools };
	struct mcp_server s;

	mcp_server_init(&s, &ctx);
	s.max_result = 4096; /* small, so that truncation is exercised */
	feed(&s, data, size);

	mcp_server_init(&s, &ctx);
	s.max_result = 4096;
	free(mcp_handle_line(&s, init, strlen(init)));
	feed(&s, data, size);
	return 0;
}
