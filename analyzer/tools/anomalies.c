/* find_anomalies: what changed in the recent window against the baseline before it: a process
 * talking to a destination it never used, a process's failure rate jumping, a drop reason
 * spiking, a port accepting connections it did not accept before, a process's TCP retransmits
 * jumping, a burst of failed DNS lookups; each finding with its evidence numbers.
 *
 * Every event is counted into one series (outbound and accepted connections, drops,
 * retransmitted segments, DNS lookups) under a (process, key) cell holding the baseline's and the
 * recent window's counts; the kinds (kinds[]) compare the two. The recent window comes from
 * netspyd's events; the baseline from the recorder's history when it reaches further back than
 * they do and has the series (series[]: the one place that says which), else from the earlier
 * part of netspyd's events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/dns.h"
#include "core/format.h"
#include "core/history.h"
#include "core/rollup.h"
#include "core/text.h"
#include "tools/data.h"
#include "tools/tool.h"

#define NS 1000000000ull
/* Default baseline before the recent window, and its bound. */
#define BASELINE_DEFAULT 3600
#define MAX_FINDINGS 50
/* A spike: at least this many in the window, and this many times the baseline's rate. */
#define SPIKE_MIN_COUNT 5
#define SPIKE_FACTOR 3.0
/* A failure-rate jump: at least this many failures, a rate this high, and this much over the
 * baseline's rate. */
#define FAIL_MIN_COUNT 3
#define FAIL_MIN_RATE 0.2
#define FAIL_MIN_DELTA 0.2
/* A retransmit spike: at least this many retransmitted segments in the window. */
#define RETRANS_MIN 10
/* A DNS failure burst: at least this many failed lookups in the window. */
#define DNS_MIN_FAILED 3

enum series { SER_OUT, SER_IN, SER_DROP, SER_RETRANS, SER_DNS, N_SERIES };

/* Where each series' baseline can come from: the history series that answers it, or -1 when
 * the recorder's rollups have no such counts (the baseline is then netspyd's earlier events, as
 * it is for retransmits and DNS lookups with a history of schema 1). When the history gains a
 * table, its series goes here: one line. */
static const struct {
	const char *name; /* what the answer calls it */
	int history;	  /* enum history_series, or -1 */
} series[N_SERIES] = {
	[SER_OUT] = { "connections", HISTORY_SERIES_OUTBOUND },
	[SER_IN] = { "accepted connections", HISTORY_SERIES_INBOUND },
	[SER_DROP] = { "drops", HISTORY_SERIES_DROPS },
	[SER_RETRANS] = { "retransmits", HISTORY_SERIES_RETRANSMITS },
	[SER_DNS] = { "DNS lookups", HISTORY_SERIES_DNS },
};

enum { BASE, NOW };

/* One (process, key) of a series; a process's total has no key. */
struct cell {
	uint64_t n[2], bad[2]; /* events (drops, segments, lookups) and failed ones */
	uint64_t keys;	       /* a total: keys of the process with a baseline count */
	uint64_t first_ns;     /* the first event of the recent window */
	int32_t rcode;	       /* DNS: the latest failure's rcode, -1 unanswered */
	int32_t cgroup;	       /* a recent event's cgroup index, -1 none */
};

struct anomaly_ctx {
	struct store *s;
	uint64_t now, recent_start;
	struct kmap cells[N_SERIES];
	/* Each series' baseline: [base_start, recent_start), from the history up to hist_until
	 * when from_history, netspyd's events after it. */
	uint64_t base_start[N_SERIES];
	bool from_history[N_SERIES];
	uint64_t hist_until; /* ns */
	json_object *findings;
	int err;
};

static struct cell *cell_get(struct anomaly_ctx *c, enum series k, const char *process,
			     const char *key)
{
	struct keybuf kb;
	struct cell *v;
	bool created;

	keybuf_reset(&kb);
	keybuf_add(&kb, process);
	keybuf_add(&kb, key);
	v = kmap_get(&c->cells[k], kb.b, kb.n, &created);
	if (!v) {
		c->err = -ENOMEM;
		return NULL;
	}
	if (created)
		v->cgroup = -1;
	return v;
}

/* Counts n events (bad of them failed) of (process, key) into the series, and into the process's
 * total. */
static struct cell *count(struct anomaly_ctx *c, enum series k, int which, const char *process,
			  const char *key, uint64_t n, uint64_t bad)
{
	struct cell *v = cell_get(c, k, process, key), *t;

	if (!v || !n)
		return v;
	if (key && (t = cell_get(c, k, process, NULL))) {
		t->keys += which == BASE && !v->n[BASE];
		t->n[which] += n;
		t->bad[which] += bad;
	}
	v->n[which] += n;
	v->bad[which] += bad;
	return v;
}

/* ---- the history's part of the baseline ---- */

struct hist_arg {
	struct anomaly_ctx *c;
	enum series k;
};

