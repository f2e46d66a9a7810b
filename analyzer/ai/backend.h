/* The AI backend interface: how the analyst talks to a model. A backend is a struct ai_backend_ops
 * (open, chat, close); ai/openai.c (OpenAI-compatible Chat Completions over libcurl) is one.
 * Requests are Chat Completions-shaped JSON ({"messages": [...], "tools": [...]}) and replies a
 * struct ai_reply (ai/parse.h): a backend for another API translates both ways. Adding a
 * backend is one file plus one line in ai/backend.c (docs/HACKING.md). */
#ifndef NETSPY_AI_BACKEND_H
#define NETSPY_AI_BACKEND_H

#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

#include "ai/parse.h"
#include "tools/context.h"

struct ai_backend_ops;

/* What every open backend shares; an implementation embeds it as its first member. */
struct ai_backend {
	const struct ai_backend_ops *ops;
	const char *model; /* the model that answers, for results ("model": ...) */
	FILE *progress;	   /* retry notices for a person, or NULL */
	/* When set and true, a request in flight is abandoned (the caller cancelled): chat
	 * returns -ECANCELED. */
	bool (*cancelled)(void *data);
	void *cancelled_data;
};

struct ai_backend_ops {
	const char *name; /* "openai" */
	/* Resolves the backend from settings and environment. 0 with *ret = NULL when this
	 * backend is not configured (the next one is asked; with none, the offline analyst
	 * answers); -EREMOTEIO with *ret_error when the configuration is unusable (unreadable key
	 * file...), -ENOMEM. */
	int (*open)(const struct ai_settings *s, struct ai_backend **ret, char **ret_error);
	/* One request with the backend's retries. With stream_out, asks for a streamed reply and
	 * writes its terminal-safe text there as it arrives (*ret_streamed says whether it was
	 * streamed). *ret is always initialised (ai_reply_free). -EREMOTEIO with *ret_error (never
	 * containing a secret) on failure. The backend may add its own fields to request. */
	int (*chat)(struct ai_backend *b, json_object *request, FILE *stream_out,
		    struct ai_reply *ret, bool *ret_streamed, char **ret_error);
	void (*close)(struct ai_backend *b);
};

/* The first configured backend of the list in ai/backend.c, with progress set. 0 with *ret NULL
 * when none is configured (or s->offline); otherwise as ops->open. */
int ai_backend_open(const struct ai_settings *s, FILE *progress, struct ai_backend **ret,
		    char **ret_error);
int ai_backend_chat(struct ai_backend *b, json_object *request, FILE *stream_out,
		    struct ai_reply *ret, bool *ret_streamed, char **ret_error);
/* NULL-safe. */
void ai_backend_close(struct ai_backend *b);

#endif
