/* Store queries: a filter is compiled once into id comparisons and an index range (the rings are
 * sorted by time, so the window is two binary searches), then one pass over the records feeds
 * every aggregation. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/dns.h"
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
	const struct store *s;
	uint8_t direction; /* STORE_DIR_* */
	int outcome;	   /* -1: any */
	int64_t reason;	   /* -1: any */
	/* The remote side (store_filter.dest, .port, .proto) and the DNS name (.name). */
	uint8_t *dests;	    /* per endpoint id: 1 = its address matches; NULL: any */
	uint8_t *names;	    /* per names id: 1 = matches dest (a name filter); NULL: any */
	uint8_t *qnames;    /* per names id: 1 = matches name; NULL: any */
	uint16_t port;
	uint8_t proto;
};

static void compiled_free(struct compiled *c)
{
	free(c->units);
	free(c->pids);
	free(c->dests);
	free(c->names);
	free(c->qnames);
}

/* One place for the remote-side filters: --dest ADDR|NAME, --port, --protocol (and the DNS
 * tools' --name). An address filter is a set of endpoint ids; a name filter a set of names ids
 * (the name and the names below it). Other filters (direction, outcome...) belong here too. */
static int compile_remote(struct store *s, const struct store_filter *f, struct compiled *c)
{
	uint8_t a[16];
	int family = 0;

	c->port = f->port;
	c->proto = f->proto;
	if (f->dest && inet_pton(AF_INET, f->dest, a) == 1)
		family = AF_INET;
	else if (f->dest && inet_pton(AF_INET6, f->dest, a) == 1)
		family = AF_INET6;
	if (family) {
		c->dests = calloc(s->endpoints.n ? s->endpoints.n : 1, 1);
		if (!c->dests)
			return -ENOMEM;
		for (size_t i = 0; i < s->endpoints.n; i++) {
			const struct store_endpoint *e = store_endpoint(s, (uint32_t)i);

			c->dests[i] = e->family == family &&
				      !memcmp(e->addr, a, family == AF_INET ? 4 : 16);
		}
	} else if (f->dest) {
		c->names = calloc(s->names.n ? s->names.n : 1, 1);
		if (!c->names)
			return -ENOMEM;
		for (size_t i = 1; i < s->names.n; i++)
			c->names[i] = dns_name_under(store_name(s, (uint32_t)i), f->dest);
	}
	if (f->name) {
		c->qnames = calloc(s->names.n ? s->names.n : 1, 1);
		if (!c->qnames)
			return -ENOMEM;
		for (size_t i = 1; i < s->names.n; i++)
			c->qnames[i] = dns_name_under(store_name(s, (uint32_t)i), f->name);
	}
	return 0;
}

