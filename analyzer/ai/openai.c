/* The OpenAI-compatible backend: configuration (endpoint, model, key), and one Chat Completions
 * request with timeouts and retries. The API key lives in a mapping excluded from core dumps, is
 * sent only in the Authorization header and never appears in a message we produce. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <curl/curl.h>

#include "ai/openai.h"
#include "core/text.h"

#define AI_DEFAULT_TIMEOUT_S 120
#define AI_CONNECT_TIMEOUT_S 10
#define AI_MAX_ATTEMPTS 4
#define AI_RETRY_AFTER_CAP_S 30
#define AI_BACKOFF_BASE_MS 500
#define AI_BACKOFF_CAP_MS 8000
#define AI_KEY_MAX 4096

bool openai_retryable(long status, const char *error_code)
{
	if (status == 429)
		return !(error_code && strcmp(error_code, "insufficient_quota") == 0);
	return status == 408 || status == 409 || (status >= 500 && status <= 599);
}

long openai_retry_after(const char *value, time_t now)
{
	char *end;
	long v;
	time_t t;

	while (value && isspace((unsigned char)*value))
		value++;
	if (!value || !*value)
		return -1;
	if (isdigit((unsigned char)*value)) {
		errno = 0;
		v = strtol(value, &end, 10);
		while (isspace((unsigned char)*end))
			end++;
		return errno || *end ? -1 : v;
	}
	t = curl_getdate(value, NULL);
	if (t == (time_t)-1)
		return -1;
	return t > now ? (long)(t - now) : 0;
}

long openai_backoff_ms(int attempt, long retry_after_s, double rnd)
{
	long ms;

	if (retry_after_s >= 0)
		return (retry_after_s > AI_RETRY_AFTER_CAP_S ? AI_RETRY_AFTER_CAP_S
							     : retry_after_s) *
		       1000;
	ms = AI_BACKOFF_BASE_MS << (attempt > 5 ? 4 : attempt - 1);
	if (ms > AI_BACKOFF_CAP_MS)
		ms = AI_BACKOFF_CAP_MS;
	return (long)(ms * (0.5 + rnd / 2)); /* jitter: spread clients that failed together */
}

/* An open OpenAI-compatible backend. */
struct openai {
	struct ai_backend base;
	char *base_url;
	char *model;
	char *key; /* in a no-dump mapping; NULL for a local server without a key */
	size_t key_map_len;
	long timeout_s, connect_timeout_s;
	int max_attempts;
	const char *limit_field; /* openai_token_limit_field() */
};

