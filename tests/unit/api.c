/* Unit tests of the recorder's API dispatcher (frontends/api.c) without HTTP: routes, methods,
 * bodies and their content types, query parameters -> arguments, errors as {"error": ...}, the
 * AI tools only when enabled, the OpenAPI document and the tool list generated from the registry.
 * Tool calls go to a netspyd socket that does not exist: 503, the path a real call takes up to
 * connecting (the real answers are checked against netspyctl in tests/api.test.sh). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "frontends/api.h"
#include "frontends/cliargs.h"
#include "tools/tool.h"

static bool health_up;

static bool fake_health(void *data, json_object *out)
{
	(void)data;
	json_object_object_add(out, "netspyd_reachable", json_object_new_boolean(health_up));
	return health_up;
}

static struct api *api;

/* One request; returns the status, *msg the error text (or ""). */
static unsigned req(const char *method, const char *path, const char *ctype, const char *body,
		    size_t nq, const char *const *keys, const char *const *vals, char *msg,
		    size_t len, const char **allow)
{
	struct api_request rq = {
		.method = method,
		.path = path,
		.content_type = ctype,
		.n_query = nq,
		.query_keys = keys,
		.query_values = vals,
		.body = body,
		.body_len = body ? strlen(body) : 0,
	};
	json_object *o = NULL, *e;
	const char *al = NULL;
	unsigned st = api_dispatch(api, &rq, &o, &al);

	if (allow)
		*allow = al;
	snprintf(msg, len, "%s",
		 json_object_object_get_ex(o, "error", &e) ? json_object_get_string(e) : "");
	json_object_put(o);
	return st;
}

#define REQ(m, p, ct, b) req(m, p, ct, b, 0, NULL, NULL, msg, sizeof(msg), &allow)

static bool lists(json_object *paths, const char *name)
{
	char p[128];

	snprintf(p, sizeof(p), "/api/v1/tools/%s", name);
	return json_object_object_get_ex(paths, p, NULL);
}