/* Whether a remote endpoint (and the name it was looked up by) passes dest and port. */
static inline bool remote_matches(const struct compiled *c, const struct store *s, uint32_t ep,
				  uint32_t name)
{
	if (c->dests && !c->dests[ep])
		return false;
	if (c->names && !c->names[name])
		return false;
	return !c->port || store_endpoint(s, ep)->port == c->port;
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
	c->s = s;
	c->comm = -1;
	c->reason = -1;
	c->direction = f->direction;
	c->port = f->port;
	c->outcome = f->outcome_set ? f->outcome : -1;
	if (f->reason) {
		uint8_t name[STORE_REASON_LEN] = { 0 };

		strncpy((char *)name, f->reason, sizeof(name) - 1);
		c->reason = intern_find(&s->reasons, name);
	}
	c->lo = f->since_ns ? ring_lower_bound(r, f->since_ns, false) : r->head - r->count;
	c->hi = f->until_ns ? ring_lower_bound(r, f->until_ns, true) : r->head;
	if (f->reason && c->reason < 0)
		c->hi = c->lo; /* a reason never seen: nothing matches */
	c->pid = f->pid;
	if (compile_remote(s, f, c) < 0) {
		compiled_free(c);
		return -ENOMEM;
	}
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

/* The lifecycle filters: direction and outcome (as store_conn_verdict() says). */
static bool conn_matches_more(const struct compiled *c, const struct store_conn *r, uint64_t abs)
{
	bool failed;

	if (c->direction &&
	    (c->direction == STORE_DIR_IN) != !!(r->flags & STORE_CONN_INBOUND))
		return false;
	if (c->outcome >= 0 && store_conn_verdict(c->s, abs, &failed) != c->outcome)
		return false;
	return true;
}

/* The remote filters. An inbound connection's port is the local one it was accepted on (its
 * destination record), its address the connecting peer's; it has no name. */
static bool conn_remote_matches(const struct compiled *c, const struct store *s,
				const struct store_conn *r, uint64_t abs)
{
	if (!(r->flags & STORE_CONN_INBOUND) || (!c->dests && !c->names))
		return remote_matches(c, s, r->dst, r->name);
	if (c->port && store_endpoint(s, r->dst)->port != c->port)
		return false;
	return !c->names && c->dests[store_conn_remote(s, abs)];
}

static inline bool conn_matches(const struct compiled *c, const struct store *s,
				const struct store_conn *r, uint64_t abs)
{
	return (!c->pid || r->pid == c->pid) && (c->comm < 0 || r->comm == c->comm) &&
	       (!c->units || c->units[r->cgroup]) && (!c->proto || r->proto == c->proto) &&
	       conn_remote_matches(c, s, r, abs) &&
	       ((!c->direction && c->outcome < 0) || conn_matches_more(c, r, abs));
}

/* A drop's remote side may be either end: it matches when its source or its destination does. */
static inline bool drop_matches(const struct compiled *c, const struct store *s,
				const struct store_drop *r)
{
	if (c->proto && r->proto != c->proto)
		return false;
	if ((c->dests || c->names || c->port) && !remote_matches(c, s, r->dst, r->name) &&
	    !remote_matches(c, s, r->src, r->name))
		return false;
	return (!c->pid || r->pid == c->pid) && (c->reason < 0 || r->reason == c->reason) &&
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
	uint32_t name; /* of the latest connect to it */
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
	st->inbound += !!(r->flags & STORE_CONN_INBOUND);
	if (r->proto == 6 && r->outcome == 1) {
		const struct store_life *l = store_conn_life(s, abs);

		if (l && l->ended) {
			st->by_end[l->end < STORE_N_ENDS ? l->end : 1]++;
			st->bytes_sent += l->bytes_sent;
			st->bytes_received += l->bytes_received;
			st->retransmits += l->retrans;
		} else {
			st->by_end[STORE_END_OPEN]++;
		}
	}
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
		if (r->name)
			d->name = r->name;
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
	for (size_t k = 0; x->dests && k < st->n_destinations; k++)
		st->destinations[k].name = x->dests[st->destinations[k].key].name;
	for (size_t k = 0; x->dests && k < st->n_refused; k++)
		st->refused[k].name = x->dests[st->refused[k].key].name;
	for (size_t k = 0; x->dests && k < st->n_unreachable; k++)
		st->unreachable[k].name = x->dests[st->unreachable[k].key].name;
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

		if (conn_matches(&c, s, rec, i))
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

		if (!drop_matches(&c, s, d))
			continue;
		ret->total += d->count;
		ret->by_reason[d->reason] += d->count;
		ret->by_proto[d->proto] += d->count;
		if (d->attributed) {
			ret->attributed += d->count;
			procs[d->comm] += d->count;
		}
	}
	for (size_t i = 0; i < s->comms.n; i++)
		top_insert(ret->processes, &ret->n_processes, (uint32_t)i, procs[i], 0);
	free(procs);
	compiled_free(&c);
	return 0;
}

typedef bool (*match_fn)(const struct compiled *c, const struct store *s, const void *rec,
			 uint64_t abs);

static bool conn_match_any(const struct compiled *c, const struct store *s, const void *rec,
			   uint64_t abs)
{
	return conn_matches(c, s, rec, abs);
}

static bool drop_match_any(const struct compiled *c, const struct store *s, const void *rec,
			   uint64_t abs)
{
	(void)abs;
	return drop_matches(c, s, rec);
}

static inline bool dns_matches(const struct compiled *c, const struct store *s,
			       const struct store_dns *r)
{
	return (!c->pid || r->pid == c->pid) && (c->comm < 0 || r->comm == c->comm) &&
	       (!c->units || c->units[r->cgroup]) && (!c->proto || r->proto == c->proto) &&
	       (!c->qnames || c->qnames[r->name]) && (!c->dests || c->dests[r->server]) &&
	       (!c->names || c->names[r->name]) &&
	       (!c->port || store_endpoint(s, r->server)->port == c->port);
}