const char *openai_token_limit_field(const char *base_url)
{
	const char *host = strstr(base_url, "://"), *end;
	size_t n;

	host = host ? host + 3 : base_url;
	end = host + strcspn(host, "/:?#");
	n = (size_t)(end - host);
	if ((n == strlen("api.openai.com") && !strncasecmp(host, "api.openai.com", n)) ||
	    (n > strlen(".openai.azure.com") &&
	     !strncasecmp(end - strlen(".openai.azure.com"), ".openai.azure.com",
			  strlen(".openai.azure.com"))))
		return "max_completion_tokens";
	return "max_tokens";
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Reads the key file into a no-dump mapping. -ENOENT when the file does not exist. */
static int key_read(struct openai *b, const char *path, char **ret_error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n = 0, got;

	if (fd < 0) {
		int err = errno; /* before anything can change it */

		*ret_error =
		    text_printf("cannot read the API key file %s: %s", path, strerror(err));
		return -err;
	}
	while (n < AI_KEY_MAX && (got = read(fd, b->key + n, AI_KEY_MAX - n)) > 0)
		n += got;
	close(fd);
	if (n >= AI_KEY_MAX) {
		*ret_error = text_printf("the API key file %s is too large", path);
		return -EFBIG;
	}
	b->key[n] = '\0';
	return 0;
}

/* The key goes into a header: trim it and refuse anything that could break the header. */
static int key_check(struct openai *b, const char *origin, bool explicit, char **ret_error)
{
	size_t n = strlen(b->key), start = 0, i;

	while (n && isspace((unsigned char)b->key[n - 1]))
		b->key[--n] = '\0';
	while (start < n && isspace((unsigned char)b->key[start]))
		start++;
	memmove(b->key, b->key + start, n - start + 1);
	n -= start;
	for (i = 0; i < n; i++) {
		if (b->key[i] <= 0x20 || b->key[i] >= 0x7f) {
			*ret_error = text_printf("the API key from %s contains spaces or control "
						 "characters",
						 origin);
			return -EINVAL;
		}
	}
	if (n == 0 && explicit) {
		*ret_error = text_printf("the API key file %s is empty", origin);
		return -EINVAL;
	}
	if (n == 0) {
		munmap(b->key, b->key_map_len);
		b->key = NULL;
	}
	return 0;
}

static int key_load(struct openai *b, const char *key_file, char **ret_error)
{
	const char *creds = env("CREDENTIALS_DIRECTORY"), *origin = NULL, *k;
	char *cred_path = NULL;
	int r = 0;

	b->key_map_len = 4 * AI_KEY_MAX; /* the key, then its Authorization header */
	b->key =
	    mmap(NULL, b->key_map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->key == MAP_FAILED) {
		b->key = NULL;
		return -ENOMEM;
	}
	madvise(b->key, b->key_map_len, MADV_DONTDUMP);
	b->key[0] = '\0';
	if (key_file) {
		origin = key_file;
		r = key_read(b, key_file, ret_error);
	} else if ((k = env("OPENAI_API_KEY"))) {
		origin = "OPENAI_API_KEY";
		if (strlen(k) >= AI_KEY_MAX) {
			*ret_error = strdup("OPENAI_API_KEY is too long");
			return -EINVAL;
		}
		strcpy(b->key, k);
	} else if (creds) {
		cred_path = text_printf("%s/openai_api_key", creds);
		origin = "the credential openai_api_key";
		if (cred_path && access(cred_path, F_OK) == 0)
			r = key_read(b, cred_path, ret_error);
		free(cred_path);
	}
	if (r)
		return r;
	r = key_check(b, origin ? origin : "", key_file != NULL, ret_error);
	/* libcurl copies the Authorization header into its own buffers, which MADV_DONTDUMP
	 * cannot reach: with a key loaded, the process makes no core dump at all. */
	if (!r && b->key)
		prctl(PR_SET_DUMPABLE, 0);
	return r;
}

static void openai_free(struct openai *b)
{
	if (!b)
		return;
	if (b->key) {
		explicit_bzero(b->key, b->key_map_len);
		munmap(b->key, b->key_map_len);
	}
	free(b->base_url);
	free(b->model);
	free(b);
}

static void openai_close(struct ai_backend *be)
{
	openai_free((struct openai *)be);
}

static long env_long(const char *name, long def, long min, long max)
{
	const char *v = env(name);
	char *end;
	long n;

	if (!v)
		return def;
	n = strtol(v, &end, 10);
	return *end || n < min || n > max ? def : n;
}

static bool is_default_url(const char *url)
{
	size_t n = strlen(OPENAI_DEFAULT_BASE_URL);

	return strncmp(url, OPENAI_DEFAULT_BASE_URL, n) == 0 &&
	       strspn(url + n, "/") == strlen(url + n);
}

static int openai_open(const struct ai_settings *s, struct ai_backend **ret_backend,
		       char **ret_error)
{
	const char *base = s->base_url ? s->base_url : env("OPENAI_BASE_URL");
	const char *model = s->model ? s->model : env("NETSPY_MODEL");
	struct openai *ret;
	size_t n;
	int r;

	*ret_backend = NULL;
	ret = calloc(1, sizeof(*ret));
	if (!ret)
		return -ENOMEM;
	r = key_load(ret, s->api_key_file, ret_error);
	if (r) {
		openai_free(ret);
		return -EREMOTEIO;
	}
	/* The OpenAI API without a key cannot answer: only another endpoint (a local server) is
	 * worth calling without one. Frontends may fill in the default URL themselves. */
	if (!ret->key && (!base || is_default_url(base))) {
		openai_free(ret);
		return 0; /* nothing configured: the offline analyst answers */
	}
	ret->base_url = strdup(base ? base : OPENAI_DEFAULT_BASE_URL);
	ret->model = strdup(model ? model : OPENAI_DEFAULT_MODEL);
	if (!ret->base_url || !ret->model) {
		openai_free(ret);
		return -ENOMEM;
	}
	n = strlen(ret->base_url);
	while (n && ret->base_url[n - 1] == '/')
		ret->base_url[--n] = '\0';
	ret->timeout_s = s->timeout_s > 0
			     ? s->timeout_s
			     : env_long("NETSPY_AI_TIMEOUT", AI_DEFAULT_TIMEOUT_S, 1, 3600);
	ret->connect_timeout_s =
	    ret->timeout_s < AI_CONNECT_TIMEOUT_S ? ret->timeout_s : AI_CONNECT_TIMEOUT_S;
	ret->max_attempts = AI_MAX_ATTEMPTS;
	ret->limit_field = openai_token_limit_field(ret->base_url);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ret->base.ops = &openai_backend;
	ret->base.model = ret->model;
	*ret_backend = &ret->base;
	return 0;
}

/* One transfer's state, shared by curl's callbacks. */
struct xfer {
	CURL *curl;
	char retry_after[64];
	bool event_stream; /* Content-Type: text/event-stream */
	int mode;	   /* 0 undecided, 1 body, 2 SSE */
	char *body;
	size_t body_len;
	bool too_large;
	struct ai_sse sse;
	FILE *stream_out;
	struct text_filter filter;
};

static bool header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *opaque)
{
	struct xfer *x = opaque;
	size_t len = size * nmemb, n;
	const char *v;

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new response (after 1xx) */
		x->retry_after[0] = '\0';
		x->event_stream = false;
	} else if (header_is(line, len, "Retry-After")) {
		v = line + strlen("Retry-After:");
		n = len - strlen("Retry-After:");
		if (n >= sizeof(x->retry_after))
			n = sizeof(x->retry_after) - 1;
		memcpy(x->retry_after, v, n);
		while (n && (v[n - 1] == '\r' || v[n - 1] == '\n'))
			n--;
		x->retry_after[n] = '\0';
	} else if (header_is(line, len, "Content-Type")) {
		v = line + strlen("Content-Type:");
		while (*v == ' ' || *v == '\t')
			v++;
		x->event_stream = strncasecmp(v, "text/event-stream", 17) == 0;
	}
	return len;
}

