/* Drop-reason names from the running kernel's BTF. Core reasons come from enum skb_drop_reason;
 * subsystem reasons (value >> 16 != 0, e.g. Open vSwitch, mac80211) from the other enums whose
 * names end in "_drop_reason". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dropnames.h"

struct dropname {
	uint32_t value;
	char *name;
};

struct dropnames {
	struct dropname *v;
	size_t n, cap;
};

static int add_name(struct dropnames *d, uint32_t value, const char *raw)
{
	static const char prefix[] = "SKB_DROP_REASON_";
	const char *name = raw;

	if (!strncmp(raw, prefix, sizeof(prefix) - 1))
		name += sizeof(prefix) - 1;
	else if (!strncmp(raw, "SKB_", 4))
		name += 4; /* SKB_CONSUMED, SKB_NOT_DROPPED_YET */
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct dropname *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n].value = value;
	d->v[d->n].name = strdup(name);
	if (!d->v[d->n].name)
		return -ENOMEM;
	d->n++;
	return 0;
}

static int cmp_value(const void *a, const void *b)
{
	const struct dropname *x = a, *y = b;

	return x->value < y->value ? -1 : x->value > y->value;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

static int add_enum(struct dropnames *d, const struct btf *btf, const struct btf_type *t,
		    bool subsystem_only)
{
	const struct btf_enum *e = btf_enum(t);
	int r;

	for (unsigned i = 0; i < btf_vlen(t); i++) {
		uint32_t value = (uint32_t)e[i].val;

		/* Subsystem enums also hold markers such as *_MAX; keep only real subsystem values.
		 */
		if (subsystem_only && !(value >> 16))
			continue;
		if (ends_with(btf__name_by_offset(btf, e[i].name_off), "_MAX"))
			continue;
		r = add_name(d, value, btf__name_by_offset(btf, e[i].name_off));
		if (r < 0)
			return r;
	}
	return 0;
}

int dropnames_load(const struct btf *btf, struct dropnames **ret)
{
	struct dropnames *d = calloc(1, sizeof(*d));
	bool found = false;
	unsigned n;
	int r = 0;

	if (!d)
		return -ENOMEM;
	n = btf__type_cnt(btf);
	for (unsigned id = 1; id < n && r == 0; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const char *name;

		if (!btf_is_enum(t))
			continue;
		name = btf__name_by_offset(btf, t->name_off);
		if (!name || !ends_with(name, "_drop_reason"))
			continue;
		if (!strcmp(name, "skb_drop_reason")) {
			found = true;
			r = add_enum(d, btf, t, false);
		} else {
			r = add_enum(d, btf, t, true);
		}
	}
	if (r == 0 && !found)
		r = -ENOENT;
	if (r < 0) {
		dropnames_free(d);
		return r;
	}
	qsort(d->v, d->n, sizeof(*d->v), cmp_value);
	*ret = d;
	return 0;
}

const char *dropnames_get(const struct dropnames *d, uint32_t value, char *buf, size_t len)
{
	size_t lo = 0, hi = d ? d->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->v[mid].value == value)
			return d->v[mid].name;
		if (d->v[mid].value < value)
			lo = mid + 1;
		else
			hi = mid;
	}
	snprintf(buf, len, "UNKNOWN_%u", value);
	return buf;
}

size_t dropnames_count(const struct dropnames *d)
{
	return d ? d->n : 0;
}

void dropnames_free(struct dropnames *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}
