/* Fuzzes what a model server (or a user) can send: the Chat Completions response parser, the SSE
 * stream parser, the terminal-safe text filter and the offline analyst's reading of a summary.
 * Beyond "no crash, no leak, no undefined behaviour": the SSE parser gives the same reply whether
 * the bytes arrive at once or in small pieces, bounds hold, and filtered text never contains an
 * escape or control character but newline and tab. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ai/offline.h"
#include "ai/openai.h"
#include "ai/parse.h"
#include "core/text.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_reply(const struct ai_reply *r)
{
	size_t i;

	check(r->n_calls <= AI_MAX_TOOL_CALLS);
	check(r->content_len < AI_MAX_CONTENT);
	check(!r->content || strlen(r->content) <= r->content_len);
	for (i = 0; i < r->n_calls; i++) {
		check(r->calls[i].id != NULL);
		check(r->calls[i].arguments_len < AI_MAX_ARGUMENTS);
	}
}

static int sse_parse(const uint8_t *data, size_t size, size_t piece, struct ai_reply *ret)
{
	struct ai_sse s;
	size_t off;
	int r = 0;

	ai_sse_init(&s, NULL, NULL);
	for (off = 0; off < size && !r; off += piece)
		r = ai_sse_feed(&s, (const char *)data + off,
				size - off < piece ? size - off : piece);
	return ai_sse_finish(&s, ret) ?: r;
}

static void check_clean(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		check((unsigned char)s[i] >= 0x20 ? s[i] != 0x7f : s[i] == '\n' || s[i] == '\t');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ai_reply a, b, c;
	struct text_filter f;
	char *clean, *out;
	size_t i, n = 0;
	int ra, rb;

	ai_parse_response((const char *)data, size, &a);
	check_reply(&a);
	ai_reply_free(&a);

	ra = sse_parse(data, size, size ? size : 1, &b);
	rb = sse_parse(data, size, 3, &c);
	check_reply(&b);
	check_reply(&c);
	check(ra == rb);
	check(b.content_len == c.content_len && b.n_calls == c.n_calls);
	check(!b.content_len || memcmp(b.content, c.content, b.content_len) == 0);
	for (i = 0; i < b.n_calls; i++)
		check(strcmp(b.calls[i].id, c.calls[i].id) == 0 &&
		      b.calls[i].arguments_len == c.calls[i].arguments_len);
	ai_reply_free(&b);
	ai_reply_free(&c);

	/* The text filter: the same result in one piece and byte by byte. */
	clean = text_clean((const char *)data, size);
	out = malloc(size + 5);
	if (clean && out) {
		check_clean(clean, strlen(clean));
		text_filter_init(&f);
		for (i = 0; i < size; i++)
			n += text_filter_run(&f, (const char *)data + i, 1, out + n);
		check(n <= size);
		check(n >= strlen(clean) && memcmp(out, clean, strlen(clean)) == 0);
	}
	free(out);
	free(clean);

	/* The offline analyst reads numbers out of a summary text (at most 16 KiB by schema). */
	if (size <= 16384 && (clean = malloc(size + 1))) {
		json_object *res = NULL;
		char *err = NULL;

		memcpy(clean, data, size);
		clean[size] = '\0';
		check(ai_offline_insights(clean, &res, &err) == 0 && res);
		check_clean(
		    json_object_get_string(json_object_object_get(res, "insights")),
		    strlen(json_object_get_string(json_object_object_get(res, "insights"))));
		json_object_put(res);
		free(err);
		free(clean);
	}
	return 0;
}
