/* Unit tests of the MCP dispatcher and stdio loop against a fake registry: lifecycle, version
 * negotiation, JSON-RPC errors, ids, tools/list and tools/call results, size caps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "frontends/mcp.h"
#include "tools/tool.h"

static int runs;

static int count_run(struct tool_context *ctx, json_object *args, json_object **ret,
		     char **ret_error)
{
	json_object *n_obj, *r = json_object_new_object(), *items = json_object_new_array();
	int n = 2;

	if (args && json_object_object_get_ex(args, "n", &n_obj))
		n = json_object_get_int(n_obj);
	for (int i = 0; i < n; i++) {
		json_object *it = json_object_new_object();

		json_object_object_add(it, "i", json_object_new_int(i));
		json_object_array_add(items, it);
	}
	json_object_object_add(r, "total", json_object_new_int(n));
	json_object_object_add(r, "items", items);
	*ret = r;
	runs++;
	return 0;
}

static int fail_run(struct tool_context *ctx, json_object *args, json_object **ret,
		    char **ret_error)
{
	*ret_error = strdup("cannot reach netspyd at /nowhere.sock: start it with systemctl start "
			    "netspyd");
	return -ENOTCONN;
}

static int blob_run(struct tool_context *ctx, json_object *args, json_object **ret,
		    char **ret_error)
{
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	*ret = json_object_new_object();
	json_object_object_add(*ret, "blob", json_object_new_string(big));
	return 0;
}

static const struct tool fake_count = {
	.name = "fake_count",
	.command = "count",
	.title = "Fake count",
	.description = "Returns n items",
	.input_schema = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\","
			"\"minimum\":0,\"maximum\":100000}},\"additionalProperties\":false}",
	.output_schema = "{\"type\":\"object\",\"properties\":{\"total\":{\"type\":\"integer\"},"
			 "\"items\":{\"type\":\"array\"}},\"required\":[\"total\",\"items\"]}",
	.read_only = true,
	.open_world = false,
	.run = count_run,
};

static const struct tool fake_fail = {
	.name = "fake_fail",
	.command = "fail",
	.title = "Fake failure",
	.description = "Always fails like a missing daemon",
	.input_schema = "{\"type\":\"object\",\"properties\":{}}",
	.output_schema = "{\"type\":\"object\"}",
	.read_only = true,
	.open_world = true,
	.run = fail_run,
};

static const struct tool fake_blob = {
	.name = "fake_blob",
	.command = "blob",
	.title = "Fake blob",
	.description = "Returns one big string",
	.input_schema = "{\"type\":\"object\"}",
	.output_schema = "{\"type\":\"object\"}",
	.read_only = false,
	.open_world = false,
	.run = blob_run,
};

static const struct tool *const fake_tools[] = { &fake_count, &fake_fail, &fake_blob, NULL };

static int refreshes;
static void count_refresh(struct mcp_server *s)
{
	refreshes++;
}

static struct tool_context ctx = { .tools = fake_tools };

/* Sends one line; returns the parsed response (NULL when none). */
static json_object *ask(struct mcp_server *s, const char *line)
{
	char *out = mcp_handle_line(s, line, strlen(line));
	json_object *r;

	if (!out)
		return NULL;
	r = json_tokener_parse(out);
	free(out);
	return r;
}

static json_object *path(json_object *o, const char *p)
{
	char buf[256], *save, *part;

	snprintf(buf, sizeof(buf), "%s", p);
	for (part = strtok_r(buf, ".", &save); part && o; part = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, atoi(part));
		else if (!json_object_object_get_ex(o, part, &o))
			return NULL;
	}
	return o;
}

static int error_code(json_object *r)
{
	json_object *c = path(r, "error.code");

	return c ? json_object_get_int(c) : 0;
}