int main(void)
{
	struct api_opts o = {
		.daemon_socket = "/nonexistent/netspyd.sock",
		.history = "/nonexistent/history.db",
		.health = fake_health,
		.budget_s = 5,
	};
	const char *allow = NULL;
	char msg[512];
	unsigned st;
	json_object *doc, *paths = NULL, *args = NULL;
	char *err = NULL;
	bool all;

	api = api_new(&o);
	CHECK(api != NULL, "api_new");

	/* health */
	health_up = true;
	CHECK(REQ("GET", "/health", NULL, NULL) == 200, "GET /health: 200 when netspyd is reachable");
	health_up = false;
	CHECK(REQ("GET", "/health", NULL, NULL) == 503, "GET /health: 503 when it is not");
	st = REQ("POST", "/health", NULL, NULL);
	CHECK(st == 405 && allow && strstr(allow, "GET"), "POST /health: 405 with Allow (%u, %s)",
	      st, allow ? allow : "none");

	/* routing */
	CHECK(REQ("GET", "/", NULL, NULL) == 404 && strstr(msg, "no such path"), "GET /: 404 (%s)",
	      msg);
	CHECK(REQ("POST", "/api/v1/tools/../x", NULL, "{}") == 404, "/api/v1/tools/../x: 404");
	CHECK(REQ("POST", "/api/v1/tools/summary", NULL, "{}") == 404,
	      "a command name is not a tool name: 404");
	CHECK(REQ("POST", "/api/v1/tools/get_network_summary/", NULL, "{}") == 404,
	      "a trailing slash: 404");
	st = REQ("GET", "/api/v1/tools/get_network_summary", NULL, NULL);
	CHECK(st == 405 && allow && !strcmp(allow, "POST"), "GET on a tool: 405, Allow: POST");
	CHECK(REQ("DELETE", "/api/list-connections", NULL, NULL) == 405,
	      "DELETE /api/list-connections: 405");
	CHECK(REQ("GET", "/api/connection-summary", NULL, NULL) == 405,
	      "GET /api/connection-summary: 405 (the original takes POST)");
	CHECK(REQ("PUT", "/api/v1/tools", NULL, NULL) == 405, "PUT /api/v1/tools: 405");

	/* AI tools */
	st = REQ("POST", "/api/v1/tools/ai_insights", NULL, "{\"summary_text\":\"x\"}");
	CHECK(st == 404 && strstr(msg, "--api-ai"), "ai_insights without --api-ai: 404 (%s)", msg);

	/* bodies */
	st = REQ("POST", "/api/v1/tools/get_network_summary", "text/plain", "{}");
	CHECK(st == 415, "text/plain body: 415 (%u)", st);
	st = REQ("POST", "/api/v1/tools/get_network_summary", "application/json", "{\"pid\":");
	CHECK(st == 400 && strstr(msg, "not valid JSON"), "truncated JSON: 400 (%s)", msg);
	st = REQ("POST", "/api/v1/tools/get_network_summary", "application/json", "[1,2]");
	CHECK(st == 400 && strstr(msg, "JSON object"), "an array: 400 (%s)", msg);
	st = REQ("POST", "/api/v1/tools/get_network_summary", "application/json", "{} {}");
	CHECK(st == 400 && strstr(msg, "more than one"), "two values: 400 (%s)", msg);
	st = REQ("POST", "/api/v1/tools/get_network_summary", "application/json",
		 "{\"pid\":\"x\"}");
	CHECK(st == 400 && strstr(msg, "invalid arguments for get_network_summary") &&
		  strstr(msg, "pid"),
	      "a string pid: 400 with the validator's message (%s)", msg);
	st = REQ("POST", "/api/v1/tools/list_connections", "application/json",
		 "{\"bogus\":1}");
	CHECK(st == 400 && strstr(msg, "bogus"), "an unknown argument: 400 (%s)", msg);
	st = REQ("POST", "/api/v1/tools/list_connections", "application/json",
		 "{\"max_events\":0}");
	CHECK(st == 400, "max_events 0: 400 (%s)", msg);
	{
		char deep[200];

		memset(deep, '[', sizeof(deep) - 1);
		deep[sizeof(deep) - 1] = 0;
		st = REQ("POST", "/api/v1/tools/list_connections", NULL, deep);
		CHECK(st == 400, "nesting past the depth limit: 400 (%s)", msg);
	}
	/* Valid arguments reach netspyd's socket, which is not there: 503. */
	st = REQ("POST", "/api/v1/tools/get_network_summary", "application/json; charset=utf-8",
		 "{\"duration\":30}");
	CHECK(st == 503 && strstr(msg, "netspyd"), "netspyd unreachable: 503 (%u, %s)", st, msg);
	st = REQ("POST", "/api/v1/tools/list_connections", "application/x-www-form-urlencoded",
		 "{\"max_events\":5}");
	CHECK(st == 503, "curl -d's content type is read as JSON (%u, %s)", st, msg);
	st = REQ("POST", "/api/v1/tools/list_connections", NULL, " \n");
	CHECK(st == 503, "an empty body is {} (%u, %s)", st, msg);
	st = REQ("POST", "/api/connection-summary", NULL, "{\"duration\":60,\"pid\":1}");
	CHECK(st == 503, "POST /api/connection-summary is get_network_summary (%u, %s)", st, msg);

	/* the original's GET with query parameters */
	{
		const char *k[] = { "pid", "process_name", "duration", "max_events" };
		const char *v[] = { "1", "curl", "60", "10" };
		const char *bk[] = { "pid" }, *bv[] = { "abc" };
		const char *uk[] = { "limit" }, *uv[] = { "3" };
		const char *dk[] = { "pid", "pid" }, *dv[] = { "1", "2" };

		st = req("GET", "/api/list-connections", NULL, NULL, 4, k, v, msg, sizeof(msg),
			 NULL);
		CHECK(st == 503, "GET /api/list-connections?pid&process_name&duration&max_events "
				 "reaches the tool (%u, %s)",
		      st, msg);
		st = req("GET", "/api/list-connections", NULL, NULL, 1, bk, bv, msg, sizeof(msg),
			 NULL);
		CHECK(st == 400 && strstr(msg, "whole number"), "pid=abc: 400 (%s)", msg);
		st = req("GET", "/api/list-connections", NULL, NULL, 1, uk, uv, msg, sizeof(msg),
			 NULL);
		CHECK(st == 400 && strstr(msg, "unknown parameter 'limit'"), "limit=3: 400 (%s)",
		      msg);
		st = req("GET", "/api/list-connections", NULL, NULL, 2, dk, dv, msg, sizeof(msg),
			 NULL);
		CHECK(st == 400 && strstr(msg, "twice"), "pid twice: 400 (%s)", msg);
		st = req("POST", "/api/list-connections", NULL, "{}", 1, k, v, msg, sizeof(msg),
			 NULL);
		CHECK(st == 400 && strstr(msg, "query string"), "POST with a query string: 400 (%s)",
		      msg);
	}

	/* query pairs -> arguments, typed by the schema */
	{
		const struct tool *t = tool_lookup(tool_registry, "list_connections", false);
		const char *k[] = { "pid", "process_name", "max_events" };
		const char *v[] = { "42", "curl", "7" };
		json_object *x;

		CHECK(t && tool_args_from_pairs(t, 3, k, v, &args, &err) == 0,
		      "tool_args_from_pairs accepts pid, process_name, max_events");
		CHECK(json_object_object_get_ex(args, "pid", &x) &&
			  json_object_is_type(x, json_type_int) && json_object_get_int(x) == 42,
		      "  pid is the integer 42");
		CHECK(json_object_object_get_ex(args, "process_name", &x) &&
			  !strcmp(json_object_get_string(x), "curl"),
		      "  process_name is the string curl");
		json_object_put(args);
	}

	/* the documents */
	doc = api_openapi(api);
	CHECK(doc && !strcmp(json_object_get_string(json_object_object_get(doc, "openapi")),
			     "3.1.0"),
	      "the OpenAPI document is 3.1.0");
	json_object_object_get_ex(doc, "paths", &paths);
	all = true;
	for (const struct tool *const *t = tool_registry; *t; t++)
		if (lists(paths, (*t)->name) == (*t)->open_world)
			all = false;
	CHECK(all, "it lists every data tool and no AI tool");
	CHECK(json_object_object_get_ex(paths, "/api/connection-summary", NULL) &&
		  json_object_object_get_ex(paths, "/api/list-connections", NULL) &&
		  json_object_object_get_ex(paths, "/health", NULL),
	      "it lists /health and the original's paths");
	json_object_put(doc);
	CHECK(REQ("GET", "/api/v1/openapi.json", NULL, NULL) == 200, "GET /api/v1/openapi.json");
	CHECK(REQ("GET", "/api/v1/tools", NULL, NULL) == 200, "GET /api/v1/tools");
	api_free(api);

	o.ai = true;
	api = api_new(&o);
	doc = api_openapi(api);
	json_object_object_get_ex(doc, "paths", &paths);
	all = true;
	for (const struct tool *const *t = tool_registry; *t; t++)
		all = all && lists(paths, (*t)->name);
	CHECK(all, "with --api-ai it lists the AI tools too");
	json_object_put(doc);
	api_free(api);
	return CHECK_DONE();
}
