/* What a model said: one assistant reply (text and tool calls) as every backend returns it, and the
 * pure parsers of the OpenAI-compatible Chat Completions formats (a response body, an SSE
 * stream) that produce it. Bytes in, struct ai_reply out; the input is treated as hostile. */
#ifndef NETSPY_AI_PARSE_H
#define NETSPY_AI_PARSE_H

#include <stdbool.h>
#include <stddef.h>

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
 * call (id, name, argument fragments): a delta belongs to the call with its id, else to the call
 * its "index" named, else to the newest call; an id not seen before starts a new call even when
 * the server repeats an index (some send 0 for every call) or sends none. Text in "reasoning" /
 * "reasoning_content" (thinking models) is never part of the answer. */
struct ai_sse {
	struct ai_reply reply;
	char *line;
	size_t line_len;
	bool done;	 /* data: [DONE] seen */
	bool overflow;	 /* a bound was exceeded; the rest is ignored */
	bool seen_chunk; /* at least one chunk object parsed */
	/* The server's tool-call "index" -> our slot + 1 (0: not seen). Servers that send index 0
	 * (or none) for every call start a new call by sending a new id. */
	unsigned char slot_of[AI_MAX_TOOL_CALLS];
	long last_slot; /* the slot of the newest call, -1 before any */
	void (*on_text)(void *opaque, const char *text, size_t len);
	void *opaque;
};

void ai_sse_init(struct ai_sse *s, void (*on_text)(void *, const char *, size_t), void *opaque);
/* Feeds bytes as they arrive, split anywhere. 0, or -E2BIG once a bound was exceeded. */
int ai_sse_feed(struct ai_sse *s, const char *buf, size_t len);
/* Ends the stream and moves the accumulated reply to *ret (always initialised). 0, -E2BIG, or
 * -EBADMSG when no chunk at all was seen. Frees the parser's buffers. */
int ai_sse_finish(struct ai_sse *s, struct ai_reply *ret);

#endif