static const char *str(json_object *r, const char *p)
{
	json_object *v = path(r, p);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static void init_server(struct mcp_server *s)
{
	json_object *r;

	mcp_server_init(s, &ctx);
	s->before_call = count_refresh;
	r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
		   "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
		   "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}");
	json_object_put(r);
	json_object_put(ask(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
}

static void test_lifecycle(void)
{
	struct mcp_server s;
	json_object *r;

	mcp_server_init(&s, &ctx);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}");
	CHECK(r && path(r, "result") && json_object_object_length(path(r, "result")) == 0,
	      "ping before initialize answers {}");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/list\"}");
	CHECK(error_code(r) == MCP_INVALID_REQUEST && json_object_get_int(path(r, "id")) == 8,
	      "tools/list before initialize is refused");
	CHECK(strstr(str(r, "error.message"), "initialize") != NULL,
	      "the refusal says to initialize first");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"fake_count\"}}");
	CHECK(error_code(r) == MCP_INVALID_REQUEST && runs == 0,
	      "tools/call before initialize is refused and runs nothing");
	json_object_put(r);

	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}");
	CHECK(error_code(r) == MCP_INVALID_PARAMS, "initialize without protocolVersion: -32602");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
		    "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}");
	CHECK(!strcmp(str(r, "result.protocolVersion"), "2025-11-25"), "initialize 2025-11-25");
	CHECK(!strcmp(str(r, "result.serverInfo.name"), "netspy") &&
		  !strcmp(str(r, "result.serverInfo.version"), NETSPY_VERSION),
	      "serverInfo names netspy and its version");
	CHECK(path(r, "result.capabilities.tools.listChanged") &&
		  !json_object_get_boolean(path(r, "result.capabilities.tools.listChanged")),
	      "capabilities.tools.listChanged is false");
	CHECK(strlen(str(r, "result.instructions")) > 40, "initialize gives instructions");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":"
		    "{\"protocolVersion\":\"2025-11-25\"}}");
	CHECK(error_code(r) == MCP_INVALID_REQUEST, "a second initialize is refused");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
	CHECK(r == NULL && s.client_ready, "notifications/initialized gets no response");
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}");
	CHECK(path(r, "result.tools") != NULL, "tools/list works after initialize, params absent");
	json_object_put(r);
}

static void test_versions(void)
{
	static const char *const cases[][2] = {
		{ "2025-11-25", "2025-11-25" },	       { "2025-06-18", "2025-06-18" },
		{ "2025-03-26", "2025-03-26" },	       { "2024-11-05", MCP_LATEST_PROTOCOL },
		{ "1999-01-01", MCP_LATEST_PROTOCOL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mcp_server s;
		char line[256];
		json_object *r;

		mcp_server_init(&s, &ctx);
		snprintf(line, sizeof(line),
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
			 "{\"protocolVersion\":\"%s\"}}",
			 cases[i][0]);
		r = ask(&s, line);
		CHECK(!strcmp(str(r, "result.protocolVersion"), cases[i][1]),
		      "client asks %s, server answers %s", cases[i][0], cases[i][1]);
		json_object_put(r);
	}
}

static void test_ids(void)
{
	struct mcp_server s;
	json_object *r, *id;

	init_server(&s);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}");
	id = path(r, "id");
	CHECK(id && json_object_is_type(id, json_type_int) && json_object_get_int(id) == 0 &&
		  path(r, "result"),
	      "id 0 is echoed as 0");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":\"abc-1\",\"method\":\"ping\"}");
	id = path(r, "id");
	CHECK(id && json_object_is_type(id, json_type_string) && !strcmp(str(r, "id"), "abc-1"),
	      "a string id is echoed as a string");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"ping\"}");
	CHECK(path(r, "id") && !strcmp(str(r, "id"), "") && path(r, "result"),
	      "an empty string id is echoed");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":-12,\"method\":\"nope\"}");
	CHECK(json_object_get_int(path(r, "id")) == -12 && error_code(r) == MCP_METHOD_NOT_FOUND,
	      "errors echo the id too");
	json_object_put(r);
	static const char big_id[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":12345678901234,\"method\":\"ping\"}";
	char *out = mcp_handle_line(&s, big_id, strlen(big_id));
	CHECK(out && strstr(out, "\"id\":12345678901234"), "a large numeric id is echoed exactly");
	free(out);
}

static void test_errors(void)
{
	struct mcp_server s;
	json_object *r;

	init_server(&s);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/discover\"}");
	CHECK(error_code(r) == MCP_METHOD_NOT_FOUND, "unknown method: -32601");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"");
	CHECK(error_code(r) == MCP_PARSE_ERROR && path(r, "id") == NULL &&
		  json_object_object_get_ex(r, "id", NULL),
	      "truncated JSON: -32700 with id null");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} trailing");
	CHECK(error_code(r) == MCP_PARSE_ERROR, "trailing garbage: -32700");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xffng\"}");
	CHECK(error_code(r) == MCP_PARSE_ERROR, "invalid UTF-8: -32700");
	json_object_put(r);
	r = ask(&s, "{'jsonrpc':'2.0'}");
	CHECK(error_code(r) == MCP_PARSE_ERROR, "non-strict JSON: -32700");
	json_object_put(r);
	CHECK(ask(&s, "   ") == NULL && ask(&s, "") == NULL, "blank lines are ignored");
	r = ask(&s, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
	CHECK(error_code(r) == MCP_INVALID_REQUEST, "batch: -32600");
	json_object_put(r);
	r = ask(&s, "42");
	CHECK(error_code(r) == MCP_INVALID_REQUEST, "a number: -32600");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"1.0\",\"id\":5,\"method\":\"ping\"}");
	CHECK(error_code(r) == MCP_INVALID_REQUEST && json_object_get_int(path(r, "id")) == 5,
	      "wrong jsonrpc version: -32600 with the id");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"ping\"}");
	CHECK(error_code(r) == MCP_INVALID_REQUEST && path(r, "id") == NULL,
	      "an object id: -32600 with id null");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":7}");
	CHECK(error_code(r) == MCP_INVALID_REQUEST, "a non-string method: -32600");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\",\"params\":[1]}");
	CHECK(error_code(r) == MCP_INVALID_PARAMS, "params not an object: -32602");
	json_object_put(r);
	CHECK(ask(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}") == NULL,
	      "an unknown notification gets no response");
	CHECK(ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}") == NULL,
	      "a response from the client gets no response");
	runs = 0;
	CHECK(ask(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":"
		      "{\"name\":\"fake_count\"}}") == NULL &&
		  runs == 0,
	      "a tools/call notification gets no response and runs nothing");
}