static int hist_row(void *arg, const char *process, const char *key, uint64_t n, uint64_t failed)
{
	struct hist_arg *a = arg;
	char port[8];

	if (!key)
		return 0;
	if (a->k == SER_IN) { /* a listening port: the local end's port */
		const char *p = strrchr(key, ':');

		snprintf(port, sizeof(port), "%s", p ? p + 1 : key);
		key = port;
	}
	if (a->k == SER_DROP)
		process = NULL; /* drop spikes are per reason */
	else if (!process)
		process = ""; /* an unknown owner, as netspyd's events name it */
	count(a->c, a->k, BASE, process, key, n, failed);
	return a->c->err;
}

/* Takes the baseline from the recorder's history, for the series it has, when netspyd's events
 * do not reach back to the baseline's start (live_from) and the history reaches further back
 * than they do. A pid cannot be answered from it. */
static void baseline_from_history(struct tool_context *ctx, struct anomaly_ctx *c,
				  const struct data_args *a, uint64_t base_start, uint64_t live_from,
				  const char **note)
{
	struct history *h = NULL;
	struct history_query hq;
	uint64_t since = 0, until = 0, end;
	char *err = NULL;

	if (a->pid || live_from <= base_start ||
	    history_open_ro(history_path(ctx->history), &h, &err) < 0) {
		free(err);
		return;
	}
	end = c->recent_start / NS / 60 * 60;
	if (history_resume_point(h) < end)
		end = history_resume_point(h);
	hq = (struct history_query){ .since = base_start / NS / 60 * 60, .until = end,
				     .process = a->process, .unit = a->unit };
	for (int k = 0; k < N_SERIES && hq.since < hq.until && !c->err; k++) {
		struct hist_arg arg = { c, (enum series)k };

		if (series[k].history < 0)
			continue;
		if (history_sums(h, &hq, (enum history_series)series[k].history, hist_row, &arg,
				 &since, &until, &err) < 0) {
			/* A history written before the series had its table: netspyd's events
			 * answer this one. */
			free(err);
			err = NULL;
			kmap_fini(&c->cells[k]);
			kmap_init(&c->cells[k], sizeof(struct cell));
			continue;
		}
		if (!since || since * NS >= live_from) { /* no further back than netspyd's */
			*note = "the recorder's history does not reach further back than netspyd's "
				"events";
			for (int j = 0; j <= k; j++) {
				kmap_fini(&c->cells[j]);
				kmap_init(&c->cells[j], sizeof(struct cell));
				c->from_history[j] = false;
			}
			break;
		}
		c->from_history[k] = true;
		c->base_start[k] = since * NS > base_start ? since * NS : base_start;
	}
	free(err);
	c->hist_until = end * NS;
	history_close(h);
}

/* ---- netspyd's events ---- */

/* One event reduced to its series, ids and counts; grouped by sorting before their names are
 * made (once per group, not per event). */
struct row {
	uint64_t ts;
	uint32_t a, b; /* process name id; key id (endpoint, port, reason, name) */
	uint32_t n;
	int16_t rcode;
	int32_t cgroup; /* -1: none */
	uint8_t k, which, bad;
};

static int row_cmp(const void *x, const void *y)
{
	const struct row *p = x, *q = y;

	if (p->k != q->k)
		return p->k < q->k ? -1 : 1;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	if (p->b != q->b)
		return p->b < q->b ? -1 : 1;
	return (p->ts > q->ts) - (p->ts < q->ts);
}

struct rows {
	struct row *v;
	size_t n, cap;
};

