/* The MCP server: JSON-RPC 2.0 dispatch of initialize, ping, tools/list and tools/call over the
 * tool registry, and the newline-delimited stdio loop around it. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/analyzer.h"
#include "frontends/frontend.h"
#include "frontends/mcp.h"
#include "tools/tool.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *const protocols[] = { MCP_LATEST_PROTOCOL, "2025-06-18", "2025-03-26", NULL };

static const char instructions[] =
    "netspy reports what this machine does on the network, from kernel events collected by "
    "the netspyd daemon: connection attempts (TCP and UDP, with outcome and TCP handshake "
    "latency) and packet drops (with the kernel's drop reason). Start with a summary, then "
    "narrow down with pid, process_name and duration (seconds to look back, default 60); the "
    "list tools show individual events. Every answer includes the events seen up to the moment "
    "of the call. The data tools only read: they never change the system.";

/* A JSON-RPC error to send instead of a result. */
struct rpc_error {
	int code;
	char message[512];
};

static json_object *rpc_fail(struct rpc_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_object *rpc_fail(struct rpc_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return NULL;
}

void mcp_server_init(struct mcp_server *s, struct tool_context *ctx)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->max_result = MCP_MAX_RESULT;
}

static const struct tool *const *registry(const struct mcp_server *s)
{
	return tool_context_tools(s->ctx);
}

static char *emit(json_object *msg)
{
	char *line = strdup(json_object_to_json_string_ext(msg, JSON_FLAGS));

	json_object_put(msg);
	return line;
}

static json_object *envelope(json_object *id)
{
	json_object *msg = json_object_new_object();

	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "id", id ? json_object_get(id) : NULL);
	return msg;
}

static char *reply_result(json_object *id, json_object *result)
{
	json_object *msg = envelope(id);

	json_object_object_add(msg, "result", result);
	return emit(msg);
}

static char *reply_error(json_object *id, const struct rpc_error *e)
{
	json_object *msg = envelope(id), *err = json_object_new_object();

	json_object_object_add(err, "code", json_object_new_int(e->code));
	json_object_object_add(err, "message", json_object_new_string(e->message));
	json_object_object_add(msg, "error", err);
	return emit(msg);
}