static void test_long_line(void)
{
	struct mcp_server s;
	size_t n = MCP_MAX_LINE + 10;
	char *big = malloc(n);
	char *out;
	json_object *r;

	init_server(&s);
	memset(big, ' ', n);
	out = mcp_handle_line(&s, big, n);
	r = out ? json_tokener_parse(out) : NULL;
	CHECK(error_code(r) == MCP_INVALID_REQUEST, "a line over %d bytes: -32600", MCP_MAX_LINE);
	json_object_put(r);
	free(out);
	free(big);
}

static void test_tools_list(void)
{
	struct mcp_server s;
	json_object *r, *tools;

	init_server(&s);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{}}");
	tools = path(r, "result.tools");
	CHECK(tools && json_object_array_length(tools) == 3, "tools/list lists every tool");
	for (size_t i = 0; tools && i < json_object_array_length(tools); i++) {
		json_object *t = json_object_array_get_idx(tools, i);
		const struct tool *d = fake_tools[i];
		json_object *ro = path(t, "annotations.readOnlyHint");
		json_object *ow = path(t, "annotations.openWorldHint");

		CHECK(!strcmp(str(t, "name"), d->name) && !strcmp(str(t, "title"), d->title) &&
			  !strcmp(str(t, "description"), d->description),
		      "%s: name, title, description", d->name);
		CHECK(!strcmp(str(t, "inputSchema.type"), "object") &&
			  !strcmp(str(t, "outputSchema.type"), "object"),
		      "%s: inputSchema and outputSchema are objects", d->name);
		CHECK(ro && ow && json_object_get_boolean(ro) == d->read_only &&
			  json_object_get_boolean(ow) == d->open_world,
		      "%s: readOnlyHint and openWorldHint from the descriptor", d->name);
	}
	json_object_put(r);
}

static void test_tools_call(void)
{
	struct mcp_server s;
	json_object *r, *sc, *text;

	init_server(&s);
	refreshes = 0;
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":\"c1\",\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"fake_count\",\"arguments\":{\"n\":3}}}");
	sc = path(r, "result.structuredContent");
	CHECK(sc && json_object_get_int(path(sc, "total")) == 3 &&
		  json_object_array_length(path(sc, "items")) == 3,
	      "tools/call returns the tool's object as structuredContent");
	text = json_tokener_parse(str(r, "result.content.0.text"));
	CHECK(text && json_object_equal(text, sc) &&
		  !strcmp(str(r, "result.content.0.type"), "text"),
	      "the first content item is the same JSON as text");
	CHECK(path(r, "result.isError") && !json_object_get_boolean(path(r, "result.isError")),
	      "a successful call has isError false");
	CHECK(refreshes == 1, "new events are ingested before the call");
	json_object_put(text);
	json_object_put(r);

	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"fake_count\"}}");
	CHECK(json_object_get_int(path(r, "result.structuredContent.total")) == 2,
	      "arguments may be absent");
	json_object_put(r);

	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"fake_count\",\"arguments\":{\"n\":\"many\"}}}");
	CHECK(path(r, "result.isError") && json_object_get_boolean(path(r, "result.isError")) &&
		  !path(r, "result.structuredContent"),
	      "invalid arguments: a result with isError true, no structuredContent");
	CHECK(strcasestr(str(r, "result.content.0.text"), "invalid arguments for fake_count") &&
		  strstr(str(r, "result.content.0.text"), "n"),
	      "the message names the tool and the argument (%s)", str(r, "result.content.0.text"));
	json_object_put(r);

	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"fake_count\",\"arguments\":[1]}}");
	CHECK(json_object_get_boolean(path(r, "result.isError")),
	      "arguments not an object: isError");
	json_object_put(r);

	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"fake_fail\",\"arguments\":{}}}");
	CHECK(json_object_get_boolean(path(r, "result.isError")) &&
		  strstr(str(r, "result.content.0.text"), "cannot reach netspyd"),
	      "a failing tool: isError with its message");
	json_object_put(r);

	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"no_such_tool\",\"arguments\":{}}}");
	CHECK(error_code(r) == MCP_INVALID_PARAMS &&
		  strstr(str(r, "error.message"), "no_such_tool"),
	      "unknown tool: -32602 naming it");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"count\"}}");
	CHECK(error_code(r) == MCP_INVALID_PARAMS, "a CLI command name is not an MCP tool name");
	json_object_put(r);
	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\"}");
	CHECK(error_code(r) == MCP_INVALID_PARAMS, "tools/call without params: -32602");
	json_object_put(r);
}