static void row_add(struct anomaly_ctx *c, struct rows *r, struct row x)
{
	if (x.ts < c->base_start[x.k] || x.ts >= c->now)
		return;
	x.which = x.ts >= c->recent_start ? NOW : BASE;
	/* The history answered this part of the baseline. */
	if (x.which == BASE && c->from_history[x.k] && x.ts < c->hist_until)
		return;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		struct row *v = realloc(r->v, cap * sizeof(*v));

		if (!v) {
			c->err = -ENOMEM;
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = x;
}

/* The key of a group as text. */
static void key_text(struct anomaly_ctx *c, const struct row *x, char *buf, size_t len)
{
	switch (x->k) {
	case SER_OUT:
	case SER_RETRANS:
		endpoint_format(store_endpoint(c->s, x->b), buf, len);
		break;
	case SER_IN:
		snprintf(buf, len, "%u", x->b);
		break;
	case SER_DROP: {
		const char *rs = store_reason(c->s, (uint16_t)x->b);

		fmt_sanitize(buf, len, (const uint8_t *)(rs ? rs : "?"), strlen(rs ? rs : "?"));
		break;
	}
	default: {
		const char *nm = store_name(c->s, x->b);

		fmt_sanitize(buf, len, (const uint8_t *)nm, strlen(nm));
		break;
	}
	}
}

/* Counts the rows into the cells, one group of equal (series, process, key) at a time. */
static void rows_count(struct anomaly_ctx *c, struct rows *r)
{
	size_t i = 0;

	if (r->n)
		qsort(r->v, r->n, sizeof(r->v[0]), row_cmp);
	while (i < r->n && !c->err) {
		char proc[FMT_COMM_LEN], key[STORE_NAME_LEN * 4];
		const struct row *x = &r->v[i];
		uint64_t n[2] = { 0 }, bad[2] = { 0 }, first = 0;
		int32_t rcode = 0, cg = -1;
		struct cell *v = NULL;
		size_t e = i;

		for (; e < r->n && r->v[e].k == x->k && r->v[e].a == x->a && r->v[e].b == x->b; e++) {
			const struct row *y = &r->v[e];

			n[y->which] += y->n;
			bad[y->which] += y->bad ? y->n : 0;
			if (y->which == NOW) {
				if (!first)
					first = y->ts;
				if (y->bad)
					rcode = y->rcode;
				if (y->cgroup >= 0)
					cg = y->cgroup;
			}
		}
		if (x->k == SER_DROP)
			snprintf(proc, sizeof(proc), "%s", "");
		else
			data_comm(c->s, (uint16_t)x->a, proc, sizeof(proc));
		key_text(c, x, key, sizeof(key));
		for (int w = BASE; w <= NOW; w++)
			v = count(c, (enum series)x->k, w, x->k == SER_DROP ? NULL : proc, key, n[w],
				  bad[w]);
		if (v && n[NOW]) {
			v->first_ns = first;
			if (bad[NOW])
				v->rcode = rcode;
			if (cg >= 0)
				v->cgroup = cg;
		}
		i = e;
	}
}

typedef int (*list_fn)(struct store *s, const struct store_filter *f, uint64_t *ret, size_t max,
		       size_t *ret_n, uint64_t *ret_total);

/* The matching records of one ring, newest first. */
static int list_all(struct store *s, const struct store_ring *ring, list_fn fn,
		    const struct store_filter *f, uint64_t **ret, size_t *ret_n)
{
	size_t max = (size_t)ring->count;
	uint64_t total;

	*ret = calloc(max ? max : 1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	return fn(s, f, *ret, max, ret_n, &total);
}

static int collect(struct anomaly_ctx *c, const struct store_filter *f0)
{
	struct store_filter f = *f0;
	struct rows r = { 0 };
	uint64_t *idx = NULL;
	size_t n = 0;
	int ret;

	f.since_ns = c->now;
	for (int k = 0; k < N_SERIES; k++)
		if (c->base_start[k] < f.since_ns)
			f.since_ns = c->base_start[k];
	ret = list_all(c->s, &c->s->conns, store_list_conns, &f, &idx, &n);
	for (size_t i = 0; !ret && i < n; i++) {
		const struct store_conn *rec = store_conn_at(c->s, idx[i]);
		bool failed = false, in = rec->flags & STORE_CONN_INBOUND;

		store_conn_verdict(c->s, idx[i], &failed);
		row_add(c, &r, (struct row){
				   .ts = rec->ts_ns,
				   .k = in ? SER_IN : SER_OUT,
				   .a = rec->comm,
				   .b = in ? store_endpoint(c->s, rec->dst)->port : rec->dst,
				   .n = 1,
				   .bad = failed,
				   .cgroup = rec->cgroup,
			   });
	}
	free(idx);
	if (!ret)
		ret = list_all(c->s, &c->s->drops, store_list_drops, &f, &idx, &n);
	for (size_t i = 0; !ret && i < n; i++) {
		const struct store_drop *d = store_drop_at(c->s, idx[i]);

		row_add(c, &r, (struct row){ .ts = d->ts_ns, .k = SER_DROP, .b = d->reason,
					     .n = d->count ? d->count : 1, .cgroup = -1 });
	}
	free(idx);
	if (!ret)
		ret = list_all(c->s, &c->s->signals, store_list_signals, &f, &idx, &n);
	for (size_t i = 0; !ret && i < n; i++) {
		const struct store_signal *g = store_signal_at(c->s, idx[i]);

		if (g->kind == STORE_SIG_RETRANSMIT)
			row_add(c, &r, (struct row){ .ts = g->ts_ns, .k = SER_RETRANS,
						     .a = g->comm, .b = g->peer,
						     .n = (uint32_t)store_signal_segments(g),
						     .cgroup = -1 });
	}
	free(idx);
	if (!ret)
		ret = list_all(c->s, &c->s->dns, store_list_dns, &f, &idx, &n);
	for (size_t i = 0; !ret && i < n; i++) {
		const struct store_dns *q = store_dns_at(c->s, idx[i]);
		bool answered = q->flags & STORE_DNS_ANSWERED;
		bool failed = answered ? q->rcode != 0 : q->ts_ns + STORE_DNS_TIMEOUT_NS <= c->now;

		row_add(c, &r, (struct row){ .ts = q->ts_ns, .k = SER_DNS, .a = q->comm,
					     .b = q->name, .n = 1, .bad = failed,
					     .rcode = answered ? (int16_t)q->rcode : -1,
					     .cgroup = q->cgroup });
	}
	free(idx);
	if (!ret && !c->err)
		rows_count(c, &r);
	free(r.v);
	return ret ? ret : c->err;
}

/* ---- the kinds ---- */

/* A series' cells in key order: a process's total first, then its keys. */
struct sorted {
	const struct kmap_entry **v;
	size_t n;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct kmap_entry *x = *(const struct kmap_entry *const *)a,
				*y = *(const struct kmap_entry *const *)b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int r = memcmp(x->key, y->key, n);

	return r ? r : (x->klen > y->klen) - (x->klen < y->klen);
}

static void sorted_get(struct anomaly_ctx *c, enum series k, struct sorted *ret)
{
	const struct kmap *m = &c->cells[k];

	ret->n = 0;
	ret->v = calloc(m->n ? m->n : 1, sizeof(*ret->v));
	if (!ret->v) {
		c->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].key)
			ret->v[ret->n++] = &m->v[i];
	qsort(ret->v, ret->n, sizeof(*ret->v), entry_cmp);
}

static const char *ent_process(const struct kmap_entry *e)
{
	return key_field(e->key, e->klen, 0);
}
static const char *ent_key(const struct kmap_entry *e)
{
	return key_field(e->key, e->klen, 1);
}
static const struct cell *ent_cell(const struct kmap_entry *e)
{
	return e->value;
}
static const struct cell *total_of(struct anomaly_ctx *c, enum series k, const char *process)
{
	struct keybuf kb;

	keybuf_reset(&kb);
	keybuf_add(&kb, process);
	keybuf_add(&kb, NULL);
	return kmap_find(&c->cells[k], kb.b, kb.n);
}

static double base_seconds(const struct anomaly_ctx *c, enum series k)
{
	return c->recent_start > c->base_start[k] ? (double)(c->recent_start - c->base_start[k]) / 1e9
						  : 0;
}
static double recent_seconds(const struct anomaly_ctx *c)
{
	return (double)(c->now - c->recent_start) / 1e9;
}

static json_object *finding(struct anomaly_ctx *c, const char *kind, const char *process,
			    const struct cell *v, char *summary)
{
	const struct store_cgroup_info *cg = NULL;
	json_object *f;

	if (json_object_array_length(c->findings) >= MAX_FINDINGS) {
		free(summary);
		return NULL;
	}
	if (v && v->cgroup >= 0)
		cg = store_cgroup(c->s, (uint16_t)v->cgroup);
	f = json_object_new_object();
	json_object_object_add(f, "kind", json_object_new_string(kind));
	json_object_object_add(f, "process",
			       process && *process ? json_object_new_string(process) : NULL);
	json_object_object_add(f, "unit",
			       cg && (cg->unit || cg->container)
				   ? json_object_new_string(cg->unit ? cg->unit : cg->container)
				   : NULL);
	json_object_object_add(f, "summary", json_object_new_string(summary ? summary : kind));
	json_object_object_add(f, "evidence", json_object_new_object());
	if (v && v->first_ns) {
		char when[FMT_TIME_LEN];

		fmt_rfc3339(when, sizeof(when), v->first_ns);
		json_object_object_add(f, "first_seen", json_object_new_string(when));
	}
	json_object_array_add(c->findings, f);
	free(summary);
	return f;
}

static void evidence(json_object *f, const char *key, double v, int decimals)
{
	json_object *e;

	if (f && json_object_object_get_ex(f, "evidence", &e))
		json_object_object_add(e, key, json_number(v, decimals));
}

static void add_string(json_object *f, const char *key, const char *v)
{
	if (f)
		json_object_object_add(f, key, json_object_new_string(v));
}

static void clock_of(const struct cell *v, char *buf, size_t len)
{
	fmt_rfc3339(buf, len, v->first_ns);
}

/* A process (known in the baseline) connecting to a destination it did not use there. */
static void find_new_destinations(struct anomaly_ctx *c)
{
	struct sorted s;

	sorted_get(c, SER_OUT, &s);
	for (size_t i = 0; i < s.n; i++) {
		const struct cell *v = ent_cell(s.v[i]), *t;
		const char *proc = ent_process(s.v[i]), *dst = ent_key(s.v[i]);
		char when[FMT_TIME_LEN];
		json_object *f;

		if (!dst || !v->n[NOW] || v->n[BASE])
			continue;
		t = total_of(c, SER_OUT, proc);
		if (!t || !t->n[BASE])
			continue;
		clock_of(v, when, sizeof(when));
		f = finding(c, "new_destination", proc, v,
			    text_printf("%s connects to %s, which it did not use in the baseline "
					"(%llu connects there to %llu other destinations): %llu "
					"connects since %s",
					proc, dst, (unsigned long long)t->n[BASE],
					(unsigned long long)t->keys, (unsigned long long)v->n[NOW],
					when));
		add_string(f, "destination", dst);
		evidence(f, "recent_connections", (double)v->n[NOW], 0);
		evidence(f, "baseline_connections", 0, 0);
		evidence(f, "process_baseline_connections", (double)t->n[BASE], 0);
		evidence(f, "process_baseline_destinations", (double)t->keys, 0);
	}
	free(s.v);
}

/* A process whose connects fail much more often than in the baseline. */
static void find_failure_spikes(struct anomaly_ctx *c)
{
	struct sorted s;

	sorted_get(c, SER_OUT, &s);
	for (size_t i = 0; i < s.n; i++) {
		const struct cell *v = ent_cell(s.v[i]);
		const char *proc = ent_process(s.v[i]);
		uint64_t rt = v->n[NOW], rf = v->bad[NOW], bt = v->n[BASE], bf = v->bad[BASE];
		double rrate = rt ? (double)rf / (double)rt : 0, brate = bt ? (double)bf / (double)bt : 0;
		json_object *f;

		if (ent_key(s.v[i]) || !bt || rf < FAIL_MIN_COUNT || rrate < FAIL_MIN_RATE ||
		    rrate < brate + FAIL_MIN_DELTA)
			continue;
		f = finding(c, "failure_spike", proc, v,
			    text_printf("%s: %llu of %llu connects failed (%.0f%%), against %llu of "
					"%llu (%.0f%%) in the baseline",
					proc, (unsigned long long)rf, (unsigned long long)rt,
					100 * rrate, (unsigned long long)bf, (unsigned long long)bt,
					100 * brate));
		evidence(f, "recent_failed", (double)rf, 0);
		evidence(f, "recent_connections", (double)rt, 0);
		evidence(f, "recent_failure_rate", rrate, 4);
		evidence(f, "baseline_failed", (double)bf, 0);
		evidence(f, "baseline_connections", (double)bt, 0);
		evidence(f, "baseline_failure_rate", brate, 4);
	}
	free(s.v);
}

/* A drop reason counted much more often per minute than in the baseline. */
static void find_drop_spikes(struct anomaly_ctx *c)
{
	double bs = base_seconds(c, SER_DROP), rs = recent_seconds(c);
	struct sorted s;

	if (bs < 1 || rs <= 0)
		return; /* no baseline to compare with */
	sorted_get(c, SER_DROP, &s);
	for (size_t i = 0; i < s.n; i++) {
		const struct cell *v = ent_cell(s.v[i]);
		const char *reason = ent_key(s.v[i]);
		double rrate = 60.0 * (double)v->n[NOW] / rs, brate = 60.0 * (double)v->n[BASE] / bs;
		json_object *f;

		if (!reason || v->n[NOW] < SPIKE_MIN_COUNT || rrate < SPIKE_FACTOR * brate)
			continue;
		f = finding(c, "drop_spike", NULL, NULL,
			    text_printf("%llu %s drops in the window (%.1f a minute), against %.1f a "
					"minute in the baseline (%llu drops)",
					(unsigned long long)v->n[NOW], reason, rrate, brate,
					(unsigned long long)v->n[BASE]));
		add_string(f, "reason", reason);
		evidence(f, "recent_drops", (double)v->n[NOW], 0);
		evidence(f, "recent_per_minute", rrate, 2);
		evidence(f, "baseline_drops", (double)v->n[BASE], 0);
		evidence(f, "baseline_per_minute", brate, 2);
	}
	free(s.v);
}

/* A port a process accepts connections on that it did not accept any on in the baseline. */
static void find_new_listening_ports(struct anomaly_ctx *c)
{
	struct sorted s;

	if (base_seconds(c, SER_IN) < 1)
		return; /* nothing was seen before: every port would be new */
	sorted_get(c, SER_IN, &s);
	for (size_t i = 0; i < s.n; i++) {
		const struct cell *v = ent_cell(s.v[i]), *t;
		const char *proc = ent_process(s.v[i]), *port = ent_key(s.v[i]);
		char when[FMT_TIME_LEN];
		json_object *f;

		if (!port || !v->n[NOW] || v->n[BASE])
			continue;
		t = total_of(c, SER_IN, proc);
		clock_of(v, when, sizeof(when));
		f = finding(c, "new_listening_port", proc, v,
			    text_printf("%s accepts connections on port %s, where it accepted none in "
					"the baseline (%llu accepted there on %llu other ports): %llu "
					"connections since %s",
					proc, port, (unsigned long long)(t ? t->n[BASE] : 0),
					(unsigned long long)(t ? t->keys : 0),
					(unsigned long long)v->n[NOW], when));
		if (f)
			json_object_object_add(f, "port", json_object_new_int(atoi(port)));
		evidence(f, "recent_connections", (double)v->n[NOW], 0);
		evidence(f, "baseline_connections", 0, 0);
		evidence(f, "process_baseline_connections", (double)(t ? t->n[BASE] : 0), 0);
		evidence(f, "process_baseline_ports", (double)(t ? t->keys : 0), 0);
	}
	free(s.v);
}

/* The key of the process's cells with the most recent events (failed ones when bad), or NULL. */
static const struct kmap_entry *top_key(const struct sorted *s, size_t from, bool bad)
{
	const struct kmap_entry *best = NULL;
	const char *proc = ent_process(s->v[from]);

	for (size_t i = from; i < s->n; i++) {
		const char *p = ent_process(s->v[i]);
		const struct cell *v = ent_cell(s->v[i]);

		if (strcmp(p ? p : "", proc ? proc : ""))
			break;
		if (!ent_key(s->v[i]) || !(bad ? v->bad[NOW] : v->n[NOW]))
			continue;
		if (!best || (bad ? v->bad[NOW] > ent_cell(best)->bad[NOW]
				  : v->n[NOW] > ent_cell(best)->n[NOW]))
			best = s->v[i];
	}
	return best;
}

/* A process retransmitting many more TCP segments per minute than in the baseline. */
static void find_retransmit_spikes(struct anomaly_ctx *c)
{
	double bs = base_seconds(c, SER_RETRANS), rs = recent_seconds(c);
	struct sorted s;

	if (bs < 1 || rs <= 0)
		return;
	sorted_get(c, SER_RETRANS, &s);
	for (size_t i = 0; i < s.n; i++) {
		const struct cell *v = ent_cell(s.v[i]);
		const char *proc = ent_process(s.v[i]);
		const struct kmap_entry *top;
		double rrate = 60.0 * (double)v->n[NOW] / rs, brate = 60.0 * (double)v->n[BASE] / bs;
		json_object *f;

		if (ent_key(s.v[i]) || v->n[NOW] < RETRANS_MIN || rrate < SPIKE_FACTOR * brate)
			continue;
		top = top_key(&s, i, false);
		f = finding(c, "retransmit_spike", proc, top ? ent_cell(top) : v,
			    text_printf("%s retransmitted %llu TCP segments in the window (%.1f a "
					"minute; most to %s: %llu), against %.1f a minute in the "
					"baseline (%llu)",
					proc && *proc ? proc : "(unknown process)",
					(unsigned long long)v->n[NOW], rrate,
					top ? ent_key(top) : "?",
					(unsigned long long)(top ? ent_cell(top)->n[NOW] : 0), brate,
					(unsigned long long)v->n[BASE]));
		if (top)
			add_string(f, "destination", ent_key(top));
		evidence(f, "recent_retransmits", (double)v->n[NOW], 0);
		evidence(f, "recent_per_minute", rrate, 2);
		evidence(f, "destination_retransmits", (double)(top ? ent_cell(top)->n[NOW] : 0), 0);
		evidence(f, "baseline_retransmits", (double)v->n[BASE], 0);
		evidence(f, "baseline_per_minute", brate, 2);
	}
	free(s.v);
}

/* A process whose DNS lookups fail (an error rcode, or no answer) in a burst. */
static void find_dns_failure_bursts(struct anomaly_ctx *c)
{
	double bs = base_seconds(c, SER_DNS), rs = recent_seconds(c);
	struct sorted s;

	if (rs <= 0)
		return;
	sorted_get(c, SER_DNS, &s);
	for (size_t i = 0; i < s.n; i++) {
		const struct cell *v = ent_cell(s.v[i]), *tv;
		const char *proc = ent_process(s.v[i]);
		const struct kmap_entry *top;
		double rrate = 60.0 * (double)v->bad[NOW] / rs,
		       brate = bs >= 1 ? 60.0 * (double)v->bad[BASE] / bs : 0;
		char buf[24];
		const char *rcode = "unanswered";
		json_object *f;

		if (ent_key(s.v[i]) || v->bad[NOW] < DNS_MIN_FAILED || rrate < SPIKE_FACTOR * brate)
			continue;
		top = top_key(&s, i, true);
		tv = top ? ent_cell(top) : v;
		if (tv->rcode >= 0)
			rcode = dns_rcode_name((uint16_t)tv->rcode, buf, sizeof(buf));
		f = finding(c, "dns_failure_burst", proc, tv,
			    text_printf("%s: %llu of %llu DNS lookups failed in the window (%.1f a "
					"minute; most for %s: %llu, latest %s), against %.1f a minute "
					"in the baseline (%llu of %llu)",
					proc, (unsigned long long)v->bad[NOW],
					(unsigned long long)v->n[NOW], rrate,
					top ? ent_key(top) : "?",
					(unsigned long long)tv->bad[NOW], rcode, brate,
					(unsigned long long)v->bad[BASE],
					(unsigned long long)v->n[BASE]));
		if (top)
			add_string(f, "name", ent_key(top));
		add_string(f, "rcode", rcode);
		evidence(f, "recent_failed", (double)v->bad[NOW], 0);
		evidence(f, "recent_lookups", (double)v->n[NOW], 0);
		evidence(f, "recent_per_minute", rrate, 2);
		evidence(f, "name_failed", (double)tv->bad[NOW], 0);
		evidence(f, "baseline_failed", (double)v->bad[BASE], 0);
		evidence(f, "baseline_lookups", (double)v->n[BASE], 0);
		evidence(f, "baseline_per_minute", brate, 2);
	}
	free(s.v);
}

static const struct anomaly_kind {
	const char *kind;
	enum series series;
	void (*find)(struct anomaly_ctx *c);
} kinds[] = {
	{ "new_destination", SER_OUT, find_new_destinations },
	{ "failure_spike", SER_OUT, find_failure_spikes },
	{ "drop_spike", SER_DROP, find_drop_spikes },
	{ "new_listening_port", SER_IN, find_new_listening_ports },
	{ "retransmit_spike", SER_RETRANS, find_retransmit_spikes },
	{ "dns_failure_burst", SER_DNS, find_dns_failure_bursts },
};

static json_object *window_json(uint64_t start, uint64_t end)
{
	json_object *o = json_object_new_object();
	char buf[FMT_TIME_LEN];

	fmt_rfc3339(buf, sizeof(buf), start);
	json_object_object_add(o, "start", json_object_new_string(buf));
	fmt_rfc3339(buf, sizeof(buf), end);
	json_object_object_add(o, "end", json_object_new_string(buf));
	json_object_object_add(o, "seconds",
			       json_object_new_int64((int64_t)((end - start) / 1000000000ull)));
	return o;
}

/* The oldest event the store holds (ns), or end when it holds none before it. */
static uint64_t store_oldest(const struct store *s, uint64_t end)
{
	const struct store_ring *rings[] = { &s->conns, &s->drops, &s->signals, &s->dns };
	uint64_t oldest = end;

	for (size_t i = 0; i < sizeof(rings) / sizeof(rings[0]); i++) {
		uint64_t t;

		if (!rings[i]->count)
			continue;
		t = *(const uint64_t *)store_ring_at(rings[i], rings[i]->head - rings[i]->count);
		if (t < oldest)
			oldest = t;
	}
	return oldest;
}

static int anomalies_run(struct tool_context *ctx, json_object *args, json_object **ret,
			 char **ret_error)
{
	struct anomaly_ctx c = { 0 };
	struct data_query q;
	json_object *o, *v, *list, *base;
	int64_t baseline = BASELINE_DEFAULT;
	uint64_t base_start, live_from, widest;
	const char *note = NULL, *bsource;
	bool any_history = false, any_live = false;
	char *live_note = NULL;
	int r = data_begin(ctx, args, 0, &q, ret_error);

	if (r < 0)
		return r;
	if (json_object_object_get_ex(args, "baseline", &v))
		baseline = json_object_get_int64(v);
	c.s = q.s;
	c.now = q.a.now_ns;
	c.recent_start = q.a.since_ns;
	base_start = c.recent_start - (uint64_t)baseline * NS;
	/* netspyd's events reach back to the oldest the store holds. */
	live_from = store_oldest(c.s, c.recent_start);
	for (int k = 0; k < N_SERIES; k++) {
		kmap_init(&c.cells[k], sizeof(struct cell));
		c.base_start[k] = live_from > base_start ? live_from : base_start;
	}
	c.findings = json_object_new_array();
	baseline_from_history(ctx, &c, &q.a, base_start, live_from, &note);
	r = c.err ? c.err : collect(&c, &q.f);
	if (r < 0) {
		for (int k = 0; k < N_SERIES; k++)
			kmap_fini(&c.cells[k]);
		json_object_put(c.findings);
		data_query_free(&q);
		return data_error(r, ret_error);
	}
	list = json_object_new_array();
	widest = c.recent_start;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		json_object *k = json_object_new_object();
		enum series sr = kinds[i].series;

		if (!c.err)
			kinds[i].find(&c);
		json_object_object_add(k, "kind", json_object_new_string(kinds[i].kind));
		json_object_object_add(k, "available", json_object_new_boolean(true));
		json_object_object_add(k, "needs", NULL);
		json_object_object_add(k, "baseline", json_object_new_string(
							    c.from_history[sr] ? "history" : "live"));
		json_object_object_add(k, "baseline_seconds",
				       json_object_new_int64((int64_t)base_seconds(&c, sr)));
		json_object_array_add(list, k);
		any_history |= c.from_history[sr];
		any_live |= !c.from_history[sr];
		if (c.base_start[sr] < widest)
			widest = c.base_start[sr];
	}
	if (any_history && any_live) {
		char kinds_live[256] = "";

		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (!c.from_history[kinds[i].series])
				snprintf(kinds_live + strlen(kinds_live),
					 sizeof(kinds_live) - strlen(kinds_live), "%s%s",
					 kinds_live[0] ? ", " : "", kinds[i].kind);
		live_note = text_printf("the recorder's history (an older schema) keeps no counts "
					"for %s: they compare with netspyd's earlier events",
					kinds_live);
		note = live_note;
	}
	bsource = any_history ? "history" : "live";
	o = data_result_new(ctx, &q.a);
	data_finish(&q, o); /* the window's coverage; frees q */
	json_object_object_add(o, "source",
			       json_object_new_string(any_history ? "live+history" : "live"));
	base = window_json(widest, c.recent_start);
	json_object_object_add(base, "source", json_object_new_string(bsource));
	json_object_object_add(base, "note", note ? json_object_new_string(note) : NULL);
	json_object_object_add(o, "baseline", base);
	json_object_object_add(o, "recent", window_json(c.recent_start, c.now));
	json_object_object_add(o, "findings", c.findings);
	json_object_object_add(o, "kinds", list);
	free(live_note);
	for (int k = 0; k < N_SERIES; k++)
		kmap_fini(&c.cells[k]);
	if (c.err) {
		json_object_put(o);
		return data_error(c.err, ret_error);
	}
	*ret = o;
	return 0;
}