static bool dns_match_any(const struct compiled *c, const struct store *s, const void *rec,
			  uint64_t abs)
{
	(void)abs;
	return dns_matches(c, s, rec);
}

/* A retransmit or reset: its owner, and the connection filters that a signal can answer (either
 * port, the peer's address; a signal has no name and is TCP's). */
static bool signal_matches(const struct compiled *c, const struct store_signal *g)
{
	if ((c->pid && g->pid != c->pid) || (c->comm >= 0 && g->comm != c->comm))
		return false;
	if (c->port && g->local_port != c->port && store_endpoint(c->s, g->peer)->port != c->port)
		return false;
	if ((c->dests && !c->dests[g->peer]) || c->names || (c->proto && c->proto != 6))
		return false;
	return true;
}

static bool signal_match_any(const struct compiled *c, const struct store *s, const void *rec,
			     uint64_t abs)
{
	(void)s;
	(void)abs;
	return signal_matches(c, rec);
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
		if (!match(&c, s, store_ring_at(ring, i - 1), i - 1))
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

int store_list_signals(struct store *s, const struct store_filter *f, uint64_t *ret, size_t max,
		       size_t *ret_n, uint64_t *ret_total)
{
	return list(s, &s->signals, signal_match_any, f, ret, max, ret_n, ret_total);
}

/* ---- TCP quality ------------------------------------------------------------------------- */

struct quality_dest_acc {
	uint64_t retransmits, resets, connections;
	uint32_t *rtts;
	size_t n_rtts, cap_rtts;
};

static struct store_quality_proc *quality_proc(struct store_quality_proc *procs, uint16_t comm)
{
	return &procs[comm];
}

static void quality_rtt_add(struct quality_dest_acc *d, uint32_t rtt)
{
	if (d->n_rtts == d->cap_rtts) {
		size_t cap = d->cap_rtts ? d->cap_rtts * 2 : 4;
		uint32_t *v = realloc(d->rtts, cap * sizeof(*v));

		if (!v)
			return;
		d->rtts = v;
		d->cap_rtts = cap;
	}
	d->rtts[d->n_rtts++] = rtt;
}

/* Worse first: more retransmits, then more resets, then a longer RTT. */
static bool dest_worse(const struct store_quality_dest *a, const struct store_quality_dest *b)
{
	if (a->retransmits != b->retransmits)
		return a->retransmits > b->retransmits;
	if (a->resets != b->resets)
		return a->resets > b->resets;
	return a->rtt_us > b->rtt_us;
}

static void worst_insert(struct store_quality *q, const struct store_quality_dest *d)
{
	size_t i = q->n_worst;

	if (i == STORE_TOP_N && !dest_worse(d, &q->worst[i - 1]))
		return;
	if (i < STORE_TOP_N)
		q->n_worst++;
	else
		i--;
	while (i > 0 && dest_worse(d, &q->worst[i - 1])) {
		q->worst[i] = q->worst[i - 1];
		i--;
	}
	q->worst[i] = *d;
}

static bool proc_busier(const struct store_quality_proc *a, const struct store_quality_proc *b)
{
	uint64_t x = a->retransmits + a->resets_sent + a->resets_received;
	uint64_t y = b->retransmits + b->resets_sent + b->resets_received;

	return x != y ? x > y : a->connections > b->connections;
}

static void proc_insert(struct store_quality *q, const struct store_quality_proc *p)
{
	size_t i = q->n_processes;

	if (!p->connections && !p->retransmits && !p->resets_sent && !p->resets_received)
		return;
	if (i == STORE_TOP_N && !proc_busier(p, &q->processes[i - 1]))
		return;
	if (i < STORE_TOP_N)
		q->n_processes++;
	else
		i--;
	while (i > 0 && proc_busier(p, &q->processes[i - 1])) {
		q->processes[i] = q->processes[i - 1];
		i--;
	}
	q->processes[i] = *p;
}

static uint32_t median_u32(uint32_t *v, size_t n)
{
	if (!n)
		return 0;
	select_kth(v, n, (n - 1) / 2);
	return v[(n - 1) / 2];
}

/* Connections of the window (TCP, established) count by their start; signals by their time. */
int store_quality(struct store *s, const struct store_filter *f, struct store_quality *ret)
{
	struct store_conn_stats lat = { 0 };
	struct quality_dest_acc *dests = NULL;
	struct store_quality_proc *procs = NULL;
	uint32_t *rtts = NULL;
	size_t n_rtts = 0;
	struct compiled c, cs;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = compile(s, &s->conns, f, &c);
	if (r < 0)
		return r;
	r = compile(s, &s->signals, f, &cs);
	if (r < 0) {
		compiled_free(&c);
		return r;
	}
	dests = calloc(s->endpoints.n ? s->endpoints.n : 1, sizeof(*dests));
	procs = calloc(s->comms.n ? s->comms.n : 1, sizeof(*procs));
	rtts = malloc((c.hi > c.lo ? c.hi - c.lo : 1) * sizeof(*rtts));
	if (!dests || !procs || !rtts) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t i = c.lo; i < c.hi; i++) {
		const struct store_conn *rec = store_conn_at(s, i);
		const struct store_life *l;
		struct store_quality_proc *p;
		uint32_t remote;

		if (rec->proto != 6 || rec->outcome != 1 || !conn_matches(&c, s, rec, i))
			continue;
		l = store_conn_life(s, i);
		remote = store_conn_remote(s, i);
		p = quality_proc(procs, rec->comm);
		p->comm = rec->comm;
		p->connections++;
		dests[remote].connections++;
		if (!l || !l->ended) {
			ret->open++;
			continue;
		}
		ret->ended++;
		ret->ended_retrans += l->retrans;
		ret->ended_segs_out += l->segs_out;
		ret->bytes_sent += l->bytes_sent;
		ret->bytes_received += l->bytes_received;
		p->segs_out += l->segs_out;
		p->bytes_sent += l->bytes_sent;
		p->bytes_received += l->bytes_received;
		if (l->rtt_us) {
			rtts[n_rtts++] = l->rtt_us;
			ret->rtt_buckets[store_latency_bucket(l->rtt_us)]++;
			quality_rtt_add(&dests[remote], l->rtt_us);
		}
	}
	for (uint64_t i = cs.lo; i < cs.hi; i++) {
		const struct store_signal *g = store_signal_at(s, i);
		struct store_quality_proc *p;

		if (!signal_matches(&cs, g))
			continue;
		p = quality_proc(procs, g->comm);
		p->comm = g->comm;
		/* A record folded during a flood counts as the events it stands for. */
		if (g->kind == STORE_SIG_RETRANSMIT) {
			uint64_t segs = store_signal_segments(g);

			ret->retransmits += segs;
			p->retransmits += segs;
			dests[g->peer].retransmits += segs;
		} else {
			uint64_t n = store_signal_count(g);

			if (g->kind == STORE_SIG_RESET_SENT) {
				ret->resets_sent += n;
				p->resets_sent += n;
			} else {
				ret->resets_received += n;
				p->resets_received += n;
			}
			dests[g->peer].resets += n;
		}
	}
	/* The RTT percentiles, as the connect latencies' (microseconds in, milliseconds out). */
	percentiles(rtts, n_rtts, &lat);
	ret->rtt_count = lat.latency_count;
	ret->rtt_p50_ms = lat.latency_p50_ms;
	ret->rtt_p90_ms = lat.latency_p90_ms;
	ret->rtt_p99_ms = lat.latency_p99_ms;
	for (size_t i = 0; i < s->endpoints.n; i++) {
		struct quality_dest_acc *d = &dests[i];
		struct store_quality_dest qd = { .peer = (uint32_t)i };

		if (!d->connections && !d->retransmits && !d->resets)
			continue;
		qd.retransmits = d->retransmits;
		qd.resets = d->resets;
		qd.connections = d->connections;
		qd.rtt_us = median_u32(d->rtts, d->n_rtts);
		worst_insert(ret, &qd);
	}
	for (size_t i = 0; i < s->comms.n; i++)
		proc_insert(ret, &procs[i]);
out:
	for (size_t i = 0; dests && i < s->endpoints.n; i++)
		free(dests[i].rtts);
	free(dests);
	free(procs);
	free(rtts);
	compiled_free(&c);
	compiled_free(&cs);
	return r;
}

