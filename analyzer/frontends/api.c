/* The recorder's HTTP + JSON API (see api.h): routing, tool calls through tool_invoke(), the
 * OpenAPI document, and libmicrohttpd's listeners with their bounds. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "clock.h"
#include "ai/ai.h"
#include "core/analyzer.h"
#include "core/text.h"
#include "frontends/api.h"
#include "frontends/cliargs.h"
#include "frontends/frontend.h"
#include "tools/tool.h"

#define TOOLS_PREFIX "/api/v1/tools/"
#define TOKEN_MIN 16
#define TOKEN_MAX 4096
#define JSON_DEPTH 32

struct api;

struct listener {
	struct api *a;
	bool tcp; /* requests need the bearer token */
	struct MHD_Daemon *d;
};

struct api {
	struct api_opts o;
	char *token;
	size_t token_len;
	struct listener unix_l, tcp_l;
	int unix_fd;	 /* the socket we bound (closed and unlinked at stop), or -1 */
	bool calls_init; /* calls is initialised */
	sem_t calls;	 /* API_MAX_CALLS tool calls at once */
	volatile bool stopping;
};

/* What one connection's request has sent so far. */
struct request_state {
	char *body;
	size_t len;
	bool too_large, answered;
	uint64_t start_ms;
};

static json_object *error_obj(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_object *error_obj(const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = text_vprintf(fmt, ap);
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(msg ? msg : "out of memory"));
	free(msg);
	return o;
}

static bool offered(const struct api *a, const struct tool *t)
{
	return a->o.ai || !t->open_world;
}

/* ---- tool calls ---- */

struct call {
	struct api *a;
	int64_t deadline_ms;
};

/* A call stops at its next step past its time budget, or when the recorder stops. */
static bool past_budget(struct tool_context *ctx)
{
	const struct call *c = ctx->frontend_data;

	return c->a->stopping || clock_ms(CLOCK_MONOTONIC) > c->deadline_ms;
}

