/* What the MCP server's files share (mcp.c: JSON-RPC dispatch, logging, progress, the stdio
 * loop; mcp_features.c: resources, subscriptions, prompts, completion). Not for other files. */
#ifndef NETSPY_MCP_INTERNAL_H
#define NETSPY_MCP_INTERNAL_H

#include <json-c/json.h>

#include "frontends/mcp.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* A JSON-RPC error to send instead of a result. */
struct rpc_error {
	int code;
	char message[512];
};

/* Sets e and returns NULL (a method's way to fail). */
json_object *rpc_fail(struct rpc_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* params[key] when it is a string, else NULL. */
const char *mcp_get_string(json_object *obj, const char *key);
/* Sends a JSON-RPC notification (takes params). */
void mcp_notify(struct mcp_server *s, const char *method, json_object *params);

/* The methods of mcp_features.c (same contract as mcp.c's: a result, or NULL with e set). */
json_object *mcp_resources_list(struct mcp_server *s, json_object *params, struct rpc_error *e);
json_object *mcp_resource_templates_list(struct mcp_server *s, json_object *params,
					 struct rpc_error *e);
json_object *mcp_resources_read(struct mcp_server *s, json_object *params, struct rpc_error *e);
json_object *mcp_resources_subscribe(struct mcp_server *s, json_object *params,
				     struct rpc_error *e);
json_object *mcp_resources_unsubscribe(struct mcp_server *s, json_object *params,
				       struct rpc_error *e);
json_object *mcp_prompts_list(struct mcp_server *s, json_object *params, struct rpc_error *e);
json_object *mcp_prompts_get(struct mcp_server *s, json_object *params, struct rpc_error *e);
json_object *mcp_complete(struct mcp_server *s, json_object *params, struct rpc_error *e);

#endif
