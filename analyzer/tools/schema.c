/* schema_validate: the JSON Schema subset our tool schemas use (type, properties, required,
 * additionalProperties, enum, minimum, maximum, minLength, maxLength, items, anyOf for nullable values, type arrays),
 * with messages that name the offending field and say what is expected. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "tools/tool.h"

#define MAX_DEPTH 32

__attribute__((format(printf, 1, 2))) static char *msg(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = text_vprintf(fmt, ap);
	va_end(ap);
	return s ? s : strdup("invalid value");
}

static const char *type_of(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "boolean";
	case json_type_int:
		return "integer";
	case json_type_double:
		return "number";
	case json_type_string:
		return "string";
	case json_type_array:
		return "array";
	default:
		return "object";
	}
}

static bool is_type(json_object *v, const char *t)
{
	const char *have = type_of(v);

	if (!strcmp(t, have))
		return true;
	if (!strcmp(t, "number"))
		return !strcmp(have, "integer");
	if (!strcmp(t, "integer") && !strcmp(have, "number")) {
		double d = json_object_get_double(v);

		return isfinite(d) && d == floor(d);
	}
	return false;
}

/* "'pid'", "'events[2].pid'", or "the value" at the root. */
static const char *where(const char *path, char *buf, size_t len)
{
	if (!*path)
		return "the value";
	snprintf(buf, len, "'%s'", path);
	return buf;
}

static char *check_type(json_object *schema, json_object *v, const char *w)
{
	json_object *t;
	char want[128] = "";

	if (!json_object_object_get_ex(schema, "type", &t))
		return NULL;
	if (json_object_is_type(t, json_type_string))
		return is_type(v, json_object_get_string(t))
			   ? NULL
			   : msg("%s must be %s %s, not %s", w,
				 strchr("aeiou", json_object_get_string(t)[0]) ? "an" : "a",
				 json_object_get_string(t), type_of(v));
	for (size_t i = 0; i < json_object_array_length(t); i++) {
		const char *ti = json_object_get_string(json_object_array_get_idx(t, i));

		if (is_type(v, ti))
			return NULL;
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? " or " : "",
			 ti);
	}
	return msg("%s must be %s, not %s", w, want, type_of(v));
}

static char *check_enum(json_object *schema, json_object *v, const char *w)
{
	json_object *e;
	char list[512] = "";

	if (!json_object_object_get_ex(schema, "enum", &e))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(e); i++) {
		json_object *x = json_object_array_get_idx(e, i);

		if (json_object_equal(x, v))
			return NULL;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 json_object_to_json_string(x));
	}
	return msg("%s must be one of: %s", w, list);
}

static char *check_bounds(json_object *schema, json_object *v, const char *w)
{
	json_object *b;

	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		if (json_object_object_get_ex(schema, "minimum", &b) &&
		    d < json_object_get_double(b))
			return msg("%s must be at least %s (got %s)", w,
				   json_object_to_json_string(b), json_object_to_json_string(v));
		if (json_object_object_get_ex(schema, "maximum", &b) &&
		    d > json_object_get_double(b))
			return msg("%s must be at most %s (got %s)", w,
				   json_object_to_json_string(b), json_object_to_json_string(v));
	}
	if (json_object_is_type(v, json_type_string)) {
		int64_t n = json_object_get_string_len(v);

		if (json_object_object_get_ex(schema, "minLength", &b) &&
		    n < json_object_get_int64(b))
			return n ? msg("%s must be at least %lld characters long", w,
				       (long long)json_object_get_int64(b))
				 : msg("%s must not be empty", w);
		if (json_object_object_get_ex(schema, "maxLength", &b) &&
		    n > json_object_get_int64(b))
			return msg("%s must be at most %lld characters long (got %lld)", w,
				   (long long)json_object_get_int64(b), (long long)n);
	}
	return NULL;
}

static char *validate(json_object *schema, json_object *v, char *path, size_t path_len, int depth);

/* Validates v at path + ".key" (key given) or path + "[idx]". */
static char *child(json_object *schema, json_object *v, char *path, size_t path_len, int depth,
		   const char *key, size_t idx)
{
	size_t n = strlen(path);
	char *r;

	if (key)
		snprintf(path + n, path_len - n, "%s%s", n ? "." : "", key);
	else
		snprintf(path + n, path_len - n, "[%zu]", idx);
	r = validate(schema, v, path, path_len, depth + 1);
	path[n] = 0;
	return r;
}