/* The HTTP status for a tool's (or the analyzer's) -errno. */
static unsigned status_of(int r)
{
	switch (r) {
	case -EINVAL:
		return MHD_HTTP_BAD_REQUEST;
	case -ECANCELED:
		return MHD_HTTP_GATEWAY_TIMEOUT;
	case -EREMOTEIO:
		return MHD_HTTP_BAD_GATEWAY;
	}
	if (frontend_exit_code(r, NETSPY_EXIT_OK) == NETSPY_EXIT_UNREACHABLE ||
	    frontend_exit_code(r, NETSPY_EXIT_OK) == NETSPY_EXIT_PERMISSION)
		return MHD_HTTP_SERVICE_UNAVAILABLE; /* netspyd cannot be asked */
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* Runs t as `netspyctl TOOL --json` does: an analyzer of its own for this call (asking netspyd
 * only for the process the arguments name), the tool, the analyzer closed. */
static unsigned call_tool(struct api *a, const struct tool *t, json_object *args,
			  json_object **ret)
{
	unsigned budget_s = a->o.budget_s ? a->o.budget_s : API_DEFAULT_BUDGET_S;
	struct call call = { a, clock_ms(CLOCK_MONOTONIC) + (int64_t)budget_s * 1000 };
	struct analyzer_opts ao = { .socket = a->o.daemon_socket };
	struct tool_context ctx = {
		.tools = tool_registry,
		.analyst = a->o.ai ? &ai_analyst : NULL,
		.history = a->o.history,
		.cancelled = past_budget,
		.frontend_data = &call,
	};
	struct timespec until;
	struct analyzer an;
	json_object *result = NULL;
	char *err = NULL, comm[16];
	unsigned status;
	int r;

	/* Validation first, without waiting for a slot: a wrong call is answered at once. */
	if (schema_validate(t->input_schema, args, &err) < 0) {
		*ret = error_obj("invalid arguments for %s: %s", t->name, err ? err : "");
		free(err);
		return MHD_HTTP_BAD_REQUEST;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += budget_s;
	while ((r = sem_timedwait(&a->calls, &until)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		*ret = error_obj("busy: %d tool calls are running; try again", API_MAX_CALLS);
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	if (a->o.ai) {
		ctx.ai.offline = false;
		ai_settings_resolve(&ctx.ai);
	}
	frontend_push_down_filter(t, args, &ao, comm);
	r = analyzer_open(&an, &ao, (int)budget_s * 1000);
	if (r < 0 && !t->open_world) {
		*ret = error_obj("%s", an.error[0] ? an.error : strerror(-r));
		sem_post(&a->calls);
		return status_of(r);
	}
	if (r == 0)
		ctx.an = &an;
	r = tool_invoke(t, &ctx, args, &result, &err);
	if (ctx.an)
		analyzer_close(&an);
	sem_post(&a->calls);
	if (r < 0) {
		status = status_of(r);
		*ret = error_obj("%s", err ? err : strerror(-r));
		free(err);
		json_object_put(result);
		return status;
	}
	*ret = result;
	return MHD_HTTP_OK;
}

/* ---- documents ---- */

static json_object *parse_schema(const char *text)
{
	json_object *o = text ? json_tokener_parse(text) : NULL;

	return o ? o : json_object_new_object();
}

static json_object *tools_list(const struct api *a)
{
	json_object *list = json_object_new_array(), *o = json_object_new_object();

	for (const struct tool *const *t = tool_registry; *t; t++) {
		json_object *e;
		char *path;

		if (!offered(a, *t))
			continue;
		e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string((*t)->name));
		json_object_object_add(e, "title", json_object_new_string((*t)->title));
		json_object_object_add(e, "description", json_object_new_string((*t)->description));
		path = text_printf(TOOLS_PREFIX "%s", (*t)->name);
		json_object_object_add(e, "path", json_object_new_string(path ? path : ""));
		free(path);
		json_object_object_add(e, "inputSchema", parse_schema((*t)->input_schema));
		json_object_object_add(e, "outputSchema", parse_schema((*t)->output_schema));
		json_object_array_add(list, e);
	}
	json_object_object_add(o, "tools", list);
	return o;
}

static json_object *ref(const char *to)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "$ref", json_object_new_string(to));
	return o;
}

static json_object *json_content(json_object *schema)
{
	json_object *c = json_object_new_object(), *m = json_object_new_object();

	json_object_object_add(m, "schema", schema);
	json_object_object_add(c, "application/json", m);
	return c;
}

/* responses: 200 with schema ok (and its description), then the error codes listed. */
static json_object *responses(const char *ok_desc, json_object *ok, const char *const *codes)
{
	json_object *r = json_object_new_object(), *o = json_object_new_object();

	json_object_object_add(o, "description", json_object_new_string(ok_desc));
	json_object_object_add(o, "content", json_content(ok));
	json_object_object_add(r, "200", o);
	for (; *codes; codes++)
		json_object_object_add(r, *codes, ref("#/components/responses/Error"));
	return r;
}

static const char *const call_errors[] = { "400", "401", "404", "413", "415",
					   "500", "502", "503", "504", NULL };
static const char *const get_errors[] = { "401", "404", "405", NULL };

static json_object *operation(const char *id, const char *summary, const char *desc,
			      const char *tag)
{
	json_object *op = json_object_new_object(), *tags = json_object_new_array();

	json_object_object_add(op, "operationId", json_object_new_string(id));
	json_object_object_add(op, "summary", json_object_new_string(summary));
	if (desc)
		json_object_object_add(op, "description", json_object_new_string(desc));
	json_object_array_add(tags, json_object_new_string(tag));
	json_object_object_add(op, "tags", tags);
	return op;
}

static json_object *tool_post(const struct tool *t, const char *id, const char *summary)
{
	json_object *op = operation(id, summary, t->description, "tools");
	json_object *body = json_object_new_object();

	json_object_object_add(body, "required", json_object_new_boolean(0));
	json_object_object_add(body, "content", json_content(parse_schema(t->input_schema)));
	json_object_object_add(op, "requestBody", body);
	json_object_object_add(op, "responses",
			       responses("The tool's result (the same object as `netspyctl "
					 "COMMAND --json` and MCP's structuredContent)",
					 parse_schema(t->output_schema), call_errors));
	return op;
}

static json_object *path_item(const char *method, json_object *op)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, method, op);
	return p;
}