static void on_stream_text(void *opaque, const char *text, size_t len)
{
	struct xfer *x = opaque;
	char buf[4096 + 8];
	size_t n;

	while (len) {
		size_t take = len > 4096 ? 4096 : len;

		n = text_filter_run(&x->filter, text, take, buf);
		fwrite(buf, 1, n, x->stream_out);
		text += take;
		len -= take;
	}
	fflush(x->stream_out);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct xfer *x = opaque;
	size_t len = size * nmemb;
	long status = 0;
	char *p;

	if (!x->mode) {
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
		x->mode = status == 200 && x->event_stream ? 2 : 1;
		if (x->mode == 2)
			ai_sse_init(&x->sse, x->stream_out ? on_stream_text : NULL, x);
	}
	if (x->mode == 2) {
		if (ai_sse_feed(&x->sse, data, len)) {
			x->too_large = true;
			return 0;
		}
		return len;
	}
	if (x->body_len + len > AI_MAX_RESPONSE) {
		x->too_large = true;
		return 0;
	}
	p = realloc(x->body, x->body_len + len + 1);
	if (!p)
		return 0;
	memcpy(p + x->body_len, data, len);
	x->body = p;
	x->body_len += len;
	p[x->body_len] = '\0';
	return len;
}

static struct curl_slist *headers_make(const struct openai *b)
{
	struct curl_slist *h = NULL, *t;
	size_t klen;
	char *auth;

	h = curl_slist_append(h, "Content-Type: application/json");
	if (!h)
		return NULL;
	if (!b->key)
		return h; /* a local server without a key: no Authorization header at all */
	/* Built in the key's no-dump mapping, after the key, then wiped. */
	klen = strlen(b->key);
	auth = b->key + klen + 1;
	memcpy(auth, "Authorization: Bearer ", 22);
	memcpy(auth + 22, b->key, klen + 1);
	t = curl_slist_append(h, auth);
	explicit_bzero(auth, strlen(auth));
	if (!t) {
		curl_slist_free_all(h);
		return NULL;
	}
	return t;
}

