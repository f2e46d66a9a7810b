/* Store queries: a filter is compiled once into id comparisons and an index range (the rings are
 * sorted by time, so the window is two binary searches), then one pass over the records feeds
 * every aggregation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/store.h"

const uint64_t store_latency_bounds_us[STORE_LATENCY_BUCKETS] = {
	500,	1000,	2500,	 5000,	  10000,   25000,    50000,	 100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000, UINT64_MAX,
};

size_t store_latency_bucket(uint64_t us)
{
	size_t i = 0;

	while (i < STORE_LATENCY_BUCKETS - 1 && us > store_latency_bounds_us[i])
		i++;
	return i;
}

struct compiled {
	uint64_t lo, hi; /* absolute index range [lo, hi) */
	uint32_t pid;
	int64_t comm;	/* -1: any */
	uint8_t *units; /* per cgroup index: 1 = matches; NULL: any */
	uint32_t *pids; /* drops with a unit filter: sorted pids seen connecting from the unit */
	size_t n_pids;
};

static void compiled_free(struct compiled *c)
{
	free(c->units);
	free(c->pids);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* A drop carries its owner's pid but no cgroup: it belongs to a unit when its owner was seen
 * connecting from that unit. */
static int compile_unit_pids(const struct store *s, struct compiled *c)
{
	size_t n = 0;

	c->pids = malloc((s->conns.count ? s->conns.count : 1) * sizeof(*c->pids));
	if (!c->pids)
		return -ENOMEM;
	for (uint64_t i = s->conns.head - s->conns.count; i < s->conns.head; i++) {
		const struct store_conn *r = store_conn_at(s, i);

		if (c->units[r->cgroup] && (!n || c->pids[n - 1] != r->pid))
			c->pids[n++] = r->pid;
	}
	qsort(c->pids, n, sizeof(*c->pids), cmp_u32);
	c->n_pids = 0;
	for (size_t i = 0; i < n; i++)
		if (!c->n_pids || c->pids[c->n_pids - 1] != c->pids[i])
			c->pids[c->n_pids++] = c->pids[i];
	return 0;
}

/* First absolute index whose timestamp is >= ts (or > ts when after is set). */
static uint64_t ring_lower_bound(const struct store_ring *r, uint64_t ts, bool after)
{
	uint64_t lo = r->head - r->count, hi = r->head;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2, t = *(const uint64_t *)store_ring_at(r, mid);

		if (t < ts || (after && t == ts))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool unit_matches(const struct store_cgroup_info *ci, const char *want)
{
	size_t n = strlen(want);

	if (!ci)
		return false;
	if (ci->unit && (!strcmp(ci->unit, want) ||
			 (!strncmp(ci->unit, want, n) && !strcmp(ci->unit + n, ".service"))))
		return true;
	return ci->container && n >= 4 && !strncasecmp(ci->container, want, n);
}

static int compile_units(struct store *s, const char *want, struct compiled *c)
{
	c->units = calloc(s->cgroups.n ? s->cgroups.n : 1, 1);
	if (!c->units)
		return -ENOMEM;
	for (size_t i = 0; i < s->cgroups.n; i++)
		c->units[i] = unit_matches(store_cgroup(s, (uint16_t)i), want);
	return 0;
}

static int compile(struct store *s, const struct store_ring *r, const struct store_filter *f,
		   struct compiled *c)
{
	uint8_t key[16] = { 0 };

	memset(c, 0, sizeof(*c));
	c->comm = -1;
	c->lo = f->since_ns ? ring_lower_bound(r, f->since_ns, false) : r->head - r->count;
	c->hi = f->until_ns ? ring_lower_bound(r, f->until_ns, true) : r->head;
	c->pid = f->pid;
	if (f->process) {
		memcpy(key, f->process,
		       strnlen(f->process, sizeof(key) - 1)); /* as the kernel truncates */
		c->comm = intern_find(&s->comms, key);
		if (c->comm < 0 || !f->process[0])
			c->hi = c->lo; /* never seen: nothing matches */
	}
	if (f->unit) {
		int err = compile_units(s, f->unit, c);

		if (err == 0 && r == &s->drops)
			err = compile_unit_pids(s, c);
		if (err < 0)
			compiled_free(c);
		return err;
	}
	return 0;
}

static inline bool conn_matches(const struct compiled *c, const struct store_conn *r)
{
	return (!c->pid || r->pid == c->pid) && (c->comm < 0 || r->comm == c->comm) &&
	       (!c->units || c->units[r->cgroup]);
}

static inline bool drop_matches(const struct compiled *c, const struct store_drop *r)
{
	return (!c->pid || r->pid == c->pid) &&
	       (c->comm < 0 || (r->attributed && r->comm == c->comm)) &&
	       (!c->pids ||
		(r->attributed && bsearch(&r->pid, c->pids, c->n_pids, sizeof(*c->pids), cmp_u32)));
}

/* Keeps top (n entries, at most STORE_TOP_N) sorted by count, then key, descending. */
static void top_insert(struct store_top *top, size_t *n, uint32_t key, uint64_t count,
		       uint64_t failed)
{
	size_t i = *n;

	if (!count || (i == STORE_TOP_N && count <= top[i - 1].count))
		return;
	if (i < STORE_TOP_N)
		(*n)++;
	else
		i--;
	while (i > 0 && top[i - 1].count < count) {
		top[i] = top[i - 1];
		i--;
	}
	top[i] = (struct store_top){ .key = key, .count = count, .failed = failed };
}

/* Rearranges v so that v[k] is the k-th smallest (Hoare's selection, expected linear time). */
static void select_kth(uint32_t *v, size_t n, size_t k)
{
	long lo = 0, hi = (long)n - 1, want = (long)k;

	while (lo < hi) {
		uint32_t pivot = v[lo + (hi - lo) / 2];
		long i = lo, j = hi;

		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				uint32_t t = v[i];

				v[i++] = v[j];
				v[j--] = t;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			return;
	}
}

/* Nearest-rank percentiles of the latencies in v (microseconds), in milliseconds. */
static void percentiles(uint32_t *v, size_t n, struct store_conn_stats *st)
{
	static const double ps[3] = { 0.50, 0.90, 0.99 };
	double *out[3] = { &st->latency_p50_ms, &st->latency_p90_ms, &st->latency_p99_ms };
	size_t from = 0;

	st->latency_count = n;
	for (int i = 0; i < 3 && n; i++) {
		size_t k = (size_t)(ps[i] * (double)n + 0.999999);

		k = k ? k - 1 : 0;
		select_kth(v + from, n - from, k - from);
		*out[i] = v[k] / 1000.0;
		from = k;
	}
}

struct dest_count {
	uint32_t total, refused, unreachable;
};

struct conn_scratch {
	uint32_t *lat;
	size_t n_lat;
	uint64_t (*procs)[2];
	struct dest_count *dests;
};

static void count_conn(const struct store *s, uint64_t abs, struct store_conn_stats *st,
		       struct conn_scratch *x)
{
	const struct store_conn *r = store_conn_at(s, abs);
	bool failed;
	int outcome = store_conn_verdict(s, abs, &failed);

	st->total++;
	st->failed += failed;
	st->by_proto[r->proto]++;
	st->by_outcome[outcome]++;
	if (outcome == 1 && r->latency_us) {
		x->lat[x->n_lat++] = r->latency_us;
		st->latency_buckets[store_latency_bucket(r->latency_us)]++;
	}
	x->procs[r->comm][0]++;
	x->procs[r->comm][1] += failed;
	if (x->dests) {
		struct dest_count *d = &x->dests[r->dst];

		d->total++;
		d->refused += outcome == 2;
		d->unreachable += failed && (outcome == 3 || outcome == 4);
	}
}

static void conn_tops(const struct store *s, struct store_conn_stats *st,
		      const struct conn_scratch *x)
{
	for (size_t i = 0; i < s->comms.n; i++)
		top_insert(st->processes, &st->n_processes, (uint32_t)i, x->procs[i][0],
			   x->procs[i][1]);
	for (size_t i = 0; x->dests && i < s->endpoints.n; i++) {
		const struct dest_count *d = &x->dests[i];

		top_insert(st->destinations, &st->n_destinations, (uint32_t)i, d->total,
			   d->refused + d->unreachable);
		top_insert(st->refused, &st->n_refused, (uint32_t)i, d->refused, d->refused);
		top_insert(st->unreachable, &st->n_unreachable, (uint32_t)i, d->unreachable,
			   d->unreachable);
	}
}

int store_conn_stats(struct store *s, const struct store_filter *f, unsigned flags,
		     struct store_conn_stats *ret)
{
	struct conn_scratch x = { 0 };
	struct compiled c;
	int r = compile(s, &s->conns, f, &c);

	memset(ret, 0, sizeof(*ret));
	if (r < 0)
		return r;
	x.lat = malloc((c.hi > c.lo ? c.hi - c.lo : 1) * sizeof(*x.lat));
	x.procs = calloc(s->comms.n, sizeof(*x.procs));
	if (flags & STORE_STATS_DETAIL)
		x.dests = calloc(s->endpoints.n, sizeof(*x.dests));
	if (!x.lat || !x.procs || ((flags & STORE_STATS_DETAIL) && !x.dests)) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t i = c.lo; i < c.hi; i++) {
		const struct store_conn *rec = store_conn_at(s, i);

		if (conn_matches(&c, rec))
			count_conn(s, i, ret, &x);
	}
	percentiles(x.lat, x.n_lat, ret);
	conn_tops(s, ret, &x);
out:
	free(x.lat);
	free(x.procs);
	free(x.dests);
	compiled_free(&c);
	return r;
}

int store_drop_stats(struct store *s, const struct store_filter *f, struct store_drop_stats *ret)
{
	struct compiled c;
	uint64_t *procs;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = compile(s, &s->drops, f, &c);
	if (r < 0)
		return r;
	ret->by_reason = calloc(s->reasons.n, sizeof(*ret->by_reason));
	procs = calloc(s->comms.n, sizeof(*procs));
	if (!ret->by_reason || !procs) {
		free(ret->by_reason);
		ret->by_reason = NULL;
		free(procs);
		compiled_free(&c);
		return -ENOMEM;
	}
	ret->n_reasons = s->reasons.n;
	for (uint64_t i = c.lo; i < c.hi; i++) {
		const struct store_drop *d = store_drop_at(s, i);

		if (!drop_matches(&c, d))
			continue;
		ret->total++;
		ret->by_reason[d->reason]++;
		ret->by_proto[d->proto]++;
		if (d->attributed) {
			ret->attributed++;
			procs[d->comm]++;
		}
	}
	for (size_t i = 0; i < s->comms.n; i++)
		top_insert(ret->processes, &ret->n_processes, (uint32_t)i, procs[i], 0);
	free(procs);
	compiled_free(&c);
	return 0;
}

typedef bool (*match_fn)(const struct compiled *c, const void *rec);

static bool conn_match_any(const struct compiled *c, const void *rec)
{
	return conn_matches(c, rec);
}

static bool drop_match_any(const struct compiled *c, const void *rec)
{
	return drop_matches(c, rec);
}

static int list(struct store *s, const struct store_ring *ring, match_fn match,
		const struct store_filter *f, uint64_t *ret, size_t max, size_t *ret_n,
		uint64_t *ret_total)
{
	struct compiled c;
	uint64_t total = 0;
	size_t n = 0;
	int r = compile(s, ring, f, &c);

	if (r < 0)
		return r;
	for (uint64_t i = c.hi; i > c.lo; i--) {
		if (!match(&c, store_ring_at(ring, i - 1)))
			continue;
		if (n < max)
			ret[n++] = i - 1;
		total++;
	}
	compiled_free(&c);
	*ret_n = n;
	*ret_total = total;
	return 0;
}

int store_list_conns(struct store *s, const struct store_filter *f, uint64_t *ret, size_t max,
		     size_t *ret_n, uint64_t *ret_total)
{
	return list(s, &s->conns, conn_match_any, f, ret, max, ret_n, ret_total);
}

int store_list_drops(struct store *s, const struct store_filter *f, uint64_t *ret, size_t max,
		     size_t *ret_n, uint64_t *ret_total)
{
	return list(s, &s->drops, drop_match_any, f, ret, max, ret_n, ret_total);
}