json_object *api_openapi(const struct api *a)
{
	json_object *doc = json_object_new_object(), *info = json_object_new_object();
	json_object *paths = json_object_new_object(), *comp = json_object_new_object();
	json_object *schemas = json_object_new_object(), *resp = json_object_new_object();
	json_object *err = json_object_new_object(), *props = json_object_new_object();
	json_object *req = json_object_new_array(), *e = json_object_new_object();
	json_object *sec = json_object_new_object(), *bearer = json_object_new_object();
	json_object *security = json_object_new_array(), *s, *op, *params;
	const struct tool *summary = tool_lookup(tool_registry, "get_network_summary", false);
	const struct tool *list = tool_lookup(tool_registry, "list_connections", false);
	json_object *list_in = list ? parse_schema(list->input_schema) : NULL, *lp = NULL;

	json_object_object_add(doc, "openapi", json_object_new_string("3.1.0"));
	json_object_object_add(info, "title", json_object_new_string("netspy recorder API"));
	json_object_object_add(info, "version", json_object_new_string(NETSPY_VERSION));
	json_object_object_add(
	    info, "description",
	    json_object_new_string("netspy's tools over HTTP + JSON, served by `netspyctl record` "
				   "on a Unix socket (group netspy) and, optionally, on TCP with "
				   "a bearer token. Generated from the tool registry."));
	json_object_object_add(doc, "info", info);

	/* /health */
	s = json_object_new_object();
	json_object_object_add(s, "type", json_object_new_string("object"));
	op = operation("health", "netspyd reachable, events flowing, lost counts", NULL, "service");
	{
		json_object *r = responses("netspyd is reachable",
					   ref("#/components/schemas/Health"), get_errors);
		json_object *u = json_object_new_object();

		json_object_object_add(u, "description",
				       json_object_new_string("netspyd is not reachable (the same "
							      "object)"));
		json_object_object_add(u, "content",
				       json_content(ref("#/components/schemas/Health")));
		json_object_object_add(r, "503", u);
		json_object_object_add(op, "responses", r);
	}
	json_object_object_add(paths, "/health", path_item("get", op));
	/* the Health schema */
	{
		json_object *hp = json_object_new_object(), *bool_t = json_object_new_object();
		json_object *cnt = json_object_new_object(), *hreq = json_object_new_array();

		json_object_object_add(bool_t, "type", json_object_new_string("boolean"));
		json_object_object_add(cnt, "type", json_object_new_string("integer"));
		json_object_object_add(cnt, "minimum", json_object_new_int(0));
		json_object_object_add(hp, "status", parse_schema("{\"enum\":[\"ok\",\"unavailable\"]}"));
		json_object_object_add(hp, "netspyd_reachable", bool_t);
		json_object_object_add(hp, "events_flowing", json_object_get(bool_t));
		json_object_object_add(hp, "events_rolled_up", json_object_get(cnt));
		json_object_object_add(
		    hp, "events_lost",
		    parse_schema("{\"type\":\"object\",\"properties\":{\"kernel\":{\"type\":"
				 "\"integer\"},\"client\":{\"type\":\"integer\"},\"recorder\":{"
				 "\"type\":\"integer\"}}}"));
		json_object_object_add(hp, "seconds_since_last_event",
				       parse_schema("{\"type\":[\"integer\",\"null\"]}"));
		json_object_put(cnt);
		json_object_array_add(hreq, json_object_new_string("status"));
		json_object_array_add(hreq, json_object_new_string("netspyd_reachable"));
		json_object_array_add(hreq, json_object_new_string("events_flowing"));
		json_object_array_add(hreq, json_object_new_string("events_lost"));
		json_object_object_add(s, "properties", hp);
		json_object_object_add(s, "required", hreq);
		json_object_object_add(schemas, "Health", s);
	}
	/* /api/v1/tools, /api/v1/openapi.json */
	op = operation("list_tools", "The tools this recorder offers, with their schemas", NULL,
		       "service");
	json_object_object_add(op, "responses",
			       responses("The tools",
					 parse_schema("{\"type\":\"object\",\"properties\":{"
						      "\"tools\":{\"type\":\"array\"}},"
						      "\"required\":[\"tools\"]}"),
					 get_errors));
	json_object_object_add(paths, "/api/v1/tools", path_item("get", op));
	op = operation("openapi", "This document", NULL, "service");
	json_object_object_add(op, "responses",
			       responses("The OpenAPI document",
					 parse_schema("{\"type\":\"object\"}"), get_errors));
	json_object_object_add(paths, "/api/v1/openapi.json", path_item("get", op));
	for (const struct tool *const *t = tool_registry; *t; t++) {
		char *p;

		if (!offered(a, *t))
			continue;
		p = text_printf(TOOLS_PREFIX "%s", (*t)->name);
		if (p)
			json_object_object_add(paths, p,
					       path_item("post", tool_post(*t, (*t)->name,
									   (*t)->title)));
		free(p);
	}
	/* the original's paths */
	if (summary)
		json_object_object_add(paths, "/api/connection-summary",
				       path_item("post", tool_post(summary, "connection_summary",
								   "get_network_summary (the "
								   "original's path)")));
	if (list) {
		json_object *item = path_item("post", tool_post(list, "list_connections_post",
								"list_connections (the original's "
								"path)"));

		op = operation("list_connections_get",
			       "list_connections with query parameters (the original's path)",
			       list->description, "tools");
		params = json_object_new_array();
		if (json_object_object_get_ex(list_in, "properties", &lp)) {
			json_object_object_foreach (lp, k, v) {
				json_object *pm = json_object_new_object();

				json_object_object_add(pm, "name", json_object_new_string(k));
				json_object_object_add(pm, "in", json_object_new_string("query"));
				json_object_object_add(pm, "required", json_object_new_boolean(0));
				json_object_object_add(pm, "schema", json_object_get(v));
				json_object_array_add(params, pm);
			}
		}
		json_object_object_add(op, "parameters", params);
		json_object_object_add(op, "responses",
				       responses("The tool's result",
						 parse_schema(list->output_schema), call_errors));
		json_object_object_add(item, "get", op);
		json_object_object_add(paths, "/api/list-connections", item);
	}
	json_object_put(list_in);
	json_object_object_add(doc, "paths", paths);

	/* components */
	json_object_object_add(props, "error", parse_schema("{\"type\":\"string\"}"));
	json_object_array_add(req, json_object_new_string("error"));
	json_object_object_add(err, "type", json_object_new_string("object"));
	json_object_object_add(err, "properties", props);
	json_object_object_add(err, "required", req);
	json_object_object_add(schemas, "Error", err);
	json_object_object_add(e, "description",
			       json_object_new_string("An error: {\"error\": \"what went wrong\"}"));
	json_object_object_add(e, "content", json_content(ref("#/components/schemas/Error")));
	json_object_object_add(resp, "Error", e);
	json_object_object_add(bearer, "type", json_object_new_string("http"));
	json_object_object_add(bearer, "scheme", json_object_new_string("bearer"));
	json_object_object_add(bearer, "description",
			       json_object_new_string("Required on the TCP listener "
						      "(--api-listen), from --api-token-file; the "
						      "Unix socket needs none"));
	json_object_object_add(sec, "bearer", bearer);
	json_object_object_add(comp, "schemas", schemas);
	json_object_object_add(comp, "responses", resp);
	json_object_object_add(comp, "securitySchemes", sec);
	json_object_object_add(doc, "components", comp);
	json_object_array_add(security, json_object_new_object());
	s = json_object_new_object();
	json_object_object_add(s, "bearer", json_object_new_array());
	json_object_array_add(security, s);
	json_object_object_add(doc, "security", security);
	return doc;
}

