/* Schema-driven option parsing for the tools (see cliargs.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "frontends/cliargs.h"

__attribute__((format(printf, 2, 3))) static int fail(char **ret_error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*ret_error = text_vprintf(fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void cliargs_option_name(const char *property, char *buf, size_t len)
{
	size_t i;

	if (!strcmp(property, "process_name")) {
		snprintf(buf, len, "--process");
		return;
	}
	snprintf(buf, len, "--%s", property);
	for (i = 2; buf[i]; i++)
		if (buf[i] == '_')
			buf[i] = '-';
}

/* The property an option names ("--process" and "--process-name" both name process_name). */
static const char *property_of(json_object *props, const char *opt, size_t opt_len)
{
	json_object_object_foreach (props, k, unused) {
		char name[64];

		(void)unused;
		cliargs_option_name(k, name, sizeof(name));
		if (strlen(name) == opt_len && !strncmp(name, opt, opt_len))
			return k;
		snprintf(name, sizeof(name), "--%s", k);
		for (char *p = name + 2; *p; p++)
			*p = *p == '_' ? '-' : *p;
		if (strlen(name) == opt_len && !strncmp(name, opt, opt_len))
			return k;
	}
	return NULL;
}

static const char *type_of(json_object *prop)
{
	json_object *t;

	if (!json_object_object_get_ex(prop, "type", &t))
		return "string";
	if (json_object_is_type(t, json_type_array))
		t = json_object_array_get_idx(t, 0);
	return json_object_get_string(t);
}

static int convert(const char *opt, const char *type, const char *val, json_object **ret,
		   char **ret_error)
{
	char *end;
	long long n;

	if (!strcmp(type, "integer")) {
		errno = 0;
		n = strtoll(val, &end, 10);
		if (!*val || *end || errno)
			return fail(ret_error, "%s needs a whole number, not '%s'", opt, val);
		*ret = json_object_new_int64(n);
	} else if (!strcmp(type, "number")) {
		double d = strtod(val, &end);

		if (!*val || *end)
			return fail(ret_error, "%s needs a number, not '%s'", opt, val);
		*ret = json_object_new_double(d);
	} else if (!strcmp(type, "boolean")) {
		if (strcmp(val, "true") && strcmp(val, "false"))
			return fail(ret_error, "%s needs true or false, not '%s'", opt, val);
		*ret = json_object_new_boolean(!strcmp(val, "true"));
	} else {
		*ret = json_object_new_string(val);
	}
	return 0;
}

/* The property positional words fill: the first required string property. */
static const char *positional_property(json_object *schema, json_object *props)
{
	json_object *req, *p;

	if (!json_object_object_get_ex(schema, "required", &req))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(req); i++) {
		const char *k = json_object_get_string(json_object_array_get_idx(req, i));

		if (json_object_object_get_ex(props, k, &p) && !strcmp(type_of(p), "string"))
			return k;
	}
	return NULL;
}

static char *option_list(json_object *props)
{
	char list[512] = "";

	json_object_object_foreach (props, k, unused) {
		char name[64];

		(void)unused;
		cliargs_option_name(k, name, sizeof(name));
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 list[0] ? ", " : "", name);
	}
	return strdup(list[0] ? list : "none");
}

static int unknown_option(const struct tool *t, json_object *props, const char *opt,
			  char **ret_error)
{
	char *list = option_list(props);
	int r = fail(ret_error, "unknown option '%s' for %s (its options: %s)", opt, t->command,
		     list ? list : "?");

	free(list);
	return r;
}

/* Appends a positional word to the text of property k (words are joined with spaces). */
static void add_word(json_object *args, const char *k, const char *word)
{
	json_object *prev;
	char *s;

	if (json_object_object_get_ex(args, k, &prev) &&
	    asprintf(&s, "%s %s", json_object_get_string(prev), word) >= 0) {
		json_object_object_add(args, k, json_object_new_string(s));
		free(s);
		return;
	}
	json_object_object_add(args, k, json_object_new_string(word));
}

static int parse_words(const struct tool *t, json_object *schema, json_object *props, int argc,
		       char **argv, json_object *args, char **ret_error)
{
	const char *positional = positional_property(schema, props);
	bool options_done = false;

	for (int i = 0; i < argc; i++) {
		const char *w = argv[i], *eq, *k, *val;
		json_object *prop, *v = NULL;
		char opt[64];
		size_t len;
		int r;

		if (options_done || strncmp(w, "--", 2) || !w[2]) {
			if (!options_done && !strcmp(w, "--")) {
				options_done = true;
				continue;
			}
			if (!positional)
				return fail(ret_error,
					    "%s takes no argument '%s' (options start with --)",
					    t->command, w);
			add_word(args, positional, w);
			continue;
		}
		eq = strchr(w, '=');
		len = eq ? (size_t)(eq - w) : strlen(w);
		k = property_of(props, w, len);
		if (!k)
			return unknown_option(t, props, w, ret_error);
		json_object_object_get_ex(props, k, &prop);
		if (!strcmp(type_of(prop), "boolean") && !eq) {
			json_object_object_add(args, k, json_object_new_boolean(1));
			continue;
		}
		if (!eq && i + 1 >= argc)
			return fail(ret_error, "%.*s needs a value", (int)len, w);
		val = eq ? eq + 1 : argv[++i];
		snprintf(opt, sizeof(opt), "%.*s", (int)len, w);
		r = convert(opt, type_of(prop), val, &v, ret_error);
		if (r < 0)
			return r;
		json_object_object_add(args, k, v);
	}
	return 0;
}

