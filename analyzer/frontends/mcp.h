/* The Model Context Protocol server of `netspyctl mcp`: JSON-RPC 2.0 over newline-delimited JSON
 * on stdio, exposing every tool of the registry. The dispatcher is pure (one line in, one line or
 * nothing out) so that it can be unit-tested and fuzzed; mcp_serve() is the stdio loop. */
#ifndef NETSPY_MCP_H
#define NETSPY_MCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/context.h"

/* The newest protocol revision we speak; also 2025-06-18 and 2025-03-26 are accepted. */
#define MCP_LATEST_PROTOCOL "2025-11-25"
/* A longer input line is answered with an error and skipped. */
#define MCP_MAX_LINE (1024 * 1024)
/* Tool results are shortened to fit this many bytes of JSON text (and say so). */
#define MCP_MAX_RESULT (256 * 1024)

/* Resources: at most this many subscriptions, each told of changes at most once per interval. */
#define MCP_MAX_SUBSCRIPTIONS 32
#define MCP_UPDATE_INTERVAL_MS 1000
/* netspy://events/recent and the per-process/unit resources: this many of each kind of event,
 * from this many seconds back. */
#define MCP_RECENT_EVENTS 50
#define MCP_RECENT_SECONDS 300
/* notifications/cancelled remembered for requests not read yet. */
#define MCP_MAX_CANCELLED 16

/* Log levels (RFC 5424 order, as logging/setLevel names them). */
enum mcp_level {
	MCP_LOG_DEBUG,
	MCP_LOG_INFO,
	MCP_LOG_NOTICE,
	MCP_LOG_WARNING,
	MCP_LOG_ERROR,
	MCP_LOG_CRITICAL,
	MCP_LOG_ALERT,
	MCP_LOG_EMERGENCY,
	MCP_LOG_OFF, /* until the client asks with logging/setLevel */
};

/* JSON-RPC error codes. */
enum {
	MCP_PARSE_ERROR = -32700,
	MCP_INVALID_REQUEST = -32600,
	MCP_METHOD_NOT_FOUND = -32601,
	MCP_INVALID_PARAMS = -32602,
	MCP_INTERNAL_ERROR = -32603,
	MCP_RESOURCE_NOT_FOUND = -32002,
};

/* A resources/subscribe: what was last seen of it, and when the client was last told. */
struct mcp_subscription {
	char uri[256];
	uint64_t seq_seen;		/* netspy://status, events/recent: the analyzer's last_seq */
	uint64_t conn_seen, drop_seen;	/* process/unit: newest matching records (index + 1) */
	uint64_t sent_ms;		/* last notifications/resources/updated (CLOCK_MONOTONIC) */
	bool pending;			/* changed since then, not told yet (rate limit) */
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
	/* Sends a notification (a malloc'd line without newline, owned by the callee); NULL:
	 * notifications are dropped. mcp_serve() sets it when unset. */
	void (*notify)(struct mcp_server *s, char *line);
	/* Reads what the client sent meanwhile, during a long call, so that its cancellation is
	 * seen (mcp_serve() sets it); may be NULL. */
	void (*pump)(struct mcp_server *s);
	enum mcp_level log_level; /* notifications/message below it are not sent */
	struct mcp_subscription subs[MCP_MAX_SUBSCRIPTIONS];
	size_t n_subs;
	unsigned update_interval_ms;
	/* The request being answered: its id (JSON text), its progress token (or NULL), the
	 * progress so far, and whether the client cancelled it. */
	char current_id[80];
	json_object *progress_token;
	double progress;
	bool current_cancelled;
	/* Ids (JSON text) of requests the client cancelled before they were read. */
	char cancelled[MCP_MAX_CANCELLED][80];
	unsigned n_cancelled;
	void *io; /* mcp_serve()'s input state while it runs */
};

void mcp_server_init(struct mcp_server *s, struct tool_context *ctx);

/* Sends notifications/message at level (when the client's logging/setLevel lets it through),
 * from logger "netspy". */
void mcp_log(struct mcp_server *s, enum mcp_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a notifications/cancelled for request id (JSON text of the id). */
void mcp_cancel(struct mcp_server *s, const char *id);

/* Checks the subscribed resources against the store (already brought up to date) and sends
 * notifications/resources/updated for those that changed, at most one per resource per
 * update_interval_ms (changes meanwhile are coalesced into the next one). Returns the
 * milliseconds until a held-back notification is due, or -1 when none is. */
int mcp_check_updates(struct mcp_server *s, uint64_t now_ms);

/* Handles one JSON-RPC message (without its newline). Returns the response as a malloc'd line
 * without a newline, or NULL when nothing is to be sent (notifications, responses). */
char *mcp_handle_line(struct mcp_server *s, const char *line, size_t len);

/* Reads messages from in_fd until end of input, writing responses to out, one per line.
 * Returns 0 at end of input, or -errno when reading or writing failed. */
int mcp_serve(struct mcp_server *s, int in_fd, FILE *out);

/* `netspyctl mcp`: serves stdin/stdout with ctx; returns the process exit code. */
int mcp_main(struct tool_context *ctx);

#endif