/* ---- the dispatcher ---- */

static bool is(const char *a, const char *b)
{
	return !strcmp(a, b);
}

/* Content types a body may come with: JSON, or none, or curl -d's default (the body is still
 * read as JSON). */
static bool acceptable_type(const char *ct)
{
	size_t n;

	if (!ct || !*ct)
		return true;
	n = strcspn(ct, "; \t");
	return (n == 16 && !strncasecmp(ct, "application/json", n)) ||
	       (n == 33 && !strncasecmp(ct, "application/x-www-form-urlencoded", n));
}

/* The arguments of a POST: its body, a JSON object (empty: {}). */
static unsigned body_args(const struct api_request *rq, json_object **args, json_object **ret)
{
	struct json_tokener *tok;
	json_object *o;
	size_t i = 0;

	if (rq->n_query) {
		*ret = error_obj("a POST takes its arguments in a JSON body, not in the query "
				 "string");
		return MHD_HTTP_BAD_REQUEST;
	}
	if (!acceptable_type(rq->content_type)) {
		*ret = error_obj("the body must be application/json, not %.64s", rq->content_type);
		return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
	}
	while (rq->body && i < rq->body_len && strchr(" \t\r\n", rq->body[i]))
		i++;
	if (!rq->body || i == rq->body_len) {
		*args = json_object_new_object();
		return 0;
	}
	if (memchr(rq->body, 0, rq->body_len)) {
		*ret = error_obj("the body is not JSON (it holds a NUL byte)");
		return MHD_HTTP_BAD_REQUEST;
	}
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok) {
		*ret = error_obj("out of memory");
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	o = json_tokener_parse_ex(tok, rq->body, (int)rq->body_len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error je = json_tokener_get_error(tok);

		*ret = error_obj("the body is not valid JSON: %s at byte %zu",
				 je == json_tokener_continue ? "it ends too early"
							     : json_tokener_error_desc(je),
				 json_tokener_get_parse_end(tok));
		json_object_put(o);
		json_tokener_free(tok);
		return MHD_HTTP_BAD_REQUEST;
	}
	i = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (i < rq->body_len && strchr(" \t\r\n", rq->body[i]))
		i++;
	if (i < rq->body_len || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*ret = error_obj(i < rq->body_len ? "the body holds more than one JSON value"
						  : "the body must be a JSON object of the tool's "
						    "arguments");
		return MHD_HTTP_BAD_REQUEST;
	}
	*args = o;
	return 0;
}

