/* Internals of the AI module shared by its files: the parsed model reply, the pure response and
 * SSE parsers, the terminal-safe text filter, the HTTP backend, the tool loop and the offline
 * analyst. Not used outside analyzer/ai*.c (and their tests and fuzz harness). */
#ifndef NETSPY_AI_PRIV_H
#define NETSPY_AI_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <json-c/json.h>

#include "tools/context.h"

/* Bounds on what a model server can make us hold. */
#define AI_MAX_CONTENT (1u << 20)    /* answer text of one reply */
#define AI_MAX_TOOL_CALLS 32	     /* tool calls in one reply */
#define AI_MAX_ARGUMENTS (64u << 10) /* arguments text of one tool call */
#define AI_MAX_RESPONSE (4u << 20)   /* body of one non-streamed response */
#define AI_MAX_SSE_LINE (1u << 20)   /* one SSE line */

struct ai_tool_call {
	char *id;	 /* "call_abc"; generated when the server sent none */
	char *name;	 /* function name as the model wrote it (unchecked) */
	char *arguments; /* JSON text as the model wrote it (unchecked) */
	size_t arguments_len;
};

/* One assistant reply (or a server error object), from a JSON body or an SSE stream. */
struct ai_reply {
	char *content; /* NULL when the message had no text */
	size_t content_len;
	struct ai_tool_call calls[AI_MAX_TOOL_CALLS];
	size_t n_calls;
	char *finish_reason; /* informational only: never trusted for control flow */
	char *error_code;    /* from {"error":{"code"|"type":...}} */
	char *error_message; /* from {"error":{"message":...}} */
};

void ai_reply_free(struct ai_reply *r);

/* Parses a non-streamed Chat Completions response (or an error body). 0 on success; -EBADMSG
 * when the bytes are not such a response, -E2BIG when a bound is exceeded. *ret is always
 * initialised and must be freed with ai_reply_free. */
int ai_parse_response(const char *buf, size_t len, struct ai_reply *ret);

/* Incremental parser of a streamed response (text/event-stream of chat.completion.chunk
 * objects): text deltas are appended and passed to on_text, tool-call deltas are accumulated by
 * index (id, name, argument fragments). */
struct ai_sse {
	struct ai_reply reply;
	char *line;
	size_t line_len;
	bool done;	 /* data: [DONE] seen */
	bool overflow;	 /* a bound was exceeded; the rest is ignored */
	bool seen_chunk; /* at least one chunk object parsed */
	void (*on_text)(void *opaque, const char *text, size_t len);
	void *opaque;
};

void ai_sse_init(struct ai_sse *s, void (*on_text)(void *, const char *, size_t), void *opaque);
/* Feeds bytes as they arrive, split anywhere. 0, or -E2BIG once a bound was exceeded. */
int ai_sse_feed(struct ai_sse *s, const char *buf, size_t len);
/* Ends the stream and moves the accumulated reply to *ret (always initialised). 0, -E2BIG, or
 * -EBADMSG when no chunk at all was seen. Frees the parser's buffers. */
int ai_sse_finish(struct ai_sse *s, struct ai_reply *ret);

/* Removes terminal escape sequences (CSI, OSC, DCS and other ESC forms), C0/C1 control characters
 * (but newline and tab), DEL and invalid UTF-8 from text that may arrive in pieces. */
struct ai_text_filter {
	int state; /* inside an escape sequence, and which kind */
	unsigned char utf8[4];
	int utf8_have, utf8_need;
};

void ai_text_filter_init(struct ai_text_filter *f);
/* Filters len bytes of in into out (which must have room for len + 4 bytes); returns the number
 * of bytes written. */
size_t ai_text_filter_run(struct ai_text_filter *f, const char *in, size_t len, char *out);
/* The whole of a string filtered, malloc'd (NULL on allocation failure). */
char *ai_text_clean(const char *in, size_t len);

/* HTTP behaviour, pure so that tests can pin it. */
bool ai_http_retryable(long status, const char *error_code);
/* Seconds to wait from a Retry-After value (delta-seconds or HTTP date), -1 when unusable. */
long ai_http_retry_after(const char *value, time_t now);
/* Milliseconds to wait before retry number attempt (1, 2, ...): the server's Retry-After when
 * given (capped), else exponential backoff with jitter (rnd in [0, 1)). */
long ai_http_backoff_ms(int attempt, long retry_after_s, double rnd);

/* A configured OpenAI-compatible backend. */
struct ai_backend {
	char *base_url;
	char *model;
	char *key; /* in a no-dump mapping; NULL for a local server without a key */
	size_t key_map_len;
	long timeout_s, connect_timeout_s;
	FILE *progress; /* retry notices for a person, or NULL */
	int max_attempts;
};

/* Resolves the backend from settings and environment. 0 with *ret_configured = false when no key
 * and no endpoint is configured (use the offline analyst); -EREMOTEIO with *ret_error when the
 * configuration is unusable (unreadable key file...). */
int ai_backend_open(const struct ai_settings *s, struct ai_backend *ret, bool *ret_configured,
		    char **ret_error);
void ai_backend_close(struct ai_backend *b);
/* One Chat Completions request with retries. With stream_out, asks for a streamed reply and
 * writes its filtered text there as it arrives (*ret_streamed says whether it was streamed).
 * -EREMOTEIO with *ret_error (never containing the key) on failure. */
int ai_backend_chat(struct ai_backend *b, json_object *request, FILE *stream_out,
		    struct ai_reply *ret, bool *ret_streamed, char **ret_error);

/* The function-calling loop over ctx->tools: messages holds the conversation (system prompt,
 * previous turns and the new user message) and grows with it. Fills result (answer,
 * tools_called, iterations, stopped_early, streamed). */
struct ai_loop_limits {
	int max_iterations;
	size_t max_bytes;      /* tool output plus conversation */
	size_t max_tool_bytes; /* one tool result */
};

void ai_loop_limits_default(struct ai_loop_limits *l);
/* The function definitions offered to the model (a new array), from ctx->tools. */
json_object *ai_loop_functions(const struct tool_context *ctx);
int ai_loop_run(struct tool_context *ctx, struct ai_backend *be, const struct ai_loop_limits *l,
		json_object *messages, json_object *result, char **ret_error);

/* The offline analyst. */
int ai_offline_contextual(struct tool_context *ctx, json_object *args, json_object **ret,
			  char **ret_error);
int ai_offline_insights(const char *text, json_object **ret, char **ret_error);
/* A one-line explanation of a kernel drop reason, or NULL when the name is not in the table. */
const char *ai_offline_drop_reason(const char *name);

/* A malloc'd printf, NULL-safe for error paths. */
char *ai_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
