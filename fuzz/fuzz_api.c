/* Fuzzes what the recorder's API parses from a request (frontends/api.c): the query string ->
 * a tool's arguments (tool_args_from_pairs, typed by the tool's schema) and a POST body (JSON,
 * bounded depth, one object) through the dispatcher. The first byte picks the tool and whether
 * the rest is a query string (key=value&...) or a body. Valid arguments go on to a netspyd
 * socket that does not exist (503). Every answer must be a JSON object with a status the API
 * documents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frontends/api.h"
#include "frontends/cliargs.h"
#include "tools/tool.h"

static bool health(void *data, json_object *out)
{
	(void)data;
	(void)out;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct api *api;
	static const char *const paths[] = {
		"/api/v1/tools/get_network_summary", "/api/v1/tools/list_connections",
		"/api/v1/tools/get_dns_summary",     "/api/connection-summary",
		"/api/list-connections",	     "/api/v1/tools/find_anomalies",
	};
	const char *keys[API_MAX_QUERY_PARAMS + 1], *vals[API_MAX_QUERY_PARAMS + 1];
	struct api_request rq = { 0 };
	json_object *ret = NULL;
	const char *allow;
	char *text;
	size_t n = 0;
	unsigned st;

	if (!api) {
		struct api_opts o = { .daemon_socket = "/nonexistent/netspyd.sock",
				      .history = "/nonexistent/history.db",
				      .health = health,
				      .budget_s = 1 };

		api = api_new(&o);
	}
	if (size < 1 || !api)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	rq.path = paths[(data[0] & 0x7f) % (sizeof(paths) / sizeof(paths[0]))];
	if (data[0] & 0x80) {
		/* a query string, as libmicrohttpd hands it over: pairs split at & and = */
		char *save = NULL;

		for (char *p = strtok_r(text, "&", &save); p && n < API_MAX_QUERY_PARAMS;
		     p = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(p, '=');

			if (eq)
				*eq = 0;
			keys[n] = p;
			vals[n++] = eq ? eq + 1 : NULL;
		}
		rq.method = "GET";
		rq.path = "/api/list-connections";
		{
			const struct tool *t = tool_registry[(data[0] & 0x7f) % 8];
			json_object *args = NULL;
			char *err = NULL;

			if (tool_args_from_pairs(t, n, keys, vals, &args, &err) == 0) {
				if (!json_object_is_type(args, json_type_object))
					abort();
				json_object_put(args);
			} else if (!err) {
				abort();
			}
			free(err);
		}
	} else {
		rq.method = "POST";
		rq.body = text;
		rq.body_len = strlen(text);
		rq.content_type = "application/json";
	}
	rq.n_query = n;
	rq.query_keys = keys;
	rq.query_values = vals;
	st = api_dispatch(api, &rq, &ret, &allow);
	if (!json_object_is_type(ret, json_type_object) ||
	    (st != 200 && st != 400 && st != 404 && st != 503))
		abort();
	json_object_put(ret);
	free(text);
	return 0;
}