static unsigned post_tool(struct api *a, const struct tool *t, const struct api_request *rq,
			  json_object **ret)
{
	json_object *args = NULL;
	unsigned status = body_args(rq, &args, ret);

	if (status)
		return status;
	status = call_tool(a, t, args, ret);
	json_object_put(args);
	return status;
}

static unsigned get_tool(struct api *a, const struct tool *t, const struct api_request *rq,
			 json_object **ret)
{
	json_object *args = NULL;
	char *err = NULL;
	unsigned status;

	if (rq->n_query > API_MAX_QUERY_PARAMS) {
		*ret = error_obj("too many query parameters (at most %d)", API_MAX_QUERY_PARAMS);
		return MHD_HTTP_BAD_REQUEST;
	}
	if (tool_args_from_pairs(t, rq->n_query, rq->query_keys, rq->query_values, &args, &err) <
	    0) {
		*ret = error_obj("invalid arguments for %s: %s", t->name, err ? err : "");
		free(err);
		return MHD_HTTP_BAD_REQUEST;
	}
	status = call_tool(a, t, args, ret);
	json_object_put(args);
	return status;
}

static unsigned method_not_allowed(const char *methods, const char **allow, json_object **ret,
				   const char *method)
{
	*allow = methods;
	*ret = error_obj("method %.16s is not allowed here (allowed: %s)", method, methods);
	return MHD_HTTP_METHOD_NOT_ALLOWED;
}