static void anomalies_print(FILE *f, json_object *r)
{
	json_object *findings = json_object_object_get(r, "findings");
	json_object *base = json_object_object_get(r, "baseline");
	json_object *kinds_o = json_object_object_get(r, "kinds");
	size_t n = findings ? json_object_array_length(findings) : 0;
	char subject[256];

	fprintf(f, "%s: %zu anomal%s in the last %lld seconds, against a baseline of %lld seconds "
		   "before it (from %s)\n",
		text_subject(r, subject, sizeof(subject)), n, n == 1 ? "y" : "ies",
		(long long)json_int(r, "duration"), (long long)json_int(base, "seconds"),
		!strcmp(json_str(base, "source", "live"), "history") ? "the recorder's history"
								     : "netspyd's events");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(findings, i);

		fprintf(f, "  [%s] ", json_str(e, "kind", "?"));
		text_safe(f, json_str(e, "summary", ""));
		fputc('\n', f);
	}
	if (!n && json_int(base, "seconds") == 0)
		fprintf(f, "  (no baseline yet: netspy holds no events from before the window)\n");
	if (json_str(base, "note", NULL)) {
		fputs("  note: ", f);
		text_safe(f, json_str(base, "note", ""));
		fputc('\n', f);
	}
	for (size_t i = 0; kinds_o && i < json_object_array_length(kinds_o); i++) {
		json_object *k = json_object_array_get_idx(kinds_o, i);

		if (!json_flag(k, "available"))
			fprintf(f, "  not checked: %s (needs %s)\n", json_str(k, "kind", "?"),
				json_str(k, "needs", "?"));
	}
	text_events_lost(f, r);
}