static const char *get_string(json_object *obj, const char *key)
{
	json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* ---- methods ---------------------------------------------------------------------------- */

static json_object *do_initialize(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	const char *asked = get_string(params, "protocolVersion");
	const char *version = MCP_LATEST_PROTOCOL;
	json_object *r, *caps, *tools, *info;

	if (s->initialized)
		return rpc_fail(e, MCP_INVALID_REQUEST, "initialize was already done");
	if (!asked)
		return rpc_fail(e, MCP_INVALID_PARAMS,
				"initialize needs params.protocolVersion (a string such as \"%s\")",
				MCP_LATEST_PROTOCOL);
	for (size_t i = 0; protocols[i]; i++)
		if (!strcmp(asked, protocols[i]))
			version = protocols[i];
	snprintf(s->protocol, sizeof(s->protocol), "%s", version);
	s->initialized = true;

	r = json_object_new_object();
	json_object_object_add(r, "protocolVersion", json_object_new_string(version));
	caps = json_object_new_object();
	tools = json_object_new_object();
	json_object_object_add(tools, "listChanged", json_object_new_boolean(0));
	json_object_object_add(caps, "tools", tools);
	json_object_object_add(r, "capabilities", caps);
	info = json_object_new_object();
	json_object_object_add(info, "name", json_object_new_string("netspy"));
	json_object_object_add(info, "title", json_object_new_string("netspy network telemetry"));
	json_object_object_add(info, "version", json_object_new_string(NETSPY_VERSION));
	json_object_object_add(r, "serverInfo", info);
	json_object_object_add(r, "instructions", json_object_new_string(instructions));
	return r;
}

static json_object *do_ping(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	return json_object_new_object();
}

static json_object *tool_to_json(const struct tool *t, struct rpc_error *e)
{
	json_object *o = json_object_new_object(), *ann = json_object_new_object();
	json_object *in = json_tokener_parse(t->input_schema);
	json_object *out = t->output_schema ? json_tokener_parse(t->output_schema) : NULL;

	if (!in || (t->output_schema && !out)) {
		json_object_put(in);
		json_object_put(out);
		json_object_put(o);
		json_object_put(ann);
		return rpc_fail(e, MCP_INTERNAL_ERROR, "the schema of tool %s is not valid JSON",
				t->name);
	}
	json_object_object_add(o, "name", json_object_new_string(t->name));
	if (t->title)
		json_object_object_add(o, "title", json_object_new_string(t->title));
	json_object_object_add(o, "description", json_object_new_string(t->description));
	json_object_object_add(o, "inputSchema", in);
	if (out)
		json_object_object_add(o, "outputSchema", out);
	if (t->title)
		json_object_object_add(ann, "title", json_object_new_string(t->title));
	json_object_object_add(ann, "readOnlyHint", json_object_new_boolean(t->read_only));
	json_object_object_add(ann, "openWorldHint", json_object_new_boolean(t->open_world));
	json_object_object_add(o, "annotations", ann);
	return o;
}

static json_object *do_tools_list(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	json_object *list = json_object_new_array(), *r;

	for (const struct tool *const *t = registry(s); *t; t++) {
		json_object *o = tool_to_json(*t, e);

		if (!o) {
			json_object_put(list);
			return NULL;
		}
		json_object_array_add(list, o);
	}
	r = json_object_new_object();
	json_object_object_add(r, "tools", list);
	return r;
}

/* A tools/call result that only carries a message (isError when error). */
static json_object *text_result(const char *text, bool error)
{
	json_object *r = json_object_new_object(), *content = json_object_new_array();
	json_object *item = json_object_new_object();

	json_object_object_add(item, "type", json_object_new_string("text"));
	json_object_object_add(item, "text", json_object_new_string(text));
	json_object_array_add(content, item);
	json_object_object_add(r, "content", content);
	json_object_object_add(r, "isError", json_object_new_boolean(error));
	return r;
}

/* Shortens the longest top-level arrays of result until its JSON fits in max bytes, writing
 * what was cut to note. Returns the JSON text (owned by result), or NULL when it cannot fit. */
static const char *fit_result(json_object *result, size_t max, char *note, size_t notelen)
{
	struct {
		const char *key;
		size_t was;
	} cut[8];
	size_t ncut = 0, len, off;
	const char *text = json_object_to_json_string_length(result, JSON_FLAGS, &len);

	for (int round = 0; len > max && round < 64; round++) {
		json_object *longest = NULL;
		const char *key = NULL;
		size_t n = 0, keep, i;

		json_object_object_foreach (result, k, v) {
			if (json_object_is_type(v, json_type_array) &&
			    json_object_array_length(v) > n) {
				longest = v;
				key = k;
				n = json_object_array_length(v);
			}
		}
		if (!longest)
			return NULL;
		for (i = 0; i < ncut && strcmp(cut[i].key, key); i++)
			;
		if (i == ncut && ncut < sizeof(cut) / sizeof(cut[0]))
			cut[ncut++] = (typeof(cut[0])){ key, n };
		/* Aim a little below the limit so that one or two rounds are enough. */
		keep = (size_t)((double)n * (double)max / (double)len * 0.9);
		if (keep >= n)
			keep = n - 1;
		json_object_array_del_idx(longest, keep, n - keep);
		text = json_object_to_json_string_length(result, JSON_FLAGS, &len);
	}
	if (len > max)
		return NULL;
	note[0] = '\0';
	off = 0;
	for (size_t i = 0; i < ncut && off < notelen; i++) {
		json_object *v;

		json_object_object_get_ex(result, cut[i].key, &v);
		off += snprintf(note + off, notelen - off, "%s%s: %zu of %zu items shown",
				i ? "; " : "", cut[i].key, json_object_array_length(v), cut[i].was);
	}
	return text;
}

/* The tools/call result for a tool's result object: structuredContent plus the same JSON as
 * text, shortened to s->max_result bytes with a second text item saying so. */
static json_object *data_result(struct mcp_server *s, const struct tool *t, json_object *res)
{
	char note[600], msg[800];
	const char *text = fit_result(res, s->max_result, note, sizeof(note));
	json_object *r;

	if (!text) {
		snprintf(
		    msg, sizeof(msg),
		    "The result of %s is larger than %zu bytes and cannot be shortened; narrow "
		    "the request (pid, process_name, a shorter duration or max_events).",
		    t->name, s->max_result);
		json_object_put(res);
		return text_result(msg, true);
	}
	r = text_result(text, false);
	if (note[0]) {
		json_object *item = json_object_new_object(), *content;

		snprintf(msg, sizeof(msg),
			 "Result truncated to fit %zu bytes: %s. Narrow the request (pid, "
			 "process_name, a shorter duration or max_events) to see everything.",
			 s->max_result, note);
		json_object_object_get_ex(r, "content", &content);
		json_object_object_add(item, "type", json_object_new_string("text"));
		json_object_object_add(item, "text", json_object_new_string(msg));
		json_object_array_add(content, item);
	}
	json_object_object_add(r, "structuredContent", res);
	return r;
}

static json_object *do_tools_call(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	const char *name = get_string(params, "name");
	const struct tool *t;
	json_object *args = NULL, *res = NULL;
	char *err = NULL, msg[1024];
	int rc;

	if (!name)
		return rpc_fail(e, MCP_INVALID_PARAMS, "tools/call needs params.name (a string)");
	t = tool_lookup(registry(s), name, false);
	if (!t)
		return rpc_fail(e, MCP_INVALID_PARAMS, "Unknown tool: %.200s (see tools/list)",
				name);
	if (json_object_object_get_ex(params, "arguments", &args) && args &&
	    !json_object_is_type(args, json_type_object)) {
		snprintf(msg, sizeof(msg), "invalid arguments for %s: arguments must be an object.",
			 t->name);
		return text_result(msg, true);
	}
	if (s->before_call)
		s->before_call(s);
	rc = tool_invoke(t, s->ctx, args, &res, &err);
	if (s->after_call)
		s->after_call(s);
	if (rc == 0 && json_object_is_type(res, json_type_object))
		return data_result(s, t, res);
	if (rc == 0)
		snprintf(msg, sizeof(msg), "%s returned no result object (internal error).",
			 t->name);
	else if (rc == -EINVAL && err)
		snprintf(msg, sizeof(msg),
			 "%s. Correct the arguments to match the inputSchema of %s and call it "
			 "again.",
			 err, t->name);
	else if (rc == -EINVAL)
		snprintf(msg, sizeof(msg), "Invalid arguments for %s; see its inputSchema.",
			 t->name);
	else
		snprintf(msg, sizeof(msg), "%s failed: %s", t->name, err ? err : strerror(-rc));
	json_object_put(res);
	free(err);
	return text_result(msg, true);
}

static const struct method {
	const char *name;
	bool before_initialize; /* allowed before initialize */
	json_object *(*run)(struct mcp_server *s, json_object *params, struct rpc_error *e);
} methods[] = {
	{ "initialize", true, do_initialize },
	{ "ping", true, do_ping },
	{ "tools/list", false, do_tools_list },
	{ "tools/call", false, do_tools_call },
};

static void handle_notification(struct mcp_server *s, const char *method)
{
	if (!strcmp(method, "notifications/initialized"))
		s->client_ready = true;
	/* Others (notifications/cancelled, progress...) need nothing from a server that answers
	 * each request before reading the next. */
}

/* Handles a parsed message; NULL when there is nothing to answer. */
static char *dispatch(struct mcp_server *s, json_object *msg)
{
	struct rpc_error e = { 0 };
	json_object *id = NULL, *params = NULL, *r;
	const struct method *m = NULL;
	const char *method;
	bool has_id;

	if (json_object_is_type(msg, json_type_array))
		return reply_error(
		    NULL, &(struct rpc_error){ MCP_INVALID_REQUEST,
					       "Invalid Request: batches are not supported" });
	if (!json_object_is_type(msg, json_type_object))
		return reply_error(NULL,
				   &(struct rpc_error){ MCP_INVALID_REQUEST,
							"Invalid Request: not a JSON object" });
	has_id = json_object_object_get_ex(msg, "id", &id);
	if (has_id && !json_object_is_type(id, json_type_string) &&
	    !json_object_is_type(id, json_type_int) && !json_object_is_type(id, json_type_double)) {
		rpc_fail(&e, MCP_INVALID_REQUEST,
			 "Invalid Request: id must be a string or a number");
		return reply_error(NULL, &e);
	}
	method = get_string(msg, "method");
	if (!json_object_object_get_ex(msg, "method", NULL) &&
	    (json_object_object_get_ex(msg, "result", NULL) ||
	     json_object_object_get_ex(msg, "error", NULL)))
		return NULL; /* a response: we never send requests, so nothing waits for it */
	if (!method || strcmp(get_string(msg, "jsonrpc") ?: "", "2.0")) {
		rpc_fail(&e, MCP_INVALID_REQUEST,
			 "Invalid Request: need \"jsonrpc\":\"2.0\" and a string \"method\"");
		return reply_error(id, &e);
	}
	if (!has_id) {
		handle_notification(s, method);
		return NULL;
	}
	if (json_object_object_get_ex(msg, "params", &params) && params &&
	    !json_object_is_type(params, json_type_object)) {
		rpc_fail(&e, MCP_INVALID_PARAMS, "Invalid params: params must be an object");
		return reply_error(id, &e);
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(methods[i].name, method))
			m = &methods[i];
	if (!m)
		rpc_fail(&e, MCP_METHOD_NOT_FOUND, "Method not found: %.200s", method);
	else if (!m->before_initialize && !s->initialized)
		rpc_fail(&e, MCP_INVALID_REQUEST,
			 "Server not initialized: send initialize before %s", m->name);
	else if ((r = m->run(s, params, &e)))
		return reply_result(id, r);
	return reply_error(id, &e);
}

static bool only_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

char *mcp_handle_line(struct mcp_server *s, const char *line, size_t len)
{
	struct rpc_error e = { MCP_PARSE_ERROR, "Parse error: not valid JSON" };
	json_tokener *tok;
	json_object *msg;
	char *out;

	if (len > MCP_MAX_LINE) {
		rpc_fail(&e, MCP_INVALID_REQUEST, "Invalid Request: message longer than %d bytes",
			 MCP_MAX_LINE);
		return reply_error(NULL, &e);
	}
	if (only_space(line, len))
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	msg = json_tokener_parse_ex(tok, line, (int)len);
	if (!msg && json_tokener_get_error(tok) == json_tokener_continue)
		msg = json_tokener_parse_ex(tok, " ", 1); /* ends a trailing number or literal */
	else if (msg && !only_space(line + json_tokener_get_parse_end(tok),
				    len - json_tokener_get_parse_end(tok)))
		msg = (json_object_put(msg), NULL);
	json_tokener_free(tok);
	if (!msg)
		return reply_error(NULL, &e);
	out = dispatch(s, msg);
	json_object_put(msg);
	return out;
}

/* ---- the stdio loop --------------------------------------------------------------------- */

static int send_line(FILE *out, char *line)
{
	int rc = 0;

	if (!line)
		return 0;
	if (fputs(line, out) < 0 || fputc('\n', out) < 0 || fflush(out))
		rc = -errno ?: -EIO;
	free(line);
	return rc;
}

int mcp_serve(struct mcp_server *s, int in_fd, FILE *out)
{
	const size_t cap = MCP_MAX_LINE + 1;
	char *buf = malloc(cap);
	size_t start = 0, used = 0, scanned = 0; /* buf[start, used) is not handled yet */
	bool discarding = false;		 /* skipping the rest of an over-long line */
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (!rc) {
		char *nl = memchr(buf + scanned, '\n', used - scanned);
		ssize_t n;

		if (nl) {
			if (!discarding)
				rc = send_line(out, mcp_handle_line(s, buf + start,
								    (size_t)(nl - buf) - start));
			discarding = false;
			start = scanned = (size_t)(nl - buf) + 1;
			continue;
		}
		if (start == used)
			start = used = 0;
		scanned = used;
		if (used - start == cap) {
			/* Too long: answer once, then drop bytes up to the next newline. */
			if (!discarding)
				rc = send_line(out, mcp_handle_line(s, buf, used));
			discarding = true;
			start = used = scanned = 0;
			continue;
		}
		if (used == cap) {
			/* Make room: the partial line moves to the front (a forward copy). */
			for (size_t i = start; i < used; i++)
				buf[i - start] = buf[i];
			used -= start;
			scanned = used;
			start = 0;
		}
		n = read(in_fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (n == 0)
			break;
		else
			used += (size_t)n;
	}
	if (!rc && used > start && !discarding) /* a last line without a newline */
		rc = send_line(out, mcp_handle_line(s, buf + start, used - start));
	free(buf);
	return rc;
}

/* Ingests what the daemon reported since the last call (reconnecting after a restart), so
 * that answers are current; what happened goes to stderr, never into the protocol stream. */
static void refresh(struct mcp_server *s)
{
	frontend_refresh(s->ctx->an, stderr, "netspyctl mcp: ", "netspyctl mcp: ",
			 " (answering from the events received so far)");
}

/* Tools may poll too: report what they noticed. */
static void after_call(struct mcp_server *s)
{
	frontend_report_notice(s->ctx->an, stderr, "netspyctl mcp: ");
}

int mcp_main(struct tool_context *ctx)
{
	struct mcp_server s;
	FILE *out;
	int fd, rc;

	/* Keep the protocol stream to ourselves: anything else that writes to stdout goes to
	 * stderr instead of corrupting the JSON-RPC stream. */
	fd = dup(STDOUT_FILENO);
	if (fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0 || !(out = fdopen(fd, "w"))) {
		fprintf(stderr, "netspyctl mcp: cannot set up stdout: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	ctx->progress = NULL;
	ctx->stream_out = NULL;
	mcp_server_init(&s, ctx);
	s.before_call = refresh;
	s.after_call = after_call;
	fprintf(stderr, "netspyctl mcp: serving on stdio (MCP %s)\n", MCP_LATEST_PROTOCOL);
	rc = mcp_serve(&s, STDIN_FILENO, out);
	fclose(out);
	if (rc && rc != -EPIPE) {
		fprintf(stderr, "netspyctl mcp: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
