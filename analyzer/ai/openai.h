/* The OpenAI-compatible backend (Chat Completions with function calling over libcurl): its
 * ai_backend_ops, its defaults, and its HTTP retry policy, pure so that tests can pin it. */
#ifndef NETSPY_AI_OPENAI_H
#define NETSPY_AI_OPENAI_H

#include <stdbool.h>
#include <time.h>

#include "ai/backend.h"

#define OPENAI_DEFAULT_BASE_URL "https://api.openai.com/v1"
#define OPENAI_DEFAULT_MODEL "gpt-4o-mini"

extern const struct ai_backend_ops openai_backend;

/* The answer's length limit, sent with every request (a thinking model's reasoning counts). */
#define OPENAI_MAX_ANSWER_TOKENS 4096

/* The request field that limits the answer, for the server at base_url: OpenAI's API (and Azure
 * OpenAI) honours "max_completion_tokens" and refuses "max_tokens" for its newer models; the
 * servers people run themselves (Ollama, vLLM, llama.cpp, LM Studio) honour "max_tokens" and
 * some ignore "max_completion_tokens". A server that refuses the field gets the other one. */
const char *openai_token_limit_field(const char *base_url);

bool openai_retryable(long status, const char *error_code);
/* Seconds to wait from a Retry-After value (delta-seconds or HTTP date), -1 when unusable. */
long openai_retry_after(const char *value, time_t now);
/* Milliseconds to wait before retry number attempt (1, 2, ...): the server's Retry-After when
 * given (capped), else exponential backoff with jitter (rnd in [0, 1)). */
long openai_backoff_ms(int attempt, long retry_after_s, double rnd);

#endif