/* Frees a header list after wiping the copies of the key it holds. */
static void headers_free(struct curl_slist *h)
{
	struct curl_slist *i;

	for (i = h; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

static void xfer_free(struct xfer *x)
{
	struct ai_reply r;

	if (x->mode == 2) {
		ai_sse_finish(&x->sse, &r);
		ai_reply_free(&r);
	}
	free(x->body);
	x->body = NULL;
	x->body_len = 0;
	x->mode = 0;
}

/* The server's own error message, made safe to show: no key, no escapes, short. NULL if none. */
static char *server_message(const struct openai *b, const struct ai_reply *r)
{
	char *m, *k;
	size_t klen;

	if (!r->error_message)
		return NULL;
	m = text_clean(r->error_message, strlen(r->error_message));
	if (!m)
		return NULL;
	if (b->key && (klen = strlen(b->key)) >= 4)
		while ((k = strstr(m, b->key)))
			memset(k, '*', klen);
	if (strlen(m) > 200)
		strcpy(m + 197, "...");
	return m;
}

static char *status_error(const struct openai *b, long status, const struct ai_reply *r,
			  int attempts)
{
	char *msg = NULL, *out;

	if (status == 401)
		return text_printf("the API key was rejected (HTTP 401); check OPENAI_API_KEY, "
				   "--api-key-file or the openai_api_key credential");
	if (status == 403)
		return text_printf("the model server refused access (HTTP 403); the key may lack "
				   "permission for model %s",
				   b->model);
	if (status == 429 && r->error_code && strcmp(r->error_code, "insufficient_quota") == 0)
		return text_printf(
		    "the API account has no quota left (HTTP 429 insufficient_quota)");
	msg = server_message(b, r);
	if (status == 404)
		out =
		    text_printf("the model server at %s answered HTTP 404 (is the base URL right, "
				"and does model %s exist?)%s%s",
				b->base_url, b->model, msg ? ": " : "", msg ? msg : "");
	else
		out = text_printf("the model server at %s answered HTTP %ld%s%s%s%s", b->base_url,
				  status, attempts > 1 ? " " : "",
				  attempts > 1 ? "after retries" : "", msg ? ": " : "",
				  msg ? msg : "");
	free(msg);
	return out;
}

static bool curl_retryable(CURLcode rc, CURL *c)
{
	double connect = 0;

	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		/* A connect that timed out is worth another try; a server that accepted the
		 * request and then said nothing for the whole budget is not. */
		curl_easy_getinfo(c, CURLINFO_CONNECT_TIME, &connect);
		return connect == 0;
	default:
		return false;
	}
}

static char *curl_error(const struct openai *b, CURLcode rc, const struct xfer *x)
{
	if (x->too_large)
		return text_printf("the model server's response exceeds netspy's limits");
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return text_printf("the model server at %s did not answer within %ld s (set "
				   "NETSPY_AI_TIMEOUT to wait longer)",
				   b->base_url, b->timeout_s);
	return text_printf("cannot reach the model server at %s: %s", b->base_url,
			   curl_easy_strerror(rc));
}

/* Turns a finished 200 transfer into a reply. */
static int xfer_reply(const struct openai *b, struct xfer *x, struct ai_reply *ret,
		      char **ret_error)
{
	char *msg;
	int r;

	if (x->mode == 2) {
		r = ai_sse_finish(&x->sse, ret);
		x->mode = 0;
	} else {
		r = ai_parse_response(x->body ? x->body : "", x->body_len, ret);
	}
	if (!r && (ret->error_code || ret->error_message)) {
		msg = server_message(b, ret);
		*ret_error = text_printf("the model server reported an error: %s",
					 msg ? msg : ret->error_code);
		free(msg);
		ai_reply_free(ret);
		return -EREMOTEIO;
	}
	if (r) {
		*ret_error = text_printf("the model server's response could not be understood "
					 "(not an OpenAI-compatible chat completion)");
		ai_reply_free(ret);
		return -EREMOTEIO;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static bool be_cancelled(const struct openai *b)
{
	return b->base.cancelled && b->base.cancelled(b->base.cancelled_data);
}

/* libcurl calls it often while a request is in flight: a cancelled call stops the transfer. */
static int on_xferinfo(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	return be_cancelled(opaque) ? 1 : 0;
}

static void xfer_setup(CURL *c, const struct openai *b, struct xfer *x, const char *url,
		       const char *body, struct curl_slist *h)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* never resend the key elsewhere */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "netspy/" NETSPY_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, b->connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, b->timeout_s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	if (b->base.cancelled) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)b);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
}