int store_list_dns(struct store *s, const struct store_filter *f, uint64_t *ret, size_t max,
		   size_t *ret_n, uint64_t *ret_total)
{
	return list(s, &s->dns, dns_match_any, f, ret, max, ret_n, ret_total);
}

struct dns_name_count {
	uint32_t total, failed;
	int last_fail; /* rcode, or -1: unanswered */
};

int store_dns_stats(struct store *s, const struct store_filter *f, uint64_t now_ns,
		    struct store_dns_stats *ret)
{
	struct store_conn_stats pct;
	struct dns_name_count *names;
	uint64_t (*procs)[2], (*servers)[2];
	uint32_t *lat;
	size_t n_lat = 0;
	struct compiled c;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = compile(s, &s->dns, f, &c);
	if (r < 0)
		return r;
	names = calloc(s->names.n ? s->names.n : 1, sizeof(*names));
	procs = calloc(s->comms.n ? s->comms.n : 1, sizeof(*procs));
	servers = calloc(s->endpoints.n ? s->endpoints.n : 1, sizeof(*servers));
	lat = malloc((c.hi > c.lo ? c.hi - c.lo : 1) * sizeof(*lat));
	if (!names || !procs || !servers || !lat) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t i = c.lo; i < c.hi; i++) {
		const struct store_dns *q = store_dns_at(s, i);
		bool answered = q->flags & STORE_DNS_ANSWERED, failed;

		if (!dns_matches(&c, s, q))
			continue;
		ret->total++;
		if (!answered) {
			if (q->ts_ns + STORE_DNS_TIMEOUT_NS <= now_ns) {
				ret->unanswered++;
				names[q->name].failed++;
				names[q->name].last_fail = -1;
				servers[q->server][1]++;
			} else {
				ret->pending++;
			}
		} else {
			failed = q->rcode != 0;
			ret->failed += failed;
			ret->by_rcode[q->rcode & 0xfff]++;
			ret->latency_buckets[store_latency_bucket(q->latency_us)]++;
			names[q->name].failed += failed;
			if (failed)
				names[q->name].last_fail = q->rcode;
			lat[n_lat++] = q->latency_us;
		}
		names[q->name].total++;
		procs[q->comm][0]++;
		procs[q->comm][1] += answered ? q->rcode != 0 : q->ts_ns + STORE_DNS_TIMEOUT_NS <= now_ns;
		servers[q->server][0]++;
	}
	memset(&pct, 0, sizeof(pct));
	percentiles(lat, n_lat, &pct);
	ret->latency_count = pct.latency_count;
	ret->latency_p50_ms = pct.latency_p50_ms;
	ret->latency_p90_ms = pct.latency_p90_ms;
	ret->latency_p99_ms = pct.latency_p99_ms;
	for (size_t i = 1; i < s->names.n; i++) {
		top_insert(ret->names, &ret->n_names, (uint32_t)i, names[i].total, names[i].failed);
		top_insert(ret->failing, &ret->n_failing, (uint32_t)i, names[i].failed,
			   names[i].failed);
	}
	for (size_t k = 0; k < ret->n_failing; k++)
		ret->failing_rcode[k] = names[ret->failing[k].key].last_fail;
	for (size_t i = 0; i < s->comms.n; i++)
		top_insert(ret->processes, &ret->n_processes, (uint32_t)i, procs[i][0], procs[i][1]);
	for (size_t i = 0; i < s->endpoints.n; i++)
		top_insert(ret->servers, &ret->n_servers, (uint32_t)i, servers[i][0], servers[i][1]);
	/* Each top server's p90 latency: one more pass per server (at most STORE_TOP_N). */
	for (size_t k = 0; k < ret->n_servers; k++) {
		size_t n = 0;

		for (uint64_t i = c.lo; i < c.hi; i++) {
			const struct store_dns *q = store_dns_at(s, i);

			if (q->server == ret->servers[k].key && (q->flags & STORE_DNS_ANSWERED) &&
			    dns_matches(&c, s, q))
				lat[n++] = q->latency_us;
		}
		memset(&pct, 0, sizeof(pct));
		percentiles(lat, n, &pct);
		ret->server_latency_us[k] = (uint64_t)(pct.latency_p90_ms * 1000.0 + 0.5);
	}
out:
	free(names);
	free(procs);
	free(servers);
	free(lat);
	compiled_free(&c);
	return r;
}