unsigned api_dispatch(struct api *a, const struct api_request *rq, json_object **ret,
		      const char **allow)
{
	const char *m = rq->method, *p = rq->path;
	bool get = is(m, "GET") || is(m, "HEAD"), post = is(m, "POST");
	const struct tool *t;

	*ret = NULL;
	*allow = NULL;
	if (is(p, "/health")) {
		json_object *o;
		bool up;

		if (!get)
			return method_not_allowed("GET, HEAD", allow, ret, m);
		o = json_object_new_object();
		up = a->o.health ? a->o.health(a->o.health_data, o) : false;
		*ret = o;
		return up ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	if (is(p, "/api/v1/tools") || is(p, "/api/v1/openapi.json")) {
		if (!get)
			return method_not_allowed("GET, HEAD", allow, ret, m);
		*ret = is(p, "/api/v1/tools") ? tools_list(a) : api_openapi(a);
		return MHD_HTTP_OK;
	}
	if (!strncmp(p, TOOLS_PREFIX, strlen(TOOLS_PREFIX))) {
		const char *name = p + strlen(TOOLS_PREFIX);

		t = tool_lookup(tool_registry, name, false);
		if (!t) {
			*ret = error_obj("no tool '%.64s' (GET /api/v1/tools lists them)", name);
			return MHD_HTTP_NOT_FOUND;
		}
		if (!offered(a, t)) {
			*ret = error_obj("%s is an AI tool, not enabled on this recorder "
					 "(netspyctl record --api-ai)",
					 t->name);
			return MHD_HTTP_NOT_FOUND;
		}
		if (!post)
			return method_not_allowed("POST", allow, ret, m);
		return post_tool(a, t, rq, ret);
	}
	if (is(p, "/api/connection-summary") || is(p, "/api/list-connections")) {
		bool list = is(p, "/api/list-connections");

		t = tool_lookup(tool_registry, list ? "list_connections" : "get_network_summary",
				false);
		if (!t) {
			*ret = error_obj("no such tool");
			return MHD_HTTP_NOT_FOUND;
		}
		if (list && get)
			return get_tool(a, t, rq, ret);
		if (!post)
			return method_not_allowed(list ? "GET, POST" : "POST", allow, ret, m);
		return post_tool(a, t, rq, ret);
	}
	*ret = error_obj("no such path: %.128s (see GET /api/v1/openapi.json)", p);
	return MHD_HTTP_NOT_FOUND;
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_object *o,
			     const char *allow, bool challenge)
{
	const char *text = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);
	char *buf = malloc(len + 1);
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!buf) {
		json_object_put(o);
		return MHD_NO;
	}
	memcpy(buf, text, len);
	buf[len] = '\n';
	json_object_put(o);
	r = MHD_create_response_from_buffer(len + 1, buf, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (challenge)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"netspy\"");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Compares in time that depends on the token's length only. */
static bool token_ok(const struct api *a, const char *given)
{
	size_t n = given ? strlen(given) : 0;
	volatile unsigned char diff = n != a->token_len;

	for (size_t i = 0; i < a->token_len; i++)
		diff |= (unsigned char)a->token[i] ^ (unsigned char)(i < n ? given[i] : 0);
	return given && diff == 0;
}

static bool authorized(const struct api *a, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);

	if (!h || strncasecmp(h, "Bearer ", 7))
		return false;
	return token_ok(a, h + 7);
}

struct query {
	size_t n;
	const char *keys[API_MAX_QUERY_PARAMS + 1], *values[API_MAX_QUERY_PARAMS + 1];
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct query *q = cls;

	(void)kind;
	if (q->n <= API_MAX_QUERY_PARAMS) {
		q->keys[q->n] = key;
		q->values[q->n] = value;
	}
	q->n++;
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct listener *l = cls;
	struct api *a = l->a;
	struct request_state *st = *con_cls;
	struct query q = { 0 };
	struct api_request rq;
	const char *allow;
	json_object *o;
	unsigned status;

