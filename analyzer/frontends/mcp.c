/* The MCP server: JSON-RPC 2.0 dispatch (lifecycle, tools over the tool registry, logging,
 * progress and cancellation; resources, prompts and completion are in mcp_features.c), and the
 * newline-delimited stdio loop around it, which also follows the daemon for subscriptions. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "core/analyzer.h"
#include "frontends/frontend.h"
#include "frontends/mcp_internal.h"
#include "tools/tool.h"

static const char *const protocols[] = { MCP_LATEST_PROTOCOL, "2025-06-18", "2025-03-26", NULL };

static const char instructions[] =
    "netspy reports what this machine does on the network, from kernel events collected by "
    "the netspyd daemon: connection attempts (TCP and UDP, with outcome and TCP handshake "
    "latency) and packet drops (with the kernel's drop reason). Start with a summary, then "
    "narrow down with pid, process_name and duration (seconds to look back, default 60); the "
    "list tools show individual events. Every answer includes the events seen up to the moment "
	"of the call. The data tools only read: they never change the system. Resources give the "
	"daemon's status, the recent events and one process's or unit's activity "
	"(netspy://process/{name}, netspy://unit/{unit}); subscribe to follow them live. The "
	"prompts diagnose a process, investigate drops, review outbound destinations and explain "
	"slow connections.";

static const char *const level_names[] = { "debug", "info",	"notice", "warning",
					   "error", "critical", "alert",  "emergency" };

json_object *rpc_fail(struct rpc_error *e, int code, const char *fmt, ...)
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
	s->log_level = MCP_LOG_OFF;
	s->update_interval_ms = MCP_UPDATE_INTERVAL_MS;
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

const char *mcp_get_string(json_object *obj, const char *key)
{
	json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void mcp_notify(struct mcp_server *s, const char *method, json_object *params)
{
	json_object *msg;

	if (!s->notify) {
		json_object_put(params);
		return;
	}
	msg = json_object_new_object();
	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(msg, "params", params);
	s->notify(s, emit(msg));
}

void mcp_log(struct mcp_server *s, enum mcp_level level, const char *fmt, ...)
{
	json_object *p;
	char buf[1024];
	va_list ap;

	if (level < s->log_level || !s->notify || !s->initialized)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p = json_object_new_object();
	json_object_object_add(p, "level", json_object_new_string(level_names[level]));
	json_object_object_add(p, "logger", json_object_new_string("netspy"));
	json_object_object_add(p, "data", json_object_new_string(buf));
	mcp_notify(s, "notifications/message", p);
}

void mcp_cancel(struct mcp_server *s, const char *id)
{
	if (s->current_id[0] && !strcmp(s->current_id, id)) {
		s->current_cancelled = true;
		return;
	}
	snprintf(s->cancelled[s->n_cancelled++ % MCP_MAX_CANCELLED], sizeof(s->cancelled[0]),
		 "%s", id);
}

/* Whether the request with this id (JSON text) was cancelled before it was read; forgets it. */
static bool take_cancelled(struct mcp_server *s, const char *id)
{
	for (unsigned i = 0; i < MCP_MAX_CANCELLED; i++)
		if (!strcmp(s->cancelled[i], id)) {
			s->cancelled[i][0] = '\0';
			return true;
		}
	return false;
}

/* The tool context's hooks while a tools/call runs: progress notifications when the client
 * gave a progressToken, and cancellation as the client asks. */
static void on_progress(struct tool_context *ctx, const char *message)
{
	struct mcp_server *s = ctx->frontend_data;
	json_object *p;

	mcp_log(s, MCP_LOG_DEBUG, "%s", message);
	if (!s->progress_token)
		return;
	p = json_object_new_object();
	json_object_object_add(p, "progressToken", json_object_get(s->progress_token));
	json_object_object_add(p, "progress", json_object_new_double(++s->progress));
	json_object_object_add(p, "message", json_object_new_string(message));
	mcp_notify(s, "notifications/progress", p);
}

static bool on_cancelled(struct tool_context *ctx)
{
	struct mcp_server *s = ctx->frontend_data;

	if (!s->current_cancelled && s->pump)
		s->pump(s);
	return s->current_cancelled;
}

/* ---- methods ---------------------------------------------------------------------------- */