#define S_WINDOW                                                                     \
	"{\"type\":\"object\",\"properties\":{\"start\":" S_STRING ",\"end\":" S_STRING \
	",\"seconds\":" S_COUNT "},\"required\":[\"start\",\"end\",\"seconds\"]}"
#define S_BASELINE                                                                           \
	"{\"type\":\"object\",\"properties\":{\"start\":" S_STRING ",\"end\":" S_STRING        \
	",\"seconds\":" S_COUNT ",\"source\":{\"type\":\"string\",\"enum\":[\"history\","      \
	"\"live\"]},\"note\":" S_STRING_OR_NULL "},\"required\":[\"start\",\"end\",\"seconds\"," \
	"\"source\",\"note\"]}"
#define S_FINDING                                                                            \
	"{\"type\":\"object\",\"properties\":{\"kind\":" S_STRING ",\"process\":"             \
	S_STRING_OR_NULL ",\"unit\":" S_STRING_OR_NULL ",\"summary\":" S_STRING                \
	",\"evidence\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\"}},"  \
	"\"destination\":" S_STRING ",\"first_seen\":" S_STRING ",\"reason\":" S_STRING        \
	",\"port\":" S_COUNT ",\"name\":" S_STRING ",\"rcode\":" S_STRING "},"                   \
	"\"required\":[\"kind\",\"process\",\"unit\",\"summary\",\"evidence\"]}"
