/* The Model Context Protocol server of `netspyctl mcp`: JSON-RPC 2.0 over newline-delimited JSON
 * on stdio, exposing every tool of the registry. The dispatcher is pure (one line in, one line or
 * nothing out) so that it can be unit-tested and fuzzed; mcp_serve() is the stdio loop. */
#ifndef NETSPY_MCP_H
#define NETSPY_MCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tools/context.h"

/* The newest protocol revision we speak; also 2025-06-18 and 2025-03-26 are accepted. */
#define MCP_LATEST_PROTOCOL "2025-11-25"
/* A longer input line is answered with an error and skipped. */
#define MCP_MAX_LINE (1024 * 1024)
/* Tool results are shortened to fit this many bytes of JSON text (and say so). */
#define MCP_MAX_RESULT (256 * 1024)

/* JSON-RPC error codes. */
enum {
	MCP_PARSE_ERROR = -32700,
	MCP_INVALID_REQUEST = -32600,
	MCP_METHOD_NOT_FOUND = -32601,
	MCP_INVALID_PARAMS = -32602,
	MCP_INTERNAL_ERROR = -32603,
};

struct mcp_server {
	struct tool_context *ctx;
	bool initialized;  /* initialize was answered */
	bool client_ready; /* notifications/initialized was received */
	char protocol[16]; /* the negotiated revision */
	size_t max_result; /* MCP_MAX_RESULT unless a test lowers it */
	/* Called before each tools/call so that answers include the newest events (the stdio
	 * server ingests from the daemon here); may be NULL. */
	void (*before_call)(struct mcp_server *s);
	void (*after_call)(struct mcp_server *s); /* after each tools/call; may be NULL */
	void *hook_data;
};

void mcp_server_init(struct mcp_server *s, struct tool_context *ctx);

/* Handles one JSON-RPC message (without its newline). Returns the response as a malloc'd line
 * without a newline, or NULL when nothing is to be sent (notifications, responses). */
char *mcp_handle_line(struct mcp_server *s, const char *line, size_t len);

/* Reads messages from in_fd until end of input, writing responses to out, one per line.
 * Returns 0 at end of input, or -errno when reading or writing failed. */
int mcp_serve(struct mcp_server *s, int in_fd, FILE *out);

/* `netspyctl mcp`: serves stdin/stdout with ctx; returns the process exit code. */
int mcp_main(struct tool_context *ctx);

#endif