static char *property_list(json_object *props)
{
	char list[512] = "";

	json_object_object_foreach (props, k, unused) {
		(void)unused;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 list[0] ? ", " : "", k);
	}
	return strdup(list);
}

static char *check_object(json_object *schema, json_object *v, char *path, size_t path_len,
			  int depth, const char *w)
{
	json_object *props = NULL, *req, *extra = NULL, *ps;
	char *r = NULL;

	json_object_object_get_ex(schema, "properties", &props);
	json_object_object_get_ex(schema, "additionalProperties", &extra);
	if (json_object_object_get_ex(schema, "required", &req))
		for (size_t i = 0; i < json_object_array_length(req); i++) {
			const char *k = json_object_get_string(json_object_array_get_idx(req, i));

			if (!json_object_object_get_ex(v, k, NULL))
				return *path ? msg("%s is missing '%s'", w, k)
					     : msg("'%s' is required", k);
		}
	json_object_object_foreach (v, k, val) {
		if (props && json_object_object_get_ex(props, k, &ps)) {
			r = child(ps, val, path, path_len, depth, k, 0);
		} else if (extra && json_object_is_type(extra, json_type_boolean) &&
			   !json_object_get_boolean(extra)) {
			char *list = props ? property_list(props) : strdup("");

			r = msg("unknown %s'%s'%s%s%s", *path ? "property " : "argument ", k,
				list && *list ? " (expected one of: " : "", list ? list : "",
				list && *list ? ")" : "");
			free(list);
		} else if (extra && json_object_is_type(extra, json_type_object)) {
			r = child(extra, val, path, path_len, depth, k, 0);
		}
		if (r)
			return r;
	}
	return NULL;
}

static char *validate(json_object *schema, json_object *v, char *path, size_t path_len, int depth);

/* anyOf (how nullable values are written: {"anyOf":[{"type":"string"},{"type":"null"}]}): valid
 * when one branch accepts the value. A value of no branch's type is named by the types; a value
 * of the right type that a branch rejects gets that branch's message. */
static char *check_any_of(json_object *schema, json_object *v, char *path, size_t path_len,
			  int depth, const char *w)
{
	json_object *any;
	char want[128] = "", *first = NULL;

	if (!json_object_object_get_ex(schema, "anyOf", &any) ||
	    !json_object_is_type(any, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(any); i++) {
		json_object *branch = json_object_array_get_idx(any, i), *t;
		char *r;

		if (json_object_object_get_ex(branch, "type", &t) &&
		    json_object_is_type(t, json_type_string)) {
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s",
				 want[0] ? " or " : "", json_object_get_string(t));
			if (!is_type(v, json_object_get_string(t)))
				continue;
		}
		r = validate(branch, v, path, path_len, depth + 1);
		if (!r) {
			free(first);
			return NULL;
		}
		if (!first)
			first = r;
		else
			free(r);
	}
	if (first)
		return first;
	return msg("%s must be %s, not %s", w, want[0] ? want : "one of the allowed values",
		   type_of(v));
}

static char *validate(json_object *schema, json_object *v, char *path, size_t path_len, int depth)
{
	char wbuf[300];
	const char *w = where(path, wbuf, sizeof(wbuf));
	json_object *items;
	char *r;

	if (depth > MAX_DEPTH)
		return msg("%s is nested too deeply", w);
	if (!json_object_is_type(schema, json_type_object))
		return NULL;
	if ((r = check_any_of(schema, v, path, path_len, depth, w)) ||
	    (r = check_type(schema, v, w)) || (r = check_enum(schema, v, w)) ||
	    (r = check_bounds(schema, v, w)))
		return r;
	if (json_object_is_type(v, json_type_object))
		return check_object(schema, v, path, path_len, depth, w);
	if (json_object_is_type(v, json_type_array) &&
	    json_object_object_get_ex(schema, "items", &items))
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			r = child(items, json_object_array_get_idx(v, i), path, path_len, depth,
				  NULL, i);
			if (r)
				return r;
		}
	return NULL;
}

int schema_validate(const char *schema_json, json_object *value, char **ret_error)
{
	json_object *schema = json_tokener_parse(schema_json);
	char path[256] = "";
	char *why;

	if (!schema) {
		*ret_error = strdup("internal error: the schema is not valid JSON");
		return -EINVAL;
	}
	why = validate(schema, value, path, sizeof(path), 0);
	json_object_put(schema);
	if (!why)
		return 0;
	*ret_error = why;
	return -EINVAL;
}
