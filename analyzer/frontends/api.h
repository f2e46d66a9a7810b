/* The recorder's HTTP + JSON API (docs/api.md): every data tool of the registry as
 * POST /api/v1/tools/NAME, the list of tools with their schemas, an OpenAPI 3.1 document
 * generated from the registry, /health from the recorder's own state, and the original
 * ebpf-server's paths as aliases. Served by libmicrohttpd on a Unix socket (mode 0660: the
 * recorder's group) and, only when asked, on TCP with a bearer token read from a file.
 *
 * A tool call takes the path of `netspyctl TOOL --json`: an analyzer of its own, connected to
 * netspyd's socket for this call (with a replay of the backlog), plus the history database for
 * older windows, then tool_invoke(). The recording thread's analyzer and store are never
 * touched: the API and the recorder share nothing but the health figures, copied under a
 * mutex the recorder holds for a few instructions. */
#ifndef NETSPY_API_H
#define NETSPY_API_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <json-c/json.h>

#include "tools/context.h"

#define API_DEFAULT_SOCKET "/run/netspy/api.sock"
#define API_MAX_BODY (64u << 10)     /* bytes of a request body; more is 413 */
#define API_MAX_DROPPED (4u << 20)   /* a chunked body past API_MAX_BODY is dropped up to this */
#define API_MAX_CONNECTIONS 16	     /* open connections, over all listeners */
#define API_MAX_CALLS 2		     /* tool calls running at once; more wait, then 503 */
#define API_CONNECTION_TIMEOUT_S 10  /* an idle connection is closed after it */
#define API_UPLOAD_TIMEOUT_S 30	     /* a body still arriving after it: the connection is closed */
#define API_DEFAULT_BUDGET_S 30	     /* time for one tool call */
#define API_MAX_QUERY_PARAMS 32

struct api_opts {
	const char *socket_path;   /* Unix socket, or NULL for none */
	int socket_fd;		   /* a listening socket passed by systemd for socket_path, or -1 */
	const char *listen;	   /* ADDR:PORT for TCP, or NULL */
	const char *token_file;	   /* the bearer token for TCP (required with listen) */
	const char *daemon_socket; /* netspyd's socket (NULL: default) */
	const char *history;	   /* the history database tools read */
	bool ai;		   /* offer ai_insights and contextual_analysis */
	unsigned budget_s;	   /* time for one tool call (0: API_DEFAULT_BUDGET_S) */
	/* Fills the /health object (netspyd_reachable, events_flowing, events_lost...) and returns
	 * whether netspyd is reachable. Called from the API's threads. */
	bool (*health)(void *data, json_object *out);
	void *health_data;
};

struct api;

/* One request, as the dispatcher sees it (the HTTP layer has read and bounded it). */
struct api_request {
	const char *method, *path, *content_type;
	size_t n_query;
	const char *const *query_keys, *const *query_values;
	const char *body; /* NUL-terminated, or NULL when there was none */
	size_t body_len;
};

/* Starts the listeners. 0, or -errno with *ret_error saying what failed (a socket in use, a
 * missing or unsafe token file...). */
int api_start(const struct api_opts *o, struct api **ret, char **ret_error);
/* Stops serving (waits for calls in progress) and removes the socket it created. */
void api_stop(struct api *a);
/* The dispatcher, without HTTP: the status and the JSON answer (the tool's result unchanged, or
 * {"error": "..."}). *allow is set for 405 (the methods the path takes). a's opts must be set;
 * a may come from api_new() for tests and fuzzing. */
unsigned api_dispatch(struct api *a, const struct api_request *rq, json_object **ret,
		      const char **allow);
/* An api that dispatches but serves nothing (api_free() it). */
struct api *api_new(const struct api_opts *o);
void api_free(struct api *a);
/* ADDR:PORT (IPv4, or IPv6 in brackets) for a listening option named opt. 0, or -EINVAL with
 * *ret_error. */
int api_parse_address(const char *opt, const char *spec, struct sockaddr_storage *ss,
		      char **ret_error);
/* The OpenAPI 3.1 document of the tools a serves. */
json_object *api_openapi(const struct api *a);

#endif
