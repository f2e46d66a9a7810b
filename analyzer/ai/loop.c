/* The function-calling loop: offers the read-only data tools of ctx->tools to the model as
 * functions, runs every call the model makes through tool_invoke and answers it with a tool
 * message, until the model answers in text or a bound is reached. The model's replies are never
 * trusted: unknown functions and malformed arguments become errors it can correct. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ai/loop.h"
#include "core/text.h"
#include "tools/tool.h"

#define AI_DEFAULT_MAX_ITERATIONS 8
#define AI_DEFAULT_MAX_BYTES (512u << 10)
#define AI_DEFAULT_MAX_TOOL_BYTES (128u << 10)

void ai_loop_limits_default(struct ai_loop_limits *l)
{
	const char *v = getenv("NETSPY_AI_MAX_ITERATIONS");
	long n = v ? strtol(v, NULL, 10) : 0;

	l->max_iterations = n >= 1 && n <= 64 ? (int)n : AI_DEFAULT_MAX_ITERATIONS;
	v = getenv("NETSPY_AI_MAX_BYTES");
	n = v ? strtol(v, NULL, 10) : 0;
	l->max_bytes = n >= 1024 && n <= (64l << 20) ? (size_t)n : AI_DEFAULT_MAX_BYTES;
	l->max_tool_bytes = AI_DEFAULT_MAX_TOOL_BYTES;
}

/* Function names the API accepts: ^[a-zA-Z0-9_-]{1,64}$ */
static bool name_valid(const char *n)
{
	size_t i, len = strlen(n);

	if (len < 1 || len > 64)
		return false;
	for (i = 0; i < len; i++)
		if (!(n[i] == '_' || n[i] == '-' || (n[i] >= '0' && n[i] <= '9') ||
		      (n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z')))
			return false;
	return true;
}

static bool offered(const struct tool *t)
{
	/* contextual_analysis is never offered to itself, whatever its descriptor says. */
	return t->offered_to_model && t->read_only && t->run &&
	       strcmp(t->name, "contextual_analysis") != 0 && name_valid(t->name);
}

static const struct tool *find_offered(const struct tool_context *ctx, const char *name)
{
	const struct tool *t = tool_lookup(ctx->tools, name, false);

	return t && offered(t) ? t : NULL;
}

json_object *ai_loop_functions(const struct tool_context *ctx)
{
	json_object *arr = json_object_new_array(), *fn, *def, *params;
	const struct tool *const *t;

	for (t = ctx->tools; arr && t && *t; t++) {
		if (!offered(*t))
			continue;
		params = json_tokener_parse((*t)->input_schema ? (*t)->input_schema : "{}");
		if (!json_object_is_type(params, json_type_object)) {
			json_object_put(params);
			continue;
		}
		fn = json_object_new_object();
		json_object_object_add(fn, "name", json_object_new_string((*t)->name));
		json_object_object_add(
		    fn, "description",
		    json_object_new_string((*t)->description ? (*t)->description : (*t)->name));
		json_object_object_add(fn, "parameters", params);
		def = json_object_new_object();
		json_object_object_add(def, "type", json_object_new_string("function"));
		json_object_object_add(def, "function", fn);
		json_object_array_add(arr, def);
	}
	return arr;
}

void ai_redact_cmdlines(json_object *o)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			ai_redact_cmdlines(json_object_array_get_idx(o, i));
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	if (json_object_object_get_ex(o, "cmdline", NULL))
		json_object_object_del(o, "cmdline");
	json_object_object_foreach(o, k, v)
	{
		(void)k;
		ai_redact_cmdlines(v);
	}
}

static char *error_json(const char *msg)
{
	json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "error", json_object_new_string(msg ? msg : "unknown error"));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static char *unknown_function(const struct tool_context *ctx, const char *name)
{
	const struct tool *const *t;
	size_t len = 0;
	char *names = NULL, *msg, *out;
	FILE *f = open_memstream(&names, &len);
	bool first = true;

	for (t = ctx->tools; f && t && *t; t++) {
		if (!offered(*t))
			continue;
		fprintf(f, "%s%s", first ? "" : ", ", (*t)->name);
		first = false;
	}
	if (f)
		fclose(f);
	msg = text_printf("unknown function '%.64s'; the available functions are: %s",
			  name ? name : "", names ? names : "none");
	out = error_json(msg);
	free(msg);
	free(names);
	return out;
}

/* Arguments text -> object; "" means no arguments. NULL when not a JSON object. */
static json_object *parse_arguments(const struct ai_tool_call *c)
{
	struct json_tokener *tok;
	json_object *o;

	if (!c->arguments || c->arguments_len == 0)
		return json_object_new_object();
	tok = json_tokener_new_ex(32);
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, c->arguments, (int)c->arguments_len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != c->arguments_len ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Runs one call; returns the tool message content (JSON text), recording what was called. */
static char *run_call(struct tool_context *ctx, const struct ai_tool_call *c,
		      const struct ai_loop_limits *l, json_object *tools_called)
{
	const struct tool *t = find_offered(ctx, c->name);
	json_object *args, *res = NULL, *rec;
	char *err = NULL, *out, *msg;
	const char *text;
	size_t len;

	if (!t)
		return unknown_function(ctx, c->name);
	args = parse_arguments(c);
	if (!args)
		return error_json("the arguments are not a valid JSON object; call the function "
				  "again with a JSON object that matches its parameters");
	if (ctx->progress)
		fprintf(ctx->progress, "netspy: calling %s %s\n", t->name,
			json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN));
	if (ctx->on_progress) {
		char *m = text_printf("calling %s %s", t->name,
				      json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN));

		tool_context_progress(ctx, m ? m : t->name);
		free(m);
	}
	rec = json_object_new_object();
	json_object_object_add(rec, "name", json_object_new_string(t->name));
	json_object_object_add(rec, "arguments", json_object_get(args));
	json_object_array_add(tools_called, rec);
	if (tool_invoke(t, ctx, args, &res, &err) < 0) {
		out = error_json(err ? err : "the tool failed");
		free(err);
		json_object_put(args);
		return out;
	}
	json_object_put(args);
	if (!ctx->ai.share_cmdline)
		ai_redact_cmdlines(res);
	text = json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN);
	len = strlen(text);
	if (len > l->max_tool_bytes) {
		msg =
		    text_printf("the result is too large (%zu bytes, limit %zu); ask again with a "
				"narrower scope (pid, process_name, a shorter duration or fewer "
				"events)",
				len, l->max_tool_bytes);
		out = error_json(msg);
		free(msg);
	} else {
		out = strdup(text);
	}
	json_object_put(res);
	return out;
}