static json_object *do_initialize(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	const char *asked = mcp_get_string(params, "protocolVersion");
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
	tools = json_object_new_object();
	json_object_object_add(tools, "subscribe", json_object_new_boolean(1));
	json_object_object_add(tools, "listChanged", json_object_new_boolean(0));
	json_object_object_add(caps, "resources", tools);
	tools = json_object_new_object();
	json_object_object_add(tools, "listChanged", json_object_new_boolean(0));
	json_object_object_add(caps, "prompts", tools);
	json_object_object_add(caps, "logging", json_object_new_object());
	json_object_object_add(caps, "completions", json_object_new_object());
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

static json_object *do_set_level(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	const char *level = mcp_get_string(params, "level");

	for (size_t i = 0; level && i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcmp(level, level_names[i])) {
			s->log_level = (enum mcp_level)i;
			mcp_log(s, MCP_LOG_DEBUG, "log level set to %s", level);
			return json_object_new_object();
		}
	return rpc_fail(e, MCP_INVALID_PARAMS,
			"logging/setLevel needs params.level: debug, info, notice, warning, error, "
			"critical, alert or emergency");
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
	const char *name = mcp_get_string(params, "name");
	const struct tool *t;
	json_object *args = NULL, *res = NULL;
	json_object *meta, *token;
	char *err = NULL, msg[1024];
	uint64_t start;
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
	if (json_object_object_get_ex(params, "_meta", &meta) &&
	    json_object_object_get_ex(meta, "progressToken", &token) &&
	    (json_object_is_type(token, json_type_string) ||
	     json_object_is_type(token, json_type_int)))
		s->progress_token = json_object_get(token);
	s->progress = 0;
	s->ctx->on_progress = on_progress;
	s->ctx->cancelled = on_cancelled;
	s->ctx->frontend_data = s;
	if (s->progress_token) {
		snprintf(msg, sizeof(msg), "running %s", t->name);
		on_progress(s->ctx, msg);
	}
	start = clock_ms(CLOCK_MONOTONIC);
	rc = tool_invoke(t, s->ctx, args, &res, &err);
	s->ctx->on_progress = NULL;
	s->ctx->cancelled = NULL;
	json_object_put(s->progress_token);
	s->progress_token = NULL;
	if (s->after_call)
		s->after_call(s);
	if (rc == 0)
		mcp_log(s, MCP_LOG_DEBUG, "%s answered in %llu ms", t->name,
			(unsigned long long)(clock_ms(CLOCK_MONOTONIC) - start));
	else if (rc != -EINVAL)
		mcp_log(s, MCP_LOG_WARNING, "%s failed: %s", t->name, err ? err : strerror(-rc));
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
	{ "logging/setLevel", false, do_set_level },
	{ "resources/list", false, mcp_resources_list },
	{ "resources/templates/list", false, mcp_resource_templates_list },
	{ "resources/read", false, mcp_resources_read },
	{ "resources/subscribe", false, mcp_resources_subscribe },
	{ "resources/unsubscribe", false, mcp_resources_unsubscribe },
	{ "prompts/list", false, mcp_prompts_list },
	{ "prompts/get", false, mcp_prompts_get },
	{ "completion/complete", false, mcp_complete },
};

/* The JSON text of a request id ("7", "\"abc\""), the key of cancellations. */
static void id_text(json_object *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s", id ? json_object_to_json_string_ext(id, JSON_FLAGS) : "");
}

static void handle_notification(struct mcp_server *s, const char *method, json_object *params)
{
	json_object *id;
	char buf[80];

	if (!strcmp(method, "notifications/initialized"))
		s->client_ready = true;
	else if (!strcmp(method, "notifications/cancelled") &&
		 json_object_object_get_ex(params, "requestId", &id) &&
		 (json_object_is_type(id, json_type_string) ||
		  json_object_is_type(id, json_type_int))) {
		id_text(id, buf, sizeof(buf));
		mcp_cancel(s, buf);
	}
	/* Others (progress, roots...) need nothing from this server. */
}

/* Handles a parsed message; NULL when there is nothing to answer. */
static char *dispatch(struct mcp_server *s, json_object *msg)
{
	struct rpc_error e = { 0 };
	json_object *id = NULL, *params = NULL, *r;
	const struct method *m = NULL;
	const char *method;
	bool has_id, cancelled;

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
	method = mcp_get_string(msg, "method");
	if (!json_object_object_get_ex(msg, "method", NULL) &&
	    (json_object_object_get_ex(msg, "result", NULL) ||
	     json_object_object_get_ex(msg, "error", NULL)))
		return NULL; /* a response: we never send requests, so nothing waits for it */
	if (!method || strcmp(mcp_get_string(msg, "jsonrpc") ?: "", "2.0")) {
		rpc_fail(&e, MCP_INVALID_REQUEST,
			 "Invalid Request: need \"jsonrpc\":\"2.0\" and a string \"method\"");
		return reply_error(id, &e);
	}
	if (json_object_object_get_ex(msg, "params", &params) && params &&
	    !json_object_is_type(params, json_type_object)) {
		if (!has_id)
			return NULL;
		rpc_fail(&e, MCP_INVALID_PARAMS, "Invalid params: params must be an object");
		return reply_error(id, &e);
	}
	if (!has_id) {
		handle_notification(s, method, params);
		return NULL;
	}
	id_text(id, s->current_id, sizeof(s->current_id));
	if (take_cancelled(s, s->current_id)) {
		/* Cancelled before it was read: no answer, as the protocol says. */
		s->current_id[0] = '\0';
		return NULL;
	}
	s->current_cancelled = false;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(methods[i].name, method))
			m = &methods[i];
	if (!m)
		rpc_fail(&e, MCP_METHOD_NOT_FOUND, "Method not found: %.200s", method);
	else if (!m->before_initialize && !s->initialized)
		rpc_fail(&e, MCP_INVALID_REQUEST,
			 "Server not initialized: send initialize before %s", m->name);
	else if ((r = m->run(s, params, &e))) {
		cancelled = s->current_cancelled;
		s->current_id[0] = '\0';
		s->current_cancelled = false;
		if (cancelled) { /* the client no longer waits for it */
			json_object_put(r);
			return NULL;
		}
		return reply_result(id, r);
	}
	cancelled = s->current_cancelled;
	s->current_id[0] = '\0';
	s->current_cancelled = false;
	return cancelled ? NULL : reply_error(id, &e);
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

/* The stdio loop's input: buf[start, used) is not handled yet; lines before `scanned` have no
 * newline; `cscan` is how far cancellations were looked for. */
struct mcp_io {
	int in_fd;
	FILE *out;
	char *buf;
	size_t cap, start, used, scanned, cscan;
	bool discarding; /* skipping the rest of an over-long line */
	bool eof;
	int rc;
};

static void io_notify(struct mcp_server *s, char *line)
{
	struct mcp_io *io = s->io;
	int r = send_line(io->out, line);

	if (r && !io->rc)
		io->rc = r;
}

/* Looks through the complete lines read since the last look for notifications/cancelled, so
 * that a call in progress (or a request not read yet) is cancelled at once. */
static void scan_cancellations(struct mcp_server *s, struct mcp_io *io)
{
	static const char needle[] = "notifications/cancelled";

	if (io->cscan < io->start)
		io->cscan = io->start;
	for (;;) {
		char *nl = memchr(io->buf + io->cscan, '\n', io->used - io->cscan);
		size_t len;

		if (!nl)
			return;
		len = (size_t)(nl - io->buf) - io->cscan;
		if (memmem(io->buf + io->cscan, len, needle, sizeof(needle) - 1)) {
			json_tokener *tok = json_tokener_new();
			json_object *msg =
			    tok ? json_tokener_parse_ex(tok, io->buf + io->cscan, (int)len) : NULL;

			if (tok)
				json_tokener_free(tok);
			if (msg && !json_object_object_get_ex(msg, "id", NULL) &&
			    !strcmp(mcp_get_string(msg, "method") ?: "", needle)) {
				json_object *params = NULL;

				json_object_object_get_ex(msg, "params", &params);
				handle_notification(s, needle, params);
			}
			json_object_put(msg);
		}
		io->cscan = (size_t)(nl - io->buf) + 1;
	}
}

/* Reads what is available without waiting (during a long call): cancellations take effect. */
static void io_pump(struct mcp_server *s)
{
	struct mcp_io *io = s->io;
	struct pollfd p = { .fd = io->in_fd, .events = POLLIN };

	while (!io->eof && io->used < io->cap && poll(&p, 1, 0) > 0) {
		ssize_t n = read(io->in_fd, io->buf + io->used, io->cap - io->used);

		if (n <= 0)
			break; /* end of input and errors: the main loop sees them again */
		io->used += (size_t)n;
	}
	scan_cancellations(s, io);
}

/* The subscriptions' side of the loop: ingest what the daemon sent, then tell the client of
 * what changed. */
static void follow_daemon(struct mcp_server *s)
{
	struct analyzer *an = s->ctx->an;
	static char last_error[sizeof(an->error)];

	if (!an)
		return;
	if (analyzer_refresh(an) < 0) {
		if (strcmp(last_error, an->error)) {
			snprintf(last_error, sizeof(last_error), "%s", an->error);
			mcp_log(s, MCP_LOG_WARNING, "%s", an->error);
		}
	} else {
		last_error[0] = '\0';
	}
	if (an->notice[0]) {
		mcp_log(s, MCP_LOG_WARNING, "%s", an->notice);
		frontend_report_notice(an, stderr, "netspyctl mcp: ");
	}
	mcp_check_updates(s, clock_ms(CLOCK_MONOTONIC));
}

/* Waits for input (and, with subscriptions, follows the daemon meanwhile); reads it. */
static void io_read(struct mcp_server *s, struct mcp_io *io)
{
	for (;;) {
		struct pollfd p = { .fd = io->in_fd, .events = POLLIN };
		int timeout = s->n_subs ? 250 : -1, r;
		ssize_t n;

		r = poll(&p, 1, timeout);
		if (r < 0 && errno != EINTR) {
			io->rc = -errno;
			return;
		}
		if (s->n_subs)
			follow_daemon(s);
		if (r <= 0)
			continue;
		n = read(io->in_fd, io->buf + io->used, io->cap - io->used);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			io->rc = -errno;
		else if (n == 0)
			io->eof = true;
		else
			io->used += (size_t)n;
		return;
	}
}

int mcp_serve(struct mcp_server *s, int in_fd, FILE *out)
{
	struct mcp_io io = { .in_fd = in_fd, .out = out, .cap = MCP_MAX_LINE + 1 };

	io.buf = malloc(io.cap);
	if (!io.buf)
		return -ENOMEM;
	s->io = &io;
	if (!s->notify)
		s->notify = io_notify;
	if (!s->pump)
		s->pump = io_pump;
	while (!io.rc) {
		char *nl = memchr(io.buf + io.scanned, '\n', io.used - io.scanned);

		if (nl) {
			size_t end = (size_t)(nl - io.buf);

			scan_cancellations(s, &io);
			if (!io.discarding) {
				int r = send_line(out, mcp_handle_line(s, io.buf + io.start,
								       end - io.start));
				if (r && !io.rc)
					io.rc = r;
			}
			io.discarding = false;
			io.start = io.scanned = end + 1;
			continue;
		}
		if (io.eof)
			break;
		if (io.start == io.used)
			io.start = io.used = io.scanned = io.cscan = 0;
		io.scanned = io.used;
		if (io.used - io.start == io.cap) {
			/* Too long: answer once, then drop bytes up to the next newline. */
			if (!io.discarding)
				io.rc = send_line(out, mcp_handle_line(s, io.buf, io.used));
			io.discarding = true;
			io.start = io.used = io.scanned = io.cscan = 0;
			continue;
		}
		if (io.used == io.cap) {
			/* Make room: the partial line moves to the front (a forward copy). */
			for (size_t i = io.start; i < io.used; i++)
				io.buf[i - io.start] = io.buf[i];
			io.used -= io.start;
			io.scanned = io.used;
			io.cscan = io.cscan > io.start ? io.cscan - io.start : 0;
			io.start = 0;
		}
		io_read(s, &io);
	}
	if (!io.rc && io.used > io.start && !io.discarding) /* a last line without a newline */
		io.rc = send_line(out, mcp_handle_line(s, io.buf + io.start, io.used - io.start));
	s->io = NULL;
	if (s->notify == io_notify)
		s->notify = NULL;
	if (s->pump == io_pump)
		s->pump = NULL;
	free(io.buf);
	return io.rc;
}

/* Ingests what the daemon reported since the last call (reconnecting after a restart), so
 * that answers are current; what happened goes to stderr and, as a log message, to the
 * client; never into the protocol stream otherwise. */
static void refresh(struct mcp_server *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	frontend_refresh(s->ctx->an, f ? f : stderr, "netspyctl mcp: ", "netspyctl mcp: ",
			 " (answering from the events received so far)");
	if (f && !fclose(f) && len) {
		fputs(text, stderr);
		text[len - 1] = text[len - 1] == '\n' ? '\0' : text[len - 1];
		mcp_log(s, MCP_LOG_WARNING, "%s", text + strlen("netspyctl mcp: "));
	}
	free(text);
}

/* Tools may poll too: report what they noticed. */
static void after_call(struct mcp_server *s)
{
	if (s->ctx->an && s->ctx->an->notice[0])
		mcp_log(s, MCP_LOG_WARNING, "%s", s->ctx->an->notice);
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
