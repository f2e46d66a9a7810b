/* Pure parsers of what an OpenAI-compatible server sends back: a Chat Completions response body
 * and a streamed (SSE) response, bytes in, struct ai_reply out. Everything here treats the input
 * as hostile: bounded sizes, no assumption about which fields exist or their types. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ai/parse.h"
#include "core/text.h"

void ai_reply_free(struct ai_reply *r)
{
	size_t i;

	for (i = 0; i < r->n_calls; i++) {
		free(r->calls[i].id);
		free(r->calls[i].name);
		free(r->calls[i].arguments);
	}
	free(r->content);
	free(r->finish_reason);
	free(r->error_code);
	free(r->error_message);
	memset(r, 0, sizeof(*r));
}

/* Appends n bytes to a NUL-terminated buffer, keeping it under max. */
static int append(char **buf, size_t *len, const char *s, size_t n, size_t max)
{
	char *p;

	if (*len + n >= max)
		return -E2BIG;
	p = realloc(*buf, *len + n + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + *len, s, n);
	*len += n;
	p[*len] = '\0';
	*buf = p;
	return 0;
}

static int append_json_string(char **buf, size_t *len, json_object *o, size_t max)
{
	if (!json_object_is_type(o, json_type_string))
		return 0;
	return append(buf, len, json_object_get_string(o), (size_t)json_object_get_string_len(o),
		      max);
}

/* Replaces *dst with o's value when o is a short string. */
static void set_string(char **dst, json_object *o)
{
	if (!json_object_is_type(o, json_type_string) && !json_object_is_type(o, json_type_int))
		return;
	if (json_object_get_string_len(o) > 256)
		return;
	free(*dst);
	*dst = strdup(json_object_get_string(o));
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (json_object_is_type(o, json_type_object))
		json_object_object_get_ex(o, key, &v);
	return v;
}

static json_object *first_choice(json_object *root)
{
	json_object *choices = get(root, "choices");

	if (!json_object_is_type(choices, json_type_array) ||
	    json_object_array_length(choices) == 0)
		return NULL;
	return json_object_array_get_idx(choices, 0);
}

static void parse_error_object(json_object *err, struct ai_reply *r)
{
	json_object *code = get(err, "code");

	if (json_object_is_type(err, json_type_string)) {
		set_string(&r->error_message, err);
		return;
	}
	set_string(&r->error_message, get(err, "message"));
	set_string(&r->error_code,
		   code && !json_object_is_type(code, json_type_null) ? code : get(err, "type"));
	if (!r->error_code && !r->error_message)
		r->error_code = strdup("error");
}

/* Merges one tool call (whole or a streamed delta) into r->calls[idx]. */
static int merge_tool_call(struct ai_reply *r, size_t idx, json_object *tc)
{
	struct ai_tool_call *c = &r->calls[idx];
	json_object *fn = get(tc, "function"), *args = get(fn, "arguments");
	size_t name_len = c->name ? strlen(c->name) : 0;

	if (idx >= r->n_calls)
		r->n_calls = idx + 1;
	if (get(tc, "id") && json_object_get_string_len(get(tc, "id")) > 0)
		set_string(&c->id, get(tc, "id"));
	/* Names arrive whole in practice, but a fragmented name is concatenated like arguments. */
	if (append_json_string(&c->name, &name_len, get(fn, "name"), 256))
		return -E2BIG;
	if (json_object_is_type(args, json_type_object)) { /* some servers send an object */
		const char *text = json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN);

		return append(&c->arguments, &c->arguments_len, text, strlen(text),
			      AI_MAX_ARGUMENTS);
	}
	return append_json_string(&c->arguments, &c->arguments_len, args, AI_MAX_ARGUMENTS);
}

/* Drops empty slots left by sparse stream indexes and names calls that came without an id. */
static void finish_calls(struct ai_reply *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->n_calls; i++) {
		struct ai_tool_call *c = &r->calls[i];

		if (!c->id && !c->name && !c->arguments)
			continue;
		if (!c->id)
			c->id = text_printf("call_%zu", i);
		if (n != i) {
			r->calls[n] = *c;
			memset(c, 0, sizeof(*c));
		}
		n++;
	}
	r->n_calls = n;
}

static json_object *parse_json(const char *buf, size_t len)
{
	struct json_tokener *tok;
	json_object *o;

	if (len > AI_MAX_RESPONSE || len > 0x7fffffff)
		return NULL;
	tok = json_tokener_new_ex(64);
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o && json_tokener_get_error(tok) == json_tokener_success) {
		size_t off = json_tokener_get_parse_end(tok);

		while (off < len && strchr(" \t\r\n", buf[off]) && buf[off])
			off++;
		if (off != len) {
			json_object_put(o);
			o = NULL;
		}
	} else {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int ai_parse_response(const char *buf, size_t len, struct ai_reply *ret)
{
	json_object *root, *choice, *msg, *calls;
	int r = 0;
	size_t i, n;

	memset(ret, 0, sizeof(*ret));
	root = parse_json(buf, len);
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return -EBADMSG;
	}
	if (get(root, "error") && !json_object_is_type(get(root, "error"), json_type_null)) {
		parse_error_object(get(root, "error"), ret);
		goto out;
	}
	choice = first_choice(root);
	msg = get(choice, "message");
	if (!json_object_is_type(msg, json_type_object)) {
		r = -EBADMSG;
		goto out;
	}
	set_string(&ret->finish_reason, get(choice, "finish_reason"));
	r = append_json_string(&ret->content, &ret->content_len, get(msg, "content"),
			       AI_MAX_CONTENT);
	calls = get(msg, "tool_calls");
	n = json_object_is_type(calls, json_type_array) ? json_object_array_length(calls) : 0;
	for (i = 0; !r && i < n; i++) {
		if (i >= AI_MAX_TOOL_CALLS)
			r = -E2BIG;
		else
			r = merge_tool_call(ret, i, json_object_array_get_idx(calls, i));
	}
	finish_calls(ret);
out:
	json_object_put(root);
	return r;
}