static void test_size_cap(void)
{
	static const char call_1000[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"fake_count\",\"arguments\":{\"n\":1000}}}";
	struct mcp_server s;
	json_object *r, *sc;
	char *out;

	init_server(&s);
	s.max_result = 1000;
	out = mcp_handle_line(&s, call_1000, strlen(call_1000));
	r = out ? json_tokener_parse(out) : NULL;
	sc = path(r, "result.structuredContent");
	CHECK(sc && json_object_array_length(path(sc, "items")) < 1000 &&
		  json_object_array_length(path(sc, "items")) > 10 &&
		  json_object_get_int(path(sc, "total")) == 1000,
	      "an oversized result keeps its totals and shortens its list (%zu items)",
	      sc ? json_object_array_length(path(sc, "items")) : 0);
	CHECK(strlen(str(r, "result.content.0.text")) <= 1000, "the text fits the cap");
	CHECK(strstr(str(r, "result.content.1.text"), "truncated") &&
		  strstr(str(r, "result.content.1.text"), "of 1000 items"),
	      "the truncation is stated: %s", str(r, "result.content.1.text"));
	json_object_put(r);
	free(out);

	r = ask(&s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"fake_blob\"}}");
	CHECK(json_object_get_boolean(path(r, "result.isError")) &&
		  strstr(str(r, "result.content.0.text"), "narrow"),
	      "a result that cannot be shortened: isError asking to narrow the request");
	json_object_put(r);
}

/* The stdio loop: responses one per line, over-long lines skipped, the last line without a
 * newline still handled, exit at end of input. */
static void test_serve(void)
{
	struct mcp_server s;
	FILE *in = tmpfile(), *out = tmpfile();
	char line[4096];
	int n = 0, rc, errs = 0, pongs = 0;

	mcp_server_init(&s, &ctx);
	fputs("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n", in);
	for (size_t i = 0; i < MCP_MAX_LINE + 100; i++)
		fputc('x', in);
	fputs("\n\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n", in);
	fputs("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", in);
	fflush(in);
	rewind(in);
	rc = mcp_serve(&s, fileno(in), out);
	CHECK(rc == 0, "mcp_serve returns 0 at end of input");
	rewind(out);
	while (fgets(line, sizeof(line), out)) {
		json_object *r = json_tokener_parse(line);

		n++;
		errs += error_code(r) == MCP_INVALID_REQUEST;
		pongs += path(r, "result") != NULL;
		json_object_put(r);
	}
	CHECK(n == 3 && errs == 1 && pongs == 2,
	      "two pings answered, one error for the over-long line (%d lines)", n);
	fclose(in);
	fclose(out);
}

/* Many messages per read, and lines that straddle reads: every one answered, in order. */
static void test_serve_many(void)
{
	struct mcp_server s;
	FILE *in = tmpfile(), *out = tmpfile();
	char line[256];
	int n = 0, in_order = 1;

	mcp_server_init(&s, &ctx);
	for (int i = 0; i < 40000; i++)
		fprintf(in, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}\n", i);
	rewind(in);
	CHECK(mcp_serve(&s, fileno(in), out) == 0, "40000 pings served");
	rewind(out);
	while (fgets(line, sizeof(line), out)) {
		json_object *r = json_tokener_parse(line);

		in_order &= json_object_get_int(path(r, "id")) == n++;
		json_object_put(r);
	}
	CHECK(n == 40000 && in_order, "40000 answers, in order (%d)", n);
	fclose(in);
	fclose(out);
}

int main(void)
{
	test_lifecycle();
	test_versions();
	test_ids();
	test_errors();
	test_long_line();
	test_tools_list();
	test_tools_call();
	test_size_cap();
	test_serve();
	test_serve_many();
	return CHECK_DONE();
}