/* Runs attempts until one succeeds or fails for good. */
static int chat_attempts(struct openai *b, struct xfer *x, struct ai_reply *ret, char **ret_error)
{
	struct ai_reply err;
	int attempt;
	long status, wait;
	CURLcode rc;

	for (attempt = 1;; attempt++) {
		bool retry;

		x->retry_after[0] = '\0';
		rc = curl_easy_perform(x->curl);
		if (be_cancelled(b)) {
			*ret_error = strdup("the request was cancelled");
			return -ECANCELED;
		}
		status = 0;
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK && status == 200)
			return xfer_reply(b, x, ret, ret_error);
		memset(&err, 0, sizeof(err));
		if (rc == CURLE_OK)
			ai_parse_response(x->body ? x->body : "", x->body_len, &err);
		retry = rc != CURLE_OK ? curl_retryable(rc, x->curl) && !x->too_large
				       : openai_retryable(status, err.error_code);
		if (!retry || attempt >= b->max_attempts) {
			*ret_error = rc != CURLE_OK ? curl_error(b, rc, x)
						    : status_error(b, status, &err, attempt);
			ai_reply_free(&err);
			return -EREMOTEIO;
		}
		ai_reply_free(&err);
		wait = openai_backoff_ms(attempt, openai_retry_after(x->retry_after, time(NULL)),
					 arc4random() / 4294967296.0);
		if (b->base.progress)
			fprintf(b->base.progress,
				"netspy: the model server %s; retrying in %.1f s\n",
				rc != CURLE_OK ? "could not be reached" : "is busy or failing",
				wait / 1000.0);
		for (long slept = 0; slept < wait && !be_cancelled(b); slept += 100)
			sleep_ms(wait - slept < 100 ? wait - slept : 100);
		xfer_free(x);
	}
}

static int chat_once(struct openai *b, json_object *request, FILE *stream_out, struct ai_reply *ret,
		     bool *ret_streamed, char **ret_error, long *ret_status)
{
	struct xfer x = { .stream_out = stream_out };
	struct curl_slist *h = NULL;
	char *url = NULL;
	const char *body;
	int r = -ENOMEM;

	memset(ret, 0, sizeof(*ret));
	*ret_streamed = false;
	json_object_object_add(request, "model", json_object_new_string(b->model));
	json_object_object_add(request, "stream", json_object_new_boolean(stream_out != NULL));
	json_object_object_del(request, "max_tokens");
	json_object_object_del(request, "max_completion_tokens");
	json_object_object_add(request, b->limit_field, json_object_new_int(OPENAI_MAX_ANSWER_TOKENS));
	body = json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN);
	text_filter_init(&x.filter);
	url = text_printf("%s/chat/completions", b->base_url);
	x.curl = curl_easy_init();
	h = headers_make(b);
	if (!url || !x.curl || !h || !body) {
		*ret_error = strdup("out of memory");
		goto out;
	}
	xfer_setup(x.curl, b, &x, url, body, h);
	r = chat_attempts(b, &x, ret, ret_error);
	curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, ret_status);
	if (!r && stream_out && x.event_stream) {
		*ret_streamed = true;
		if (ret->content_len && ret->content[ret->content_len - 1] != '\n')
			fputc('\n', stream_out);
	}
out:
	xfer_free(&x);
	headers_free(h);
	if (x.curl)
		curl_easy_cleanup(x.curl);
	free(url);
	return r;
}

static int openai_chat(struct ai_backend *be, json_object *request, FILE *stream_out,
		       struct ai_reply *ret, bool *ret_streamed, char **ret_error)
{
	struct openai *b = (struct openai *)be;
	long status = 0;
	int r;

	r = chat_once(b, request, stream_out, ret, ret_streamed, ret_error, &status);
	if (r == -EREMOTEIO && status == 400 && *ret_error && strstr(*ret_error, b->limit_field)) {
		/* The server refuses the length field (OpenAI's newer models refuse max_tokens;
		 * some servers refuse max_completion_tokens): the other one from now on. */
		b->limit_field = strcmp(b->limit_field, "max_tokens") ? "max_tokens"
								     : "max_completion_tokens";
		free(*ret_error);
		*ret_error = NULL;
		r = chat_once(b, request, stream_out, ret, ret_streamed, ret_error, &status);
	}
	if (r && stream_out && status == 400) {
		/* Some servers refuse to stream (or to stream with tools): ask without it. */
		free(*ret_error);
		*ret_error = NULL;
		r = chat_once(b, request, NULL, ret, ret_streamed, ret_error, &status);
	}
	return r;
}

const struct ai_backend_ops openai_backend = {
	.name = "openai",
	.open = openai_open,
	.chat = openai_chat,
	.close = openai_close,
};