int tool_args_from_argv(const struct tool *t, int argc, char **argv, json_object **ret,
			char **ret_error)
{
	json_object *schema = json_tokener_parse(t->input_schema), *props = NULL, *args;
	int r;

	if (!schema || !json_object_object_get_ex(schema, "properties", &props)) {
		json_object_put(schema);
		return fail(ret_error, "internal error: %s has no argument schema", t->name);
	}
	args = json_object_new_object();
	r = parse_words(t, schema, props, argc, argv, args, ret_error);
	json_object_put(schema);
	if (r < 0) {
		json_object_put(args);
		return r;
	}
	*ret = args;
	return 0;
}

int tool_args_from_pairs(const struct tool *t, size_t n, const char *const *keys,
			 const char *const *values, json_object **ret, char **ret_error)
{
	json_object *schema = json_tokener_parse(t->input_schema), *props = NULL, *args;
	int r = 0;

	if (!schema || !json_object_object_get_ex(schema, "properties", &props)) {
		json_object_put(schema);
		return fail(ret_error, "internal error: %s has no argument schema", t->name);
	}
	args = json_object_new_object();
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *k = keys[i] ? keys[i] : "", *val = values[i] ? values[i] : "";
		json_object *prop, *v = NULL;

		if (!json_object_object_get_ex(props, k, &prop)) {
			char list[512] = "";

			json_object_object_foreach (props, name, unused) {
				(void)unused;
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 list[0] ? ", " : "", name);
			}
			r = fail(ret_error, "unknown parameter '%.64s' (its parameters: %s)", k,
				 list[0] ? list : "none");
		} else if (json_object_object_get_ex(args, k, NULL)) {
			r = fail(ret_error, "parameter '%s' is given twice", k);
		} else if ((r = convert(k, type_of(prop), val, &v, ret_error)) == 0) {
			json_object_object_add(args, k, v);
		}
	}
	json_object_put(schema);
	if (r < 0) {
		json_object_put(args);
		return r;
	}
	*ret = args;
	return 0;
}

static const char *metavar(const char *k, const char *type)
{
	if (!strcmp(k, "pid"))
		return "PID";
	if (!strcmp(k, "process_name"))
		return "NAME";
	if (!strcmp(k, "duration"))
		return "SECONDS";
	if (!strcmp(k, "unit"))
		return "UNIT";
	if (!strcmp(k, "since") || !strcmp(k, "until"))
		return "TIME";
	return !strcmp(type, "integer") ? "N" : "TEXT";
}

/* Prints text wrapped at 80 columns. */
static void print_wrapped(FILE *f, const char *text)
{
	size_t col = 0;

	while (*text) {
		size_t n = strcspn(text, " ");

		if (col && col + 1 + n > 80) {
			fputc('\n', f);
			col = 0;
		} else if (col) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)n, text);
		col += n;
		text += n;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

void tool_print_help(FILE *f, const struct tool *t, const char *program)
{
	json_object *schema = json_tokener_parse(t->input_schema), *props = NULL;
	const char *pos = NULL;

	if (schema && json_object_object_get_ex(schema, "properties", &props))
		pos = positional_property(schema, props);
	fprintf(f, "Usage: %s %s [OPTION]...%s\n", program, t->command,
		pos ? (strcmp(pos, "query") ? " TEXT" : " QUERY") : "");
	if (t->alias)
		fprintf(f, "   or: %s %s ...\n", program, t->alias);
	fprintf(f, "%s (tool %s).\n\n", t->title, t->name);
	print_wrapped(f, t->description);
	if (props && json_object_object_length(props))
		fprintf(f, "\nOptions:\n");
	json_object_object_foreach (props, k, p) {
		char name[64], left[96];
		json_object *d = NULL;

		cliargs_option_name(k, name, sizeof(name));
		snprintf(left, sizeof(left), "%s %s", name, metavar(k, type_of(p)));
		json_object_object_get_ex(p, "description", &d);
		fprintf(f, "  %-22s %s%s\n", left, d ? json_object_get_string(d) : "",
			k == pos || (pos && !strcmp(k, pos)) ? " (or give it as words)" : "");
	}
	fprintf(f, "\n  --json                 print the result as one JSON object\n");
	json_object_put(schema);
}