#define S_KIND                                                                                \
	"{\"type\":\"object\",\"properties\":{\"kind\":" S_STRING ",\"available\":{\"type\":" \
	"\"boolean\"},\"needs\":" S_STRING_OR_NULL ",\"baseline\":{\"type\":\"string\","      \
	"\"enum\":[\"history\",\"live\"]},\"baseline_seconds\":" S_COUNT "},\"required\":["    \
	"\"kind\",\"available\",\"needs\",\"baseline\",\"baseline_seconds\"]}"

const struct tool tool_find_anomalies = {
	.name = "find_anomalies",
	.command = "anomalies",
	.title = "Find anomalies",
	.description =
	    "Compare the last DURATION seconds with the BASELINE seconds before them (default "
	    "3600: from the recorder's history when it reaches further back than netspyd's "
	    "events, else from those) and report what changed, each finding with its evidence "
	    "numbers: a process connecting to a destination it did not use in the baseline "
	    "(new_destination), a process whose connects fail much more often "
	    "(failure_spike), a drop reason counted much more often per minute (drop_spike), a "
	    "port a process accepts connections on that it did not before "
	    "(new_listening_port), a process retransmitting many more TCP segments "
	    "(retransmit_spike), a burst of failed DNS lookups: NXDOMAIN, SERVFAIL, REFUSED or "
	    "no answer (dns_failure_burst). Optionally for one process id, process name or "
	    "systemd unit. Steady traffic gives no findings.",
	.input_schema = ARGS_SCHEMA(ARG_PID "," ARG_PROCESS "," ARG_DURATION "," ARG_UNIT
				    ",\"baseline\":{\"type\":\"integer\",\"minimum\":1,"
				    "\"maximum\":604800,\"description\":\"Seconds before the "
				    "window to compare with (default 3600)\"}"),
	.output_schema =
	    "{\"type\":\"object\",\"properties\":{" OUT_COMMON ",\"baseline\":" S_BASELINE
	    ",\"recent\":" S_WINDOW ",\"findings\":{\"type\":\"array\",\"items\":" S_FINDING
	    "},\"kinds\":{\"type\":\"array\",\"items\":" S_KIND "}},\"required\":["
	    OUT_COMMON_REQUIRED ",\"baseline\",\"recent\",\"findings\",\"kinds\"]}",
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = anomalies_run,
	.print = anomalies_print,
};
