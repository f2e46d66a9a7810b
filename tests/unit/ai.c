/* Unit tests of the AI module's pure parts: HTTP retry policy, Retry-After, backoff, the response
 * and SSE parsers and the terminal-safe text filter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ai/offline.h"
#include "ai/openai.h"
#include "ai/parse.h"
#include "core/text.h"
#include "check.h"

static void test_retry_policy(void)
{
	CHECK(openai_retryable(429, "rate_limit_exceeded"), "429 is retried");
	CHECK(!openai_retryable(429, "insufficient_quota"), "429 insufficient_quota is not");
	CHECK(openai_retryable(408, NULL) && openai_retryable(409, NULL), "408 and 409 retried");
	CHECK(openai_retryable(500, NULL) && openai_retryable(503, NULL), "5xx retried");
	CHECK(!openai_retryable(401, NULL) && !openai_retryable(403, NULL), "401/403 not");
	CHECK(!openai_retryable(400, NULL) && !openai_retryable(404, NULL), "400/404 not");
}

static void test_retry_after(void)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
	CHECK(openai_retry_after(" 7", 0) == 7, "Retry-After in seconds");
	CHECK(openai_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770) == 7,
	      "Retry-After as an HTTP date");
	CHECK(openai_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111799) == 0,
	      "a date in the past means now");
	CHECK(openai_retry_after("soon", 0) == -1 && openai_retry_after("", 0) == -1 &&
		  openai_retry_after(NULL, 0) == -1 && openai_retry_after("5x", 0) == -1,
	      "unusable values are ignored");
}

static void test_backoff(void)
{
	long a = openai_backoff_ms(1, -1, 0), b = openai_backoff_ms(1, -1, 0.999);
	long c = openai_backoff_ms(3, -1, 0), d = openai_backoff_ms(30, -1, 0.999);

	CHECK(a == 250 && b < 500 && b >= 490, "first backoff 250-500 ms with jitter (%ld, %ld)", a,
	      b);
	CHECK(c == 1000, "grows exponentially (%ld)", c);
	CHECK(d <= 8000, "capped (%ld)", d);
	CHECK(openai_backoff_ms(1, 3, 0.5) == 3000, "Retry-After wins");
	CHECK(openai_backoff_ms(1, 3600, 0.5) == 30000, "Retry-After is capped");
}

static void test_parse(void)
{
	static const char answer[] = "{\"choices\":[{\"message\":{\"content\":\"hi\"},"
				     "\"finish_reason\":\"stop\"}]}";
	static const char calls[] =
	    "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":["
	    "{\"id\":\"c1\",\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}},"
	    "{\"function\":{\"name\":\"b\",\"arguments\":{\"pid\":1}}}]}}]}";
	static const char err[] = "{\"error\":{\"message\":\"m\",\"code\":\"insufficient_quota\"}}";
	struct ai_reply r;

	CHECK(ai_parse_response(answer, strlen(answer), &r) == 0 && r.content_len == 2 &&
		  !strcmp(r.content, "hi") && r.n_calls == 0,
	      "an answer");
	ai_reply_free(&r);
	CHECK(ai_parse_response(calls, strlen(calls), &r) == 0 && r.n_calls == 2 && !r.content,
	      "tool calls");
	CHECK(r.n_calls == 2 && !strcmp(r.calls[0].id, "c1") && !strcmp(r.calls[1].id, "call_1") &&
		  !strcmp(r.calls[1].arguments, "{\"pid\":1}"),
	      "missing ids are generated, object arguments become text");
	ai_reply_free(&r);
	CHECK(ai_parse_response(err, strlen(err), &r) == 0 &&
		  !strcmp(r.error_code, "insufficient_quota") && !strcmp(r.error_message, "m"),
	      "an error body");
	ai_reply_free(&r);
	CHECK(ai_parse_response("{\"choices\":[]} x", 16, &r) == -EBADMSG, "trailing garbage");
	ai_reply_free(&r);
	CHECK(ai_parse_response("[]", 2, &r) == -EBADMSG, "not an object");
	ai_reply_free(&r);
}

static char streamed[256];

static void on_text(void *opaque, const char *text, size_t len)
{
	strncat(streamed, text, len);
}

static void test_sse(void)
{
	static const char s[] =
	    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
	    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\",\"tool_calls\":[{\"index\":2,"
	    "\"id\":\"x\",\"function\":{\"name\":\"get_\",\"arguments\":\"{\\\"a\"}}]}}]}\r\n\r\n"
	    "event: ignored\n"
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":2,\"function\":{"
	    "\"name\":\"x\",\"arguments\":\"\\\":1}\"}}]}}]}\n"
	    "data: [DONE]\n"
	    "data: {\"choices\":[{\"delta\":{\"content\":\"after done\"}}]}\n";
	struct ai_sse p;
	struct ai_reply r;
	size_t i;

	ai_sse_init(&p, on_text, NULL);
	for (i = 0; i < sizeof(s) - 1; i++)
		ai_sse_feed(&p, s + i, 1);
	CHECK(ai_sse_finish(&p, &r) == 0, "a stream fed byte by byte");
	CHECK(r.content && !strcmp(r.content, "Hello") && !strcmp(streamed, "Hello"),
	      "text deltas accumulate and are passed on (%s)", streamed);
	CHECK(r.n_calls == 1 && !strcmp(r.calls[0].id, "x") && !strcmp(r.calls[0].name, "get_x") &&
		  !strcmp(r.calls[0].arguments, "{\"a\":1}"),
	      "tool-call deltas merge by index (sparse index compacted)");
	ai_reply_free(&r);
	ai_sse_init(&p, NULL, NULL);
	CHECK(ai_sse_finish(&p, &r) == -EBADMSG, "an empty stream is an error");
	ai_reply_free(&r);
}

/* Feeds a whole stream; the reply in *r. */
static int sse_all(const char *s, struct ai_reply *r)
{
	struct ai_sse p;

	ai_sse_init(&p, NULL, NULL);
	ai_sse_feed(&p, s, strlen(s));
	return ai_sse_finish(&p, r);
}