	(void)version;
	if (!st) {
		const char *cl;

		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		st->start_ms = (uint64_t)clock_ms(CLOCK_MONOTONIC);
		*con_cls = st;
		if (l->tcp && !authorized(a, c)) {
			st->answered = true;
			return reply(c, MHD_HTTP_UNAUTHORIZED,
				     error_obj("this listener needs Authorization: Bearer TOKEN"),
				     NULL, true);
		}
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		/* Too large: up to API_MAX_DROPPED the body is read and dropped and 413 comes
		 * after it (a client still sending would miss an earlier answer when the
		 * connection closes under it); beyond, 413 at once (curl and others wait for
		 * "100 Continue" before sending such a body, and read it cleanly). */
		if (cl && strtoull(cl, NULL, 10) > API_MAX_DROPPED) {
			st->answered = true;
			return reply(c, MHD_HTTP_CONTENT_TOO_LARGE,
				     error_obj("the body is larger than %u bytes", API_MAX_BODY),
				     NULL, false);
		}
		if (cl && strtoull(cl, NULL, 10) > API_MAX_BODY)
			st->too_large = true;
		return MHD_YES;
	}
	if (st->answered) { /* the rest of an upload we already answered */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;

		*upload_size = 0;
		/* A body trickled in past the time a whole call may take: close the connection. */
		if ((uint64_t)clock_ms(CLOCK_MONOTONIC) - st->start_ms >
		    (uint64_t)API_UPLOAD_TIMEOUT_S * 1000)
			return MHD_NO;
		if (st->too_large || st->len + n > API_MAX_BODY) {
			st->too_large = true;
			free(st->body);
			st->body = NULL;
			st->len += n;
			/* A body past the limit is read and dropped to answer 413 at its end, up
			 * to API_MAX_DROPPED; past it (a chunked body that does not end) the
			 * connection is closed. */
			return st->len > API_MAX_DROPPED ? MHD_NO : MHD_YES;
		}
		{
			char *b = realloc(st->body, st->len + n + 1);

			if (!b)
				return MHD_NO;
			memcpy(b + st->len, upload, n);
			st->len += n;
			b[st->len] = 0;
			st->body = b;
		}
		return MHD_YES;
	}
	if (st->too_large)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE,
			     error_obj("the body is larger than %u bytes", API_MAX_BODY), NULL,
			     false);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect, &q);
	rq = (struct api_request){
		.method = method,
		.path = url,
		.content_type =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
		.n_query = q.n,
		.query_keys = q.keys,
		.query_values = q.values,
		.body = st->body,
		.body_len = st->len,
	};
	status = api_dispatch(a, &rq, &o, &allow);
	return reply(c, status, o, allow, false);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct request_state *st = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (st) {
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
}

/* ---- listeners ---- */

int api_parse_address(const char *opt, const char *spec, struct sockaddr_storage *ss,
		      char **ret_error)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
		*ret_error = text_printf("%s %s: expected ADDR:PORT", opt, spec);
		return -EINVAL;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535) {
		*ret_error = text_printf("%s %s: bad port", opt, spec);
		return -EINVAL;
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	} else {
		*ret_error = text_printf("%s %s: not a numeric address", opt, spec);
		return -EINVAL;
	}
	return 0;
}

/* The bearer token: one line of a file only its owner (and group) may read. */
static int read_token(struct api *a, const char *path, char **ret_error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), err;
	char buf[TOKEN_MAX + 1];
	struct stat st;
	ssize_t n;

	if (fd < 0) {
		err = errno;
		*ret_error = text_printf("--api-token-file %s: %s", path, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TOKEN_MAX) {
		close(fd);
		*ret_error = text_printf("--api-token-file %s: not a regular file of at most %d "
					 "bytes",
					 path, TOKEN_MAX);
		return -EINVAL;
	}
	if (st.st_mode & S_IROTH) {
		close(fd);
		*ret_error = text_printf("--api-token-file %s is readable by every user: "
					 "chmod o-r it",
					 path);
		return -EPERM;
	}
	n = read(fd, buf, TOKEN_MAX);
	close(fd);
	if (n < 0)
		n = 0;
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
		n--;
	buf[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f) {
			*ret_error = text_printf("--api-token-file %s: the token must be one line "
						 "of printable characters without spaces",
						 path);
			return -EINVAL;
		}
	if (n < TOKEN_MIN) {
		*ret_error = text_printf("--api-token-file %s: the token is shorter than %d "
					 "characters",
					 path, TOKEN_MIN);
		return -EINVAL;
	}
	a->token = strdup(buf);
	a->token_len = (size_t)n;
	explicit_bzero(buf, sizeof(buf));
	return a->token ? 0 : -ENOMEM;
}