/* The assistant message that carried tool calls, echoed back as the API requires. */
static json_object *assistant_message(const struct ai_reply *r)
{
	json_object *m = json_object_new_object(), *calls, *tc, *fn;
	size_t i;

	json_object_object_add(m, "role", json_object_new_string("assistant"));
	json_object_object_add(
	    m, "content",
	    r->content ? json_object_new_string_len(r->content, (int)r->content_len) : NULL);
	if (!r->n_calls)
		return m;
	calls = json_object_new_array();
	for (i = 0; i < r->n_calls; i++) {
		fn = json_object_new_object();
		json_object_object_add(
		    fn, "name", json_object_new_string(r->calls[i].name ? r->calls[i].name : ""));
		json_object_object_add(
		    fn, "arguments",
		    json_object_new_string_len(r->calls[i].arguments ? r->calls[i].arguments : "",
					       (int)r->calls[i].arguments_len));
		tc = json_object_new_object();
		json_object_object_add(tc, "id", json_object_new_string(r->calls[i].id));
		json_object_object_add(tc, "type", json_object_new_string("function"));
		json_object_object_add(tc, "function", fn);
		json_object_array_add(calls, tc);
	}
	json_object_object_add(m, "tool_calls", calls);
	return m;
}

static json_object *tool_message(const char *id, const char *content)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "role", json_object_new_string("tool"));
	json_object_object_add(m, "tool_call_id", json_object_new_string(id));
	json_object_object_add(m, "content", json_object_new_string(content));
	return m;
}