/* Streams as servers in use send them (shapes recorded from their OpenAI-compatible
 * endpoints), reduced to what matters. */
static void test_sse_servers(void)
{
	/* Every call at index 0, a new id for each, fragments without id. */
	static const char index0[] =
	    "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,"
	    "\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":"
	    "\"get_network_summary\",\"arguments\":\"\"}}]}}]}\n"
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
	    "{\"arguments\":\"{\\\"duration\\\":60}\"}}]}}]}\n"
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_b\","
	    "\"type\":\"function\",\"function\":{\"name\":\"get_packet_drop_summary\","
	    "\"arguments\":\"{\"}}]}}]}\n"
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
	    "{\"arguments\":\"}\"}}]}}]}\n"
	    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n"
	    "data: [DONE]\n";
	/* No index at all: each call arrives whole with its id, then more fragments. */
	static const char noindex[] =
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"c1\",\"function\":"
	    "{\"name\":\"list_connections\",\"arguments\":\"{\\\"max_\"}}]}}]}\n"
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":"
	    "\"events\\\":5}\"}}]}}]}\n"
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"c2\",\"function\":"
	    "{\"name\":\"analyze_patterns\",\"arguments\":\"{}\"}}]}}]}\n"
	    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n";
	/* A thinking model: reasoning_content (DeepSeek, vLLM) and reasoning (OpenRouter,
	 * Ollama) deltas before the answer. */
	static const char reasoning[] =
	    "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null,"
	    "\"reasoning_content\":\"The user wants\"}}]}\n"
	    "data: {\"choices\":[{\"delta\":{\"reasoning\":\" a summary.\"}}]}\n"
	    "data: {\"choices\":[{\"delta\":{\"content\":\"All good.\"}}]}\n"
	    "data: [DONE]\n";
	static const char reasoning_body[] =
	    "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"42 drops.\","
	    "\"reasoning_content\":\"Let me think\",\"reasoning\":\"more thoughts\"},"
	    "\"finish_reason\":\"stop\"}]}";
	struct ai_reply r;

	CHECK(sse_all(index0, &r) == 0 && r.n_calls == 2 && !strcmp(r.calls[0].id, "call_a") &&
		  !strcmp(r.calls[0].name, "get_network_summary") &&
		  !strcmp(r.calls[0].arguments, "{\"duration\":60}") &&
		  !strcmp(r.calls[1].id, "call_b") &&
		  !strcmp(r.calls[1].name, "get_packet_drop_summary") &&
		  !strcmp(r.calls[1].arguments, "{}"),
	      "index 0 for every call: a new id is a new call, fragments go to the newest");
	ai_reply_free(&r);
	CHECK(sse_all(noindex, &r) == 0 && r.n_calls == 2 && !strcmp(r.calls[0].id, "c1") &&
		  !strcmp(r.calls[0].arguments, "{\"max_events\":5}") &&
		  !strcmp(r.calls[1].name, "analyze_patterns") &&
		  !strcmp(r.finish_reason, "stop"),
	      "no index: calls split by id, with finish_reason stop");
	ai_reply_free(&r);
	CHECK(sse_all(reasoning, &r) == 0 && r.content && !strcmp(r.content, "All good."),
	      "reasoning and reasoning_content deltas stay out of the answer (%s)",
	      r.content ? r.content : "(none)");
	ai_reply_free(&r);
	CHECK(ai_parse_response(reasoning_body, strlen(reasoning_body), &r) == 0 && r.content &&
		  !strcmp(r.content, "42 drops."),
	      "a whole message's reasoning fields stay out of the answer");
	ai_reply_free(&r);
}

static void test_filter(void)
{
	static const char in[] = "a\033[31mb\033]0;t\007c\033Pq\033\\d\r\x01\x7f"
				 "\xc2\x9b"
				 "1;2me\xe2\x80\xae"
				 "f\xff\xc3\xa9\n\tg\033(Bh";
	char *out = text_clean(in, sizeof(in) - 1);
	struct text_filter f;
	char buf[64];
	size_t n;

	CHECK(out && !strcmp(out, "abcde"
				  "f\xc3\xa9\n\tgh"),
	      "escapes, controls, C1, bidi and "
	      "invalid UTF-8 removed (%s)",
	      out);
	free(out);
	text_filter_init(&f);
	n = text_filter_run(&f, "x\033[", 3, buf);
	n += text_filter_run(&f, "2Jy\xc3", 4, buf + n);
	n += text_filter_run(&f, "\xa9", 1, buf + n);
	CHECK(n == 4 && !memcmp(buf, "xy\xc3\xa9", 4), "sequences split across pieces");
}

int main(void)
{
	test_retry_policy();
	test_retry_after();
	test_backoff();
	test_parse();
	test_sse();
	test_sse_servers();
	CHECK(!strcmp(openai_token_limit_field("https://api.openai.com/v1"), "max_completion_tokens") &&
		  !strcmp(openai_token_limit_field("https://x.openai.azure.com/openai/v1"),
			  "max_completion_tokens") &&
		  !strcmp(openai_token_limit_field("http://127.0.0.1:11434/v1"), "max_tokens") &&
		  !strcmp(openai_token_limit_field("https://api.openai.com.evil.test/v1"),
			  "max_tokens"),
	      "the length field: max_completion_tokens for OpenAI, max_tokens elsewhere");
	test_filter();
	return CHECK_DONE();
}