static struct MHD_Daemon *serve(struct listener *l, int fd, const struct sockaddr_storage *ss)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_ERROR_LOG;
	uint16_t port = 0;

	if (ss && ss->ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	} else if (ss) {
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	}
	if (ss)
		return MHD_start_daemon(
		    flags, port, NULL, NULL, handle, l, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(API_MAX_CONNECTIONS / 2),
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONNECTION_TIMEOUT_S,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 << 10),
		    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	return MHD_start_daemon(flags, 0, NULL, NULL, handle, l, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONNECTION_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 << 10),
				MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
}

/* Binds path (mode 0660): a stale socket is replaced, a live one (another recorder) is not. */
static int bind_unix(const char *path, char **ret_error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, probe, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		*ret_error = text_printf("--api-socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*ret_error = text_printf("--api-socket %s: exists and is not a socket",
						 path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			*ret_error = text_printf("--api-socket %s: another process serves it", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 16) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	*ret_error = text_printf("--api-socket %s: %s", path, strerror(err));
	return -err;
}

struct api *api_new(const struct api_opts *o)
{
	struct api *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->o = *o;
	a->unix_fd = -1;
	if (sem_init(&a->calls, 0, API_MAX_CALLS) < 0) {
		free(a);
		return NULL;
	}
	a->calls_init = true;
	a->unix_l.a = a->tcp_l.a = a;
	a->tcp_l.tcp = true;
	return a;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	if (a->calls_init)
		sem_destroy(&a->calls);
	if (a->token) {
		explicit_bzero(a->token, a->token_len);
		free(a->token);
	}
	free(a);
}

int api_start(const struct api_opts *o, struct api **ret, char **ret_error)
{
	struct api *a = api_new(o);
	struct sockaddr_storage ss;
	int r, fd = o->socket_fd;

	*ret = NULL;
	if (!a)
		return -ENOMEM;
	if (o->listen) {
		if (!o->token_file) {
			*ret_error = text_printf("--api-listen needs --api-token-file (the bearer "
						 "token clients send)");
			r = -EINVAL;
			goto fail;
		}
		r = read_token(a, o->token_file, ret_error);
		if (r == 0)
			r = api_parse_address("--api-listen", o->listen, &ss, ret_error);
		if (r < 0)
			goto fail;
		a->tcp_l.d = serve(&a->tcp_l, -1, &ss);
		if (!a->tcp_l.d) {
			*ret_error = text_printf("cannot listen on %s for the API (in use?)",
						 o->listen);
			r = -EADDRINUSE;
			goto fail;
		}
	} else if (o->token_file) {
		*ret_error = text_printf("--api-token-file is for --api-listen (the Unix socket "
					 "needs no token)");
		r = -EINVAL;
		goto fail;
	}
	if (o->socket_path) {
		if (fd < 0) {
			fd = bind_unix(o->socket_path, ret_error);
			if (fd < 0) {
				r = fd;
				goto fail;
			}
			a->unix_fd = fd;
		}
		a->unix_l.d = serve(&a->unix_l, fd, NULL);
		if (!a->unix_l.d) {
			*ret_error = text_printf("cannot serve the API on %s", o->socket_path);
			r = -EIO;
			goto fail;
		}
	}
	*ret = a;
	return 0;
fail:
	api_stop(a);
	return r;
}

void api_stop(struct api *a)
{
	if (!a)
		return;
	a->stopping = true;
	if (a->tcp_l.d)
		MHD_stop_daemon(a->tcp_l.d);
	if (a->unix_l.d)
		MHD_stop_daemon(a->unix_l.d);
	if (a->unix_fd >= 0) {
		close(a->unix_fd);
		unlink(a->o.socket_path);
	}
	api_free(a);
}