/* Answers every call of r, in order; returns the bytes of tool output added. */
static size_t answer_calls(struct tool_context *ctx, const struct ai_reply *r,
			   const struct ai_loop_limits *l, json_object *messages,
			   json_object *tools_called)
{
	size_t i, bytes = 0;

	for (i = 0; i < r->n_calls; i++) {
		char *content = run_call(ctx, &r->calls[i], l, tools_called);

		if (!content)
			content = error_json("out of memory");
		bytes += content ? strlen(content) : 0;
		json_object_array_add(messages,
				      tool_message(r->calls[i].id, content ? content : "{}"));
		free(content);
	}
	return bytes;
}

/* The answer the person sees: the model's text (made terminal-safe), plus why it is partial. */
static void set_answer(json_object *result, const char *text, size_t len, const char *why)
{
	char *clean = text_clean(text ? text : "", text ? len : 0), *all;

	if (why)
		all = text_printf("%s%s%s", clean ? clean : "", clean && *clean ? "\n\n" : "", why);
	else if (clean && !*clean)
		all = strdup("(the model returned an empty answer)");
	else
		all = clean ? strdup(clean) : NULL;
	json_object_object_add(result, "answer", json_object_new_string(all ? all : ""));
	json_object_object_add(result, "stopped_early", json_object_new_boolean(why != NULL));
	free(clean);
	free(all);
}

int ai_loop_run(struct tool_context *ctx, struct ai_backend *be, const struct ai_loop_limits *l,
		json_object *messages, json_object *result, char **ret_error)
{
	json_object *functions = ai_loop_functions(ctx), *tools_called = json_object_new_array();
	struct ai_reply reply = { 0 };
	size_t bytes = strlen(json_object_to_json_string(messages));
	bool streamed = false;
	char *why = NULL;
	int iter, r = 0;

	for (iter = 0;; iter++) {
		json_object *req;

		if (iter >= l->max_iterations) {
			why =
			    text_printf("Stopped early: the model was still calling tools after %d "
					"requests (netspy's limit), so this answer may be "
					"incomplete.",
					l->max_iterations);
			break;
		}
		ai_reply_free(&reply);
		if (tool_context_cancelled(ctx)) {
			*ret_error = strdup("the request was cancelled");
			r = -ECANCELED;
			goto out;
		}
		if (ctx->on_progress) {
			char *m = text_printf("asking the model (request %d)", iter + 1);

			tool_context_progress(ctx, m ? m : "asking the model");
			free(m);
		}
		req = json_object_new_object();
		json_object_object_add(req, "messages", json_object_get(messages));
		if (json_object_array_length(functions))
			json_object_object_add(req, "tools", json_object_get(functions));
		r = ai_backend_chat(be, req, ctx->stream_out, &reply, &streamed, ret_error);
		json_object_put(req);
		if (r)
			goto out;
		json_object_array_add(messages, assistant_message(&reply));
		if (!reply.n_calls) /* finish_reason is not trusted: no tool calls = an answer */
			break;
		bytes += answer_calls(ctx, &reply, l, messages, tools_called) + reply.content_len;
		if (bytes > l->max_bytes) {
			why =
			    text_printf("Stopped early: the tool output reached netspy's limit of "
					"%zu bytes before the model gave a final answer.",
					l->max_bytes);
			iter++;
			break;
		}
	}
	set_answer(result, reply.n_calls ? NULL : reply.content, reply.content_len, why);
	json_object_object_add(result, "iterations", json_object_new_int(iter + (why ? 0 : 1)));
	json_object_object_add(result, "tools_called", json_object_get(tools_called));
	json_object_object_add(result, "streamed", json_object_new_boolean(streamed && !why));
out:
	ai_reply_free(&reply);
	json_object_put(functions);
	json_object_put(tools_called);
	free(why);
	return r;
}