void ai_sse_init(struct ai_sse *s, void (*on_text)(void *, const char *, size_t), void *opaque)
{
	memset(s, 0, sizeof(*s));
	s->last_slot = -1;
	s->on_text = on_text;
	s->opaque = opaque;
}

/* A tool-call delta's slot (-1: too many calls). A delta with an id belongs to the call with
 * that id; a new id starts a new call (in the slot its index named when that is still unused).
 * A delta without an id continues the call its index named, else the newest call. */
static long delta_index(struct ai_sse *s, json_object *tc)
{
	json_object *idxo = get(tc, "index"), *ido = get(tc, "id");
	const char *id = json_object_is_type(ido, json_type_string) &&
				 json_object_get_string_len(ido) > 0
			     ? json_object_get_string(ido)
			     : NULL;
	long idx = -1, slot = -1;

	if (json_object_is_type(idxo, json_type_int)) {
		int64_t v = json_object_get_int64(idxo);

		if (v < 0 || v >= AI_MAX_TOOL_CALLS)
			return -1;
		idx = (long)v;
	}
	if (id) {
		for (size_t i = 0; i < s->reply.n_calls; i++)
			if (s->reply.calls[i].id && !strcmp(s->reply.calls[i].id, id))
				slot = (long)i;
		if (slot < 0 && idx >= 0 && s->slot_of[idx] &&
		    !s->reply.calls[s->slot_of[idx] - 1].id)
			slot = s->slot_of[idx] - 1; /* the call began without its id */
		if (slot < 0)
			slot = (long)s->reply.n_calls;
	} else if (idx >= 0 && s->slot_of[idx]) {
		slot = s->slot_of[idx] - 1;
	} else if (idx < 0 && s->last_slot >= 0) {
		slot = s->last_slot;
	} else {
		slot = (long)s->reply.n_calls;
	}
	if (slot >= AI_MAX_TOOL_CALLS)
		return -1;
	if (idx >= 0)
		s->slot_of[idx] = (unsigned char)(slot + 1);
	s->last_slot = slot;
	return slot;
}

static int sse_chunk(struct ai_sse *s, json_object *chunk)
{
	json_object *choice, *delta, *text, *calls;
	size_t i, n, before = s->reply.content_len;
	int r;

	s->seen_chunk = true;
	if (get(chunk, "error") && !json_object_is_type(get(chunk, "error"), json_type_null)) {
		parse_error_object(get(chunk, "error"), &s->reply);
		return 0;
	}
	choice = first_choice(chunk);
	delta = get(choice, "delta");
	if (!delta)
		delta = get(choice, "message");
	set_string(&s->reply.finish_reason, get(choice, "finish_reason"));
	text = get(delta, "content");
	r = append_json_string(&s->reply.content, &s->reply.content_len, text, AI_MAX_CONTENT);
	if (r)
		return r;
	if (s->reply.content_len > before && s->on_text)
		s->on_text(s->opaque, s->reply.content + before, s->reply.content_len - before);
	calls = get(delta, "tool_calls");
	n = json_object_is_type(calls, json_type_array) ? json_object_array_length(calls) : 0;
	for (i = 0; i < n; i++) {
		json_object *tc = json_object_array_get_idx(calls, i);
		long idx = delta_index(s, tc);

		if (idx < 0)
			return -E2BIG;
		r = merge_tool_call(&s->reply, (size_t)idx, tc);
		if (r)
			return r;
	}
	return 0;
}

/* One complete line of the stream. Only data lines matter; each carries one JSON chunk. */
static int sse_line(struct ai_sse *s, char *line, size_t len)
{
	json_object *chunk;
	int r = 0;

	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len < 5 || memcmp(line, "data:", 5) != 0 || s->done)
		return 0;
	line += 5;
	len -= 5;
	if (len && *line == ' ') {
		line++;
		len--;
	}
	if (len == 6 && memcmp(line, "[DONE]", 6) == 0) {
		s->done = true;
		return 0;
	}
	chunk = parse_json(line, len);
	if (json_object_is_type(chunk, json_type_object))
		r = sse_chunk(s, chunk);
	json_object_put(chunk);
	return r;
}

int ai_sse_feed(struct ai_sse *s, const char *buf, size_t len)
{
	while (len && !s->overflow) {
		const char *nl = memchr(buf, '\n', len);
		size_t take = nl ? (size_t)(nl - buf) : len;
		int r;

		r = append(&s->line, &s->line_len, buf, take, AI_MAX_SSE_LINE);
		if (r) {
			s->overflow = true;
			return r;
		}
		if (!nl)
			return 0;
		r = sse_line(s, s->line ? s->line : (char *)"", s->line_len);
		s->line_len = 0;
		if (r) {
			s->overflow = true;
			return r;
		}
		buf += take + 1;
		len -= take + 1;
	}
	return s->overflow ? -E2BIG : 0;
}

int ai_sse_finish(struct ai_sse *s, struct ai_reply *ret)
{
	int r = s->overflow ? -E2BIG : 0;

	if (!r && s->line_len) /* a last line without its newline */
		r = sse_line(s, s->line, s->line_len);
	free(s->line);
	s->line = NULL;
	s->line_len = 0;
	finish_calls(&s->reply);
	*ret = s->reply;
	memset(&s->reply, 0, sizeof(s->reply));
	if (!r && !s->seen_chunk)
		r = -EBADMSG;
	return r;
}
