/* Helpers shared by the tools of this directory (summary.c, list.c, drops.c, list_drops.c,
 * analyze.c, and the AI tools' printing), so that each tool file holds only what is its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <netinet/in.h>

#include "clock.h"
#include "core/analyzer.h"
#include "core/format.h"
#include "core/history.h"
#include "core/text.h"
#include "tools/data.h"

#define NS 1000000000ull

int data_parse_time(const char *s, uint64_t *ret_ns)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	uint64_t frac = 0;
	time_t t;

	if (!p)
		p = strptime(s, "%Y-%m-%dt%H:%M:%S", &tm);
	if (p) {
		long off = 0;

		if (*p == '.') {
			uint64_t scale = NS / 10;

			for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
				frac += (uint64_t)(*p - '0') * scale;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			unsigned hh, mm;
			char sep;

			if (sscanf(p + 1, "%2u%c%2u", &hh, &sep, &mm) != 3 || sep != ':' ||
			    hh > 23 || mm > 59 || strlen(p) < 6)
				return -EINVAL;
			off = (long)(hh * 60 + mm) * 60 * (*p == '+' ? 1 : -1);
			p += 6;
		} else {
			return -EINVAL;
		}
		if (*p)
			return -EINVAL;
		t = timegm(&tm) - off;
	} else {
		memset(&tm, 0, sizeof(tm));
		p = strptime(s, "%Y-%m-%d %H:%M", &tm);
		if (p && *p == ':')
			p = strptime(p, ":%S", &tm);
		if (!p || *p)
			return -EINVAL;
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	if (t <= 0)
		return -EINVAL;
	*ret_ns = (uint64_t)t * NS + frac;
	return 0;
}

static int time_arg(json_object *args, const char *key, uint64_t *ret, char **ret_error)
{
	json_object *v;

	if (!json_object_object_get_ex(args, key, &v))
		return 0;
	if (data_parse_time(json_object_get_string(v), ret) == 0)
		return 1;
	*ret_error = text_printf("'%s' must be an RFC 3339 time (2026-11-29T18:00:00Z) or "
				 "'YYYY-MM-DD HH:MM' in local time, not '%s'",
				 key, json_object_get_string(v));
	return -EINVAL;
}

int data_args_get(json_object *args, int64_t default_max, struct data_args *ret, char **ret_error)
{
	json_object *v;
	uint64_t since = 0, until = 0;
	int has_since, has_until;

	memset(ret, 0, sizeof(*ret));
	ret->duration = 60;
	ret->max_events = default_max;
	if (json_object_object_get_ex(args, "pid", &v))
		ret->pid = (uint32_t)json_object_get_int64(v);
	if (json_object_object_get_ex(args, "process_name", &v))
		ret->process = json_object_get_string(v);
	if (json_object_object_get_ex(args, "unit", &v))
		ret->unit = json_object_get_string(v);
	if (json_object_object_get_ex(args, "dest", &v))
		ret->dest = json_object_get_string(v);
	if (json_object_object_get_ex(args, "port", &v))
		ret->port = json_object_get_int64(v);
	if (json_object_object_get_ex(args, "protocol", &v))
		ret->protocol = json_object_get_string(v);
	if (json_object_object_get_ex(args, "name", &v))
		ret->name = json_object_get_string(v);
	if (json_object_object_get_ex(args, "duration", &v))
		ret->duration = json_object_get_int64(v);
	if (json_object_object_get_ex(args, "max_events", &v))
		ret->max_events = json_object_get_int64(v);
	ret->outcome = -1;
	if (json_object_object_get_ex(args, "direction", &v))
		ret->direction = json_object_get_string(v)[0] == 'i' ? STORE_DIR_IN : STORE_DIR_OUT;
	if (json_object_object_get_ex(args, "outcome", &v)) {
		for (int i = 0; i < STORE_N_OUTCOMES; i++)
			if (!strcmp(fmt_outcome(i), json_object_get_string(v)))
				ret->outcome = i;
	}
	if (json_object_object_get_ex(args, "reason", &v))
		ret->reason = json_object_get_string(v);
	ret->now_ns = clock_ns(CLOCK_REALTIME);
	has_since = time_arg(args, "since", &since, ret_error);
	if (has_since < 0)
		return has_since;
	has_until = time_arg(args, "until", &until, ret_error);
	if (has_until < 0)
		return has_until;
	if (has_until) {
		ret->now_ns = until;
		ret->until_given = true;
	}
	if (has_since) {
		if (since >= ret->now_ns) {
			*ret_error =
			    strdup("the window's start ('since') must come before its end");
			return -EINVAL;
		}
		ret->since_ns = since;
		ret->duration = (int64_t)((ret->now_ns - since + NS - 1) / NS);
	} else {
		ret->since_ns = ret->now_ns - (uint64_t)ret->duration * NS;
	}
	return 0;
}

void data_filter(const struct data_args *a, struct store_filter *ret)
{
	*ret = (struct store_filter){
		.since_ns = a->since_ns,
		.until_ns = a->until_given ? a->now_ns : 0,
		.pid = a->pid,
		.process = a->process,
		.unit = a->unit,
		.dest = a->dest,
		.port = (uint16_t)a->port,
		.proto = !a->protocol			 ? 0
			 : !strcasecmp(a->protocol, "tcp") ? IPPROTO_TCP
							   : IPPROTO_UDP,
		.name = a->name,
		.direction = a->direction,
		.outcome_set = a->outcome >= 0,
		.outcome = a->outcome,
		.reason = a->reason,
	};
}

int data_store(struct tool_context *ctx, struct store **ret, char **ret_error)
{
	if (!ctx || !ctx->an) {
		*ret_error = strdup("not connected to netspyd: no event data");
		return -ENOTCONN;
	}
	/* Live sessions (shell, MCP) answer with everything that happened up to now. When the
	 * daemon has gone away they answer from what was received (the frontend says so); only
	 * an analyzer that never reached the daemon has nothing to answer from. */
	if (ctx->an->opts.live)
		analyzer_poll(ctx->an, 0);
	if (ctx->an->opts.live && !ctx->an->connected && !ctx->an->boot_id) {
		*ret_error =
		    strdup(ctx->an->error[0] ? ctx->an->error : "not connected to netspyd");
		return -ENOTCONN;
	}
	*ret = &ctx->an->store;
	return 0;
}

/* Where netspyd's data starts: the oldest event its backlog held at the last replay, or what the
 * store kept from before (a live session), or later when the store itself pushed records out. */
static uint64_t live_start(const struct analyzer *an, const struct store *s, uint64_t now)
{
	uint64_t l = an->backlog_oldest_ns ? an->backlog_oldest_ns : now;
	const struct store_ring *rings[2] = { &s->conns, &s->drops };

	for (int i = 0; i < 2; i++) {
		uint64_t oldest;

		if (!rings[i]->count)
			continue;
		oldest =
		    *(const uint64_t *)store_ring_at(rings[i], rings[i]->head - rings[i]->count);
		if (rings[i]->count >= rings[i]->max && s->evicted)
			l = oldest > l ? oldest : l;
		else if (!s->evicted && oldest < l)
			l = oldest;
	}
	return l;
}

static void set_note(struct data_query *q, char *note)
{
	free(q->note_buf);
	q->note_buf = note;
	q->note = note;
}

/* Live, or (for aggregate tools, when the window starts a minute or more before netspyd's data)
 * the history database for the minutes before it. */
static void plan_sources(struct tool_context *ctx, struct data_query *q, bool aggregate)
{
	uint64_t l = live_start(ctx->an, q->s, clock_ns(CLOCK_REALTIME)), b, end = q->a.now_ns;
	char when[FMT_TIME_LEN], *err = NULL;
	const char *path, *what;
	int r;

	q->source = "live";
	q->granularity = 0;
	q->covered_since_ns = q->a.since_ns > l ? q->a.since_ns : l;
	q->covered_until_ns = end;
	if (q->covered_since_ns >= end)
		q->covered_since_ns = q->covered_until_ns = 0;
	if (q->a.since_ns + 60 * NS > l)
		return;
	fmt_rfc3339(when, sizeof(when), l);
	if (!aggregate) {
		set_note(q, text_printf("netspyd's events start at %s; before that the recorder "
					"keeps per-minute counts only, which summary, analyze "
					"and drops answer from",
					when));
		return;
	}
	if (q->a.pid) {
		set_note(q, text_printf("netspyd's events start at %s; the history keeps no "
					"process ids (filter by process name instead)",
					when));
		return;
	}
	what = q->a.dest	       ? "a dest filter"
	       : q->a.port	       ? "a port filter"
	       : q->a.protocol	       ? "a protocol filter"
	       : q->a.outcome >= 0 ? "an outcome filter"
	       : q->a.reason	       ? "a reason filter"
				       : NULL;
	if (what) {
		/* rather than answer the older part unfiltered */
		set_note(q, text_printf("netspyd's events start at %s; the history's per-minute "
					"rollups cannot answer %s: the window's part before that is "
					"not covered",
					when, what));
		return;
	}
	path = history_path(ctx->history);
	r = history_open_ro(path, &q->h, &err);
	if (r < 0) {
		set_note(q, text_printf("netspyd's events start at %s; %s", when,
					err ? err : strerror(-r)));
		free(err);
		return;
	}
	/* The store answers from the first minute boundary after l that the history has
	 * reached, or from l itself when the history ends before l (nothing overlaps). */
	b = (l + 60 * NS - 1) / (60 * NS) * (60 * NS);
	if (b > history_resume_point(q->h) * NS)
		b = l;
	q->live_from_ns = b;
	if (q->f.since_ns < b)
		q->f.since_ns = b;
	if (end <= b) {
		q->source = "history";
		q->f.until_ns = b; /* nothing live: [b, b) */
	} else {
		q->source = "live+history";
	}
}

static int data_begin_kind(struct tool_context *ctx, json_object *args, int64_t default_max,
			   bool aggregate, struct data_query *ret, char **ret_error)
{
	int r;

	memset(ret, 0, sizeof(*ret));
	r = data_args_get(args, default_max, &ret->a, ret_error);
	if (r < 0)
		return r;
	data_filter(&ret->a, &ret->f);
	r = data_store(ctx, &ret->s, ret_error);
	if (r == 0)
		plan_sources(ctx, ret, aggregate);
	return r;
}

int data_begin(struct tool_context *ctx, json_object *args, int64_t default_max,
	       struct data_query *ret, char **ret_error)
{
	return data_begin_kind(ctx, args, default_max, default_max == 0, ret, ret_error);
}

static struct history_query history_window(const struct data_query *q)
{
	return (struct history_query){
		.since = q->a.since_ns / NS,
		.until = (q->live_from_ns < q->a.now_ns ? q->live_from_ns : q->a.now_ns) / NS,
		.process = q->a.process,
		.unit = q->a.unit,
	};
}

/* The covered window and granularity, from the history's part and the live part. */
static void covered_merge(struct data_query *q, uint64_t h_since, uint64_t h_until, unsigned gran)
{
	bool live = !strcmp(q->source, "live+history");
	uint64_t ls = q->live_from_ns, le = q->a.now_ns;

	q->granularity = gran;
	if (h_since) {
		q->covered_since_ns = h_since * NS;
		q->covered_until_ns = live ? le : h_until * NS;
	} else {
		q->covered_since_ns = live ? ls : 0;
		q->covered_until_ns = live ? le : 0;
	}
	if (q->covered_since_ns && q->covered_since_ns < q->a.since_ns)
		q->covered_since_ns = q->a.since_ns;
}

/* The history could not answer this query: the older part of the window stays uncovered. */
static void history_unused(struct data_query *q, char *why)
{
	char *note = why;

	if (q->note && why) {
		note = text_printf("%s; %s", q->note, why);
		free(why);
	}
	set_note(q, note);
	history_close(q->h);
	q->h = NULL;
	if (!strcmp(q->source, "live+history"))
		q->source = "live";
	else if (!strcmp(q->source, "history"))
		q->covered_since_ns = q->covered_until_ns = 0;
}

int data_history_conns(struct data_query *q, struct store_conn_stats *st, char **ret_error)
{
	struct history_query hq;
	int r;

	if (!q->h)
		return 0;
	q->hc = calloc(1, sizeof(*q->hc));
	if (!q->hc)
		return data_error(-ENOMEM, ret_error);
	hq = history_window(q);
	hq.detail = q->detail;
	hq.direction = q->a.direction;
	r = history_conn_stats(q->h, &hq, q->hc, ret_error);
	if (r < 0) {
		free(q->hc);
		q->hc = NULL;
		return r;
	}
	covered_merge(q, q->hc->covered_since, q->hc->covered_until, q->hc->granularity);
	st->total += q->hc->total;
	st->failed += q->hc->failed;
	for (int i = 0; i < 256; i++)
		st->by_proto[i] += q->hc->by_proto[i];
	for (int i = 0; i < STORE_N_OUTCOMES; i++)
		st->by_outcome[i] += q->hc->by_outcome[i];
	st->inbound += q->hc->by_direction[HISTORY_DIR_INBOUND];
	return 0;
}

int data_history_drops(struct data_query *q, struct store_drop_stats *st, char **ret_error)
{
	struct history_query hq;
	int r;

	if (!q->h)
		return 0;
	q->hd = calloc(1, sizeof(*q->hd));
	if (!q->hd)
		return data_error(-ENOMEM, ret_error);
	hq = history_window(q);
	r = history_drop_stats(q->h, &hq, q->hd, ret_error);
	if (r < 0) {
		free(q->hd);
		q->hd = NULL;
		return r;
	}
	covered_merge(q, q->hd->covered_since, q->hd->covered_until, q->hd->granularity);
	st->total += q->hd->total;
	st->attributed += q->hd->attributed;
	for (int i = 0; i < 256; i++)
		st->by_proto[i] += q->hd->by_proto[i];
	return 0;
}

int data_history_dns(struct data_query *q, char **ret_error)
{
	struct history_query hq;
	char *err = NULL;
	int r;

	if (!q->h)
		return 0;
	q->hdns = calloc(1, sizeof(*q->hdns));
	if (!q->hdns)
		return data_error(-ENOMEM, ret_error);
	hq = history_window(q);
	hq.name = q->a.name;
	r = history_dns_stats(q->h, &hq, q->hdns, &err);
	if (r < 0) {
		free(q->hdns);
		q->hdns = NULL;
		if (r == -ENODATA) { /* an older database: say so, answer the rest */
			history_unused(q, err);
			return 0;
		}
		*ret_error = err;
		return r;
	}
	covered_merge(q, q->hdns->covered_since, q->hdns->covered_until, q->hdns->granularity);
	return 0;
}

int data_history_tcp(struct data_query *q, char **ret_error)
{
	struct history_query hq;
	char *err = NULL;
	int r;

	if (!q->h)
		return 0;
	q->htcp = calloc(1, sizeof(*q->htcp));
	if (!q->htcp)
		return data_error(-ENOMEM, ret_error);
	hq = history_window(q);
	hq.direction = q->a.direction;
	r = history_tcp_stats(q->h, &hq, q->htcp, &err);
	if (r < 0) {
		free(q->htcp);
		q->htcp = NULL;
		if (r == -ENODATA) {
			history_unused(q, err);
			return 0;
		}
		*ret_error = err;
		return r;
	}
	covered_merge(q, q->htcp->covered_since, q->htcp->covered_until, q->htcp->granularity);
	return 0;
}

void data_note_add(struct data_query *q, const char *text)
{
	char *note = q->note ? text_printf("%s; %s", q->note, text) : strdup(text);

	if (note)
		set_note(q, note);
}

json_object *data_latency_buckets(const uint64_t b[STORE_LATENCY_BUCKETS])
{
	json_object *l = json_object_new_object();
	uint64_t n = 0;

	for (int i = 0; i < STORE_LATENCY_BUCKETS; i++)
		n += b[i];
	json_object_object_add(l, "count", json_object_new_int64((int64_t)n));
	json_object_object_add(l, "p50", n ? json_number(history_percentile_ms(b, 0.50), 3) : NULL);
	json_object_object_add(l, "p90", n ? json_number(history_percentile_ms(b, 0.90), 3) : NULL);
	json_object_object_add(l, "p99", n ? json_number(history_percentile_ms(b, 0.99), 3) : NULL);
	return l;
}

void data_merge_top(json_object *o, const char *field, const char *key,
		    const struct history_tops *h, bool with_failed);

/* Adds a history top list to a result's top list ({key, count, failed}), keeps the first
 * STORE_TOP_N by count. */
void data_merge_top(json_object *o, const char *field, const char *key,
		      const struct history_tops *h, bool with_failed)
{
	struct history_tops t = { 0 };
	json_object *arr, *out;

	if (!json_object_object_get_ex(o, field, &arr))
		return;
	/* the history's whole list, then the live top entries merged into it */
	t.v = malloc((h->n + json_object_array_length(arr) + 1) * sizeof(*t.v));
	if (!t.v)
		return;
	t.cap = h->n + json_object_array_length(arr) + 1;
	for (size_t i = 0; i < h->n; i++) {
		t.v[i] = h->v[i];
		t.v[i].name = strdup(h->v[i].name);
		if (!t.v[i].name)
			break;
		t.n++;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		history_tops_add(&t, json_str(e, key, ""), (uint64_t)json_int(e, "count"),
				 (uint64_t)json_int(e, "failed"));
	}
	history_tops_sort(&t);
	out = json_object_new_array();
	for (size_t i = 0; i < t.n && i < STORE_TOP_N; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, key, json_object_new_string(t.v[i].name));
		json_object_object_add(e, "count", json_object_new_int64((int64_t)t.v[i].count));
		if (with_failed)
			json_object_object_add(e, "failed",
					       json_object_new_int64((int64_t)t.v[i].failed));
		json_object_array_add(out, e);
	}
	history_tops_free(&t);
	json_object_object_add(o, field, out);
}

static void merge_latency(json_object *o, const struct store_conn_stats *live,
			  const struct history_conn_stats *h)
{
	uint64_t b[STORE_LATENCY_BUCKETS], n = 0;
	json_object *l;

	if (!json_object_object_get_ex(o, "latency_ms", &l))
		return;
	for (int i = 0; i < STORE_LATENCY_BUCKETS; i++) {
		b[i] = (live ? live->latency_buckets[i] : 0) + h->buckets[i];
		n += h->buckets[i];
	}
	if (!n)
		return; /* live only: its percentiles are exact */
	n = 0;
	for (int i = 0; i < STORE_LATENCY_BUCKETS; i++)
		n += b[i];
	l = json_object_new_object();
	json_object_object_add(l, "count", json_object_new_int64((int64_t)n));
	json_object_object_add(l, "p50", json_number(history_percentile_ms(b, 0.50), 3));
	json_object_object_add(l, "p90", json_number(history_percentile_ms(b, 0.90), 3));
	json_object_object_add(l, "p99", json_number(history_percentile_ms(b, 0.99), 3));
	json_object_object_add(o, "latency_ms", l);
}

static void merge_counts(json_object *o, const char *field, const struct history_tops *h)
{
	json_object *c, *prev;

	if (!json_object_object_get_ex(o, field, &c))
		return;
	for (size_t i = 0; i < h->n; i++) {
		int64_t n = (int64_t)h->v[i].count;

		if (json_object_object_get_ex(c, h->v[i].name, &prev))
			n += json_object_get_int64(prev);
		json_object_object_add(c, h->v[i].name, json_object_new_int64(n));
	}
}

static json_object *time_or_null(uint64_t ns)
{
	char buf[FMT_TIME_LEN];

	if (!ns)
		return NULL;
	fmt_rfc3339(buf, sizeof(buf), ns);
	return json_object_new_string(buf);
}

void data_finish(struct data_query *q, json_object *o)
{
	if (q->hc) {
		data_merge_top(o, "processes", "process", &q->hc->processes, true);
		data_merge_top(o, "top_talkers", "process", &q->hc->processes, true);
		data_merge_top(o, "top_destinations", "destination", &q->hc->destinations, true);
		data_merge_top(o, "refused_destinations", "destination", &q->hc->refused, true);
		data_merge_top(o, "unreachable_destinations", "destination", &q->hc->unreachable, true);
		merge_latency(o, q->live_stats, q->hc);
	}
	if (q->hd) {
		merge_counts(o, "by_reason", &q->hd->reasons);
		data_merge_top(o, "by_process", "process", &q->hd->processes, true);
	}
	json_object_object_add(o, "source", json_object_new_string(q->source ? q->source : "live"));
	json_object_object_add(o, "covered_start", time_or_null(q->covered_since_ns));
	json_object_object_add(o, "covered_end", time_or_null(q->covered_until_ns));
	json_object_object_add(o, "granularity_seconds", json_object_new_int(q->granularity));
	json_object_object_add(o, "history_note", q->note ? json_object_new_string(q->note) : NULL);
	data_query_free(q);
}

void data_query_free(struct data_query *q)
{
	if (q->hc) {
		history_conn_stats_free(q->hc);
		free(q->hc);
	}
	if (q->hd) {
		history_drop_stats_free(q->hd);
		free(q->hd);
	}
	if (q->hdns) {
		history_dns_stats_free(q->hdns);
		free(q->hdns);
	}
	if (q->htcp) {
		history_tcp_stats_free(q->htcp);
		free(q->htcp);
	}
	history_close(q->h);
	free(q->note_buf);
	q->hc = NULL;
	q->hd = NULL;
	q->hdns = NULL;
	q->htcp = NULL;
	q->h = NULL;
	q->note = q->note_buf = NULL;
}

/* total_connections, failed_connections, failure_rate */
static void data_add_totals(json_object *o, const struct store_conn_stats *st)
{
	json_object_object_add(o, "total_connections", json_object_new_int64((int64_t)st->total));
	json_object_object_add(o, "failed_connections", json_object_new_int64((int64_t)st->failed));
	json_object_object_add(o, "failure_rate",
			       json_number(data_failure_rate(st->failed, st->total), 4));
}

int data_error(int err, char **ret_error)
{
	*ret_error = strdup(strerror(-err));
	return err;
}

int data_conn_stats(struct tool_context *ctx, json_object *args, unsigned flags,
		    struct data_query *q, struct store_conn_stats *st, json_object **ret,
		    char **ret_error)
{
	int r = data_begin(ctx, args, 0, q, ret_error);

	if (r < 0)
		return r;
	r = store_conn_stats(q->s, &q->f, flags, st);
	if (r < 0) {
		data_query_free(q);
		return data_error(r, ret_error);
	}
	q->detail = flags & STORE_STATS_DETAIL;
	r = data_history_conns(q, st, ret_error);
	if (r < 0) {
		data_query_free(q);
		return r;
	}
	q->live_stats = st;
	*ret = data_result_new(ctx, &q->a);
	data_add_totals(*ret, st);
	return 0;
}

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *rfc3339(uint64_t ns)
{
	char buf[FMT_TIME_LEN];

	fmt_rfc3339(buf, sizeof(buf), ns);
	return json_object_new_string(buf);
}

void data_totals(struct tool_context *ctx, const struct data_query *q, json_object *o,
		 struct data_totals *t)
{
	Netspy__V1__ServerMessage *owner = NULL;
	Netspy__V1__Counters *c = NULL;
	json_object *tot, *out_proto;

	memset(t, 0, sizeof(*t));
	if (!ctx || !ctx->an || q->a.pid || q->a.process || q->a.unit || q->a.direction ||
	    q->a.outcome >= 0 || q->a.reason ||
	    analyzer_counters(ctx->an, q->a.since_ns, q->a.now_ns, &c, &owner) < 0) {
		json_object_object_add(o, "totals", NULL);
		json_object_object_add(o, "totals_exact", json_object_new_boolean(false));
		return;
	}
	t->have = true;
	t->since_ns = c->since_ns;
	t->lost = c->events_lost;
	t->exact = c->since_ns <= q->a.since_ns && !c->events_lost &&
		   !(c->folded_pending_since_ns && c->folded_pending_since_ns < q->a.now_ns);
	/* Whether a tool reports these as its totals: when they cover the window, or when nothing
	 * but netspyd answers (before the counters start there was nothing to count); with the
	 * recorder's history in the answer, its rollups count what the counters do not reach. */
	t->use = t->exact || !q->source || !strcmp(q->source, "live");
	t->drop_reasons = json_object_new_object();
	for (size_t i = 0; i < c->n_counters; i++) {
		const Netspy__V1__Counter *e = c->counters[i];
		unsigned k = e->event_kind < 4 ? (unsigned)e->event_kind : 0;
		char name[256];

		switch (e->kind) {
		case NETSPY__V1__COUNTER_KIND__COUNTER_KIND_EVENTS:
			t->events[k] += e->count;
			break;
		case NETSPY__V1__COUNTER_KIND__COUNTER_KIND_PROTOCOL:
			t->by_proto[k][e->key & 255] += e->count;
			break;
		case NETSPY__V1__COUNTER_KIND__COUNTER_KIND_OUTCOME:
			if (e->key < STORE_N_OUTCOMES)
				t->by_outcome[e->key] += e->count;
			break;
		case NETSPY__V1__COUNTER_KIND__COUNTER_KIND_DROP_REASON:
			if (e->name && e->name[0])
				fmt_sanitize(name, sizeof(name), (const uint8_t *)e->name,
					     strlen(e->name));
			else
				snprintf(name, sizeof(name), "%u", e->key);
			json_object_object_add(
			    t->drop_reasons, name,
			    json_object_new_int64((int64_t)e->count +
						  json_int(t->drop_reasons, name)));
			break;
		default:
			break;
		}
	}
	netspy__v1__server_message__free_unpacked(owner, NULL);
	tot = json_object_new_object();
	json_object_object_add(tot, "source", json_object_new_string("netspyd_counters"));
	json_object_object_add(tot, "coverage_start",
			       rfc3339(t->since_ns > q->a.since_ns ? t->since_ns : q->a.since_ns));
	json_object_object_add(tot, "connections", json_object_new_int64((int64_t)t->events[1]));
	json_object_object_add(tot, "tcp_outcomes", json_object_new_int64((int64_t)t->events[2]));
	json_object_object_add(tot, "drops", json_object_new_int64((int64_t)t->events[3]));
	json_object_object_add(tot, "connections_by_protocol", json_proto_counts(t->by_proto[1]));
	out_proto = json_outcome_counts(t->by_outcome);
	json_object_object_add(tot, "by_outcome", out_proto);
	json_object_object_add(tot, "drops_by_protocol", json_proto_counts(t->by_proto[3]));
	json_object_object_add(tot, "drops_by_reason", json_object_get(t->drop_reasons));
	json_object_object_add(tot, "events_lost", json_object_new_int64((int64_t)t->lost));
	json_object_object_add(o, "totals", tot);
	json_object_object_add(o, "totals_exact", json_object_new_boolean(t->exact));
}

void data_conn_totals(struct tool_context *ctx, const struct data_query *q, json_object *o,
		      uint64_t inbound, struct data_totals *t)
{
	data_totals(ctx, q, o, t);
	json_object_put(t->drop_reasons);
	t->drop_reasons = NULL;
	if (t->use) { /* netspyd's counters (see data_totals()): connects; accepts are the store's */
		json_object_object_add(o, "total_connections",
				       json_object_new_int64((int64_t)(t->events[1] + inbound)));
		t->by_proto[1][6] += inbound;
	}
}

/* The one place every data tool's answer says what it covers (see OUT_COMMON): from when the
 * kept events cover the window, and until when its counts are final (coverage_end, only when
 * folded counts from inside the window are still on their way from the kernel). */
static void data_add_coverage(struct tool_context *ctx, const struct data_args *a, json_object *o)
{
	uint64_t held = ctx && ctx->an ? analyzer_complete_since(ctx->an) : 0;
	uint64_t pending = ctx && ctx->an ? analyzer_folded_pending_since(ctx->an) : 0;
	bool start_covered = held <= a->since_ns;
	bool arriving = pending && pending < a->now_ns;

	json_object_object_add(o, "coverage_start", rfc3339(start_covered ? a->since_ns : held));
	if (arriving)
		json_object_object_add(o, "coverage_end",
				       rfc3339(pending > a->since_ns ? pending : a->since_ns));
	json_object_object_add(o, "complete",
			       json_object_new_boolean(start_covered && !arriving));
	json_object_object_add(
	    o, "events_evicted",
	    json_object_new_int64(ctx && ctx->an ? (int64_t)analyzer_events_evicted(ctx->an) : 0));
}

json_object *data_oldest(const struct store *s)
{
	uint64_t oldest = 0, t;

	if (s->conns.count)
		oldest = store_conn_at(s, s->conns.head - s->conns.count)->ts_ns;
	if (s->drops.count) {
		t = store_drop_at(s, s->drops.head - s->drops.count)->ts_ns;
		if (!oldest || t < oldest)
			oldest = t;
	}
	return oldest ? rfc3339(oldest) : NULL;
}

json_object *data_result_new(struct tool_context *ctx, const struct data_args *a)
{
	json_object *o = json_object_new_object(), *f = json_object_new_object();

	json_object_object_add(o, "duration", json_object_new_int64(a->duration));
	json_object_object_add(o, "window_start", rfc3339(a->since_ns));
	json_object_object_add(o, "window_end", rfc3339(a->now_ns));
	json_object_object_add(f, "pid", a->pid ? json_object_new_int64(a->pid) : NULL);
	json_object_object_add(f, "process_name", str_or_null(a->process));
	json_object_object_add(f, "unit", str_or_null(a->unit));
	/* The newer filters appear only when given. */
	if (a->dest)
		json_object_object_add(f, "dest", json_object_new_string(a->dest));
	if (a->port)
		json_object_object_add(f, "port", json_object_new_int64(a->port));
	if (a->protocol) {
		char p[8];

		snprintf(p, sizeof(p), "%s", a->protocol);
		for (char *c = p; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		json_object_object_add(f, "protocol", json_object_new_string(p));
	}
	if (a->name)
		json_object_object_add(f, "name", json_object_new_string(a->name));
	if (a->direction)
		json_object_object_add(f, "direction",
				       json_object_new_string(a->direction == STORE_DIR_IN
								  ? "inbound"
								  : "outbound"));
	if (a->outcome >= 0)
		json_object_object_add(f, "outcome", json_object_new_string(fmt_outcome(a->outcome)));
	if (a->reason)
		json_object_object_add(f, "reason", json_object_new_string(a->reason));
	json_object_object_add(o, "filter", f);
	json_object_object_add(o, "events_lost",
			       json_object_new_int64((int64_t)analyzer_events_lost(ctx->an)));
	data_add_coverage(ctx, a, o);
	return o;
}

json_object *json_proto_counts(const uint64_t by_proto[256])
{
	json_object *o = json_object_new_object();

	for (int p = 0; p < 256; p++) {
		json_object *prev;
		int64_t n = (int64_t)by_proto[p];

		if (!n)
			continue;
		/* Several numbers can share a name ("IP"): add them up. */
		if (json_object_object_get_ex(o, fmt_protocol((uint32_t)p), &prev))
			n += json_object_get_int64(prev);
		json_object_object_add(o, fmt_protocol((uint32_t)p), json_object_new_int64(n));
	}
	return o;
}

json_object *json_outcome_counts(const uint64_t by_outcome[STORE_N_OUTCOMES])
{
	json_object *o = json_object_new_object();

	for (int i = 0; i < STORE_N_OUTCOMES; i++)
		if (by_outcome[i])
			json_object_object_add(o, fmt_outcome(i),
					       json_object_new_int64((int64_t)by_outcome[i]));
	return o;
}

json_object *json_number(double v, int decimals)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return json_object_new_double_s(strtod(buf, NULL), buf);
}

static json_object *ms_or_null(uint64_t count, double ms)
{
	return count ? json_number(ms, 3) : NULL;
}

json_object *json_latency(const struct store_conn_stats *st)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "count", json_object_new_int64((int64_t)st->latency_count));
	json_object_object_add(o, "p50", ms_or_null(st->latency_count, st->latency_p50_ms));
	json_object_object_add(o, "p90", ms_or_null(st->latency_count, st->latency_p90_ms));
	json_object_object_add(o, "p99", ms_or_null(st->latency_count, st->latency_p99_ms));
	return o;
}

void data_comm(const struct store *s, uint16_t id, char *buf, size_t len)
{
	size_t n;
	const uint8_t *c = store_comm(s, id, &n);

	fmt_sanitize(buf, len, c, n);
}

static json_object *top_entry(const char *key, const char *name, const struct store_top *t)
{
	json_object *e = json_object_new_object();

	json_object_object_add(e, key, json_object_new_string(name));
	json_object_object_add(e, "count", json_object_new_int64((int64_t)t->count));
	json_object_object_add(e, "failed", json_object_new_int64((int64_t)t->failed));
	return e;
}

json_object *json_top_processes(const struct store *s, const struct store_top *top, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		char name[FMT_COMM_LEN];

		data_comm(s, (uint16_t)top[i].key, name, sizeof(name));
		json_object_array_add(a, top_entry("process", name, &top[i]));
	}
	return a;
}

json_object *json_name(const struct store *s, uint32_t id)
{
	const char *n = id ? store_name(s, id) : "";

	return n[0] ? json_object_new_string(n) : NULL;
}

json_object *json_top_endpoints(const struct store *s, const struct store_top *top, size_t n,
				const char *key)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		char ep[FMT_ADDR_LEN + 8];
		json_object *e;

		endpoint_format(store_endpoint(s, top[i].key), ep, sizeof(ep));
		e = top_entry(key, ep, &top[i]);
		json_object_object_add(e, "destination_name", json_name(s, top[i].name));
		json_object_array_add(a, e);
	}
	return a;
}

double data_failure_rate(uint64_t failed, uint64_t total)
{
	return total ? (double)failed / (double)total : 0.0;
}

void endpoint_ip(const struct store_endpoint *e, char *buf, size_t len)
{
	buf[0] = 0;
	if (e->family == AF_INET || e->family == AF_INET6)
		inet_ntop(e->family, e->addr, buf, (socklen_t)len);
}

void endpoint_format(const struct store_endpoint *e, char *buf, size_t len)
{
	char ip[FMT_ADDR_LEN];

	endpoint_ip(e, ip, sizeof(ip));
	snprintf(buf, len, e->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, e->port);
}

static void add_endpoint(json_object *o, const char *ip_key, const char *port_key,
			 const struct store_endpoint *e)
{
	char ip[FMT_ADDR_LEN];

	endpoint_ip(e, ip, sizeof(ip));
	json_object_object_add(o, ip_key, json_object_new_string(ip));
	json_object_object_add(o, port_key, json_object_new_int(e->port));
}

void proc_to_json(const struct store *s, uint32_t pid, json_object *o)
{
	const struct procinfo *p = procinfo_get(&s->procs, pid);

	json_object_object_add(o, "exe", str_or_null(p ? p->exe : NULL));
	json_object_object_add(o, "cmdline", str_or_null(p ? p->cmdline : NULL));
	json_object_object_add(o, "ppid", p && p->ppid ? json_object_new_int64(p->ppid) : NULL);
}

/* direction, an inbound one's peer (source_ip, source_port), and for a TCP connection that was
 * established its life: end ("open" until it ends), duration, bytes, retransmits, RTT. */
static void conn_life_to_json(struct store *s, uint64_t abs, json_object *o)
{
	const struct store_conn *r = store_conn_at(s, abs);
	const struct store_life *l = store_conn_life(s, abs);
	bool inbound = r->flags & STORE_CONN_INBOUND;

	json_object_object_add(o, "direction",
			       json_object_new_string(inbound ? "inbound" : "outbound"));
	if (inbound)
		add_endpoint(o, "source_ip", "source_port",
			     store_endpoint(s, l ? l->peer : 0));
	if (r->proto != 6 || r->outcome != 1)
		return;
	if (!l || !l->ended) {
		json_object_object_add(o, "end", json_object_new_string(fmt_end(STORE_END_OPEN)));
		return;
	}
	json_object_object_add(o, "end", json_object_new_string(fmt_end(l->end)));
	json_object_object_add(o, "duration_ms", l->duration_ms == UINT32_MAX
						     ? NULL
						     : json_object_new_int64(l->duration_ms));
	json_object_object_add(o, "bytes_sent", json_object_new_int64((int64_t)l->bytes_sent));
	json_object_object_add(o, "bytes_received",
			       json_object_new_int64((int64_t)l->bytes_received));
	json_object_object_add(o, "retransmits", json_object_new_int64(l->retrans));
	json_object_object_add(o, "rtt_ms", json_number(l->rtt_us / 1000.0, 3));
}

json_object *conn_to_json(struct store *s, uint64_t abs)
{
	const struct store_conn *r = store_conn_at(s, abs);
	const struct store_endpoint *dst = store_endpoint(s, r->dst);
	const struct store_cgroup_info *cg = store_cgroup(s, r->cgroup);
	json_object *o = json_object_new_object();
	char name[FMT_COMM_LEN];
	bool failed;
	int outcome;

	data_comm(s, r->comm, name, sizeof(name));
	json_object_object_add(o, "timestamp", rfc3339(r->ts_ns));
	json_object_object_add(o, "pid", json_object_new_int64(r->pid));
	json_object_object_add(o, "process", json_object_new_string(name));
	json_object_object_add(o, "protocol", json_object_new_string(fmt_protocol(r->proto)));
	json_object_object_add(o, "family", json_object_new_string(fmt_family(dst->family)));
	add_endpoint(o, "destination_ip", "destination_port", dst);
	json_object_object_add(o, "destination_name", json_name(s, r->name));
	outcome = store_conn_verdict(s, abs, &failed);
	json_object_object_add(o, "outcome", json_object_new_string(fmt_outcome(outcome)));
	json_object_object_add(o, "failed", json_object_new_boolean(failed));
	json_object_object_add(o, "abandoned",
			       json_object_new_boolean(r->flags & STORE_CONN_ABANDONED));
	json_object_object_add(o, "in_connect",
			       json_object_new_boolean(r->flags & STORE_CONN_SYNC));
	json_object_object_add(o, "errno", str_or_null(r->err ? fmt_errno_name(r->err) : NULL));
	if (r->latency_us)
		json_object_object_add(o, "latency_ms", json_number(r->latency_us / 1000.0, 3));
	json_object_object_add(o, "unit", str_or_null(cg ? cg->unit : NULL));
	json_object_object_add(o, "container", str_or_null(cg ? cg->container : NULL));
	conn_life_to_json(s, abs, o);
	proc_to_json(s, r->pid, o);
	return o;
}

json_object *drop_to_json(struct store *s, uint64_t abs)
{
	const struct store_drop *d = store_drop_at(s, abs);
	json_object *o = json_object_new_object();
	char name[FMT_COMM_LEN], reason[STORE_REASON_LEN * 4];
	const char *rs = store_reason(s, d->reason);

	fmt_sanitize(reason, sizeof(reason), (const uint8_t *)rs, strlen(rs));
	json_object_object_add(o, "timestamp", rfc3339(d->ts_ns));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_object_add(o, "protocol", json_object_new_string(fmt_protocol(d->proto)));
	json_object_object_add(o, "count", json_object_new_int64(d->count ? d->count : 1));
	add_endpoint(o, "source_ip", "source_port", store_endpoint(s, d->src));
	add_endpoint(o, "destination_ip", "destination_port", store_endpoint(s, d->dst));
	/* The name looked up for the remote side (the destination, else the source). */
	json_object_object_add(o, "remote_name", json_name(s, d->name));
	if (d->attributed) {
		data_comm(s, d->comm, name, sizeof(name));
		json_object_object_add(o, "pid", json_object_new_int64(d->pid));
		json_object_object_add(o, "process", json_object_new_string(name));
	} else {
		json_object_object_add(o, "pid", NULL);
		json_object_object_add(o, "process", NULL);
	}
	return o;
}

int data_list_run(struct tool_context *ctx, json_object *args, data_list_fn list,
		  data_record_fn to_json, const char *key, json_object **ret, char **ret_error)
{
	struct data_query q;
	uint64_t *idx, total;
	size_t n;
	json_object *o, *arr;
	int r = data_begin(ctx, args, 100, &q, ret_error);

	if (r < 0)
		return r;
	idx = malloc((size_t)q.a.max_events * sizeof(*idx));
	if (!idx) {
		data_query_free(&q);
		return data_error(-ENOMEM, ret_error);
	}
	r = list(q.s, &q.f, idx, (size_t)q.a.max_events, &n, &total);
	if (r < 0) {
		free(idx);
		data_query_free(&q);
		return data_error(r, ret_error);
	}
	o = data_result_new(ctx, &q.a);
	arr = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, to_json(q.s, idx[i]));
	free(idx);
	json_object_object_add(o, key, arr);
	json_object_object_add(o, "total_matching", json_object_new_int64((int64_t)total));
	json_object_object_add(o, "returned", json_object_new_int64((int64_t)n));
	data_finish(&q, o);
	*ret = o;
	return 0;
}

/* ---- text ---- */

int64_t json_int(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

const char *json_str(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return dflt;
	return json_object_get_string(v);
}

bool json_flag(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

const char *text_subject(json_object *result, char *buf, size_t len)
{
	json_object *f = NULL;
	const char *proc, *unit;
	int64_t pid;

	json_object_object_get_ex(result, "filter", &f);
	proc = json_str(f, "process_name", NULL);
	unit = json_str(f, "unit", NULL);
	pid = json_int(f, "pid");
	if (proc && pid)
		snprintf(buf, len, "Process '%s' (PID %lld)", proc, (long long)pid);
	else if (proc)
		snprintf(buf, len, "Process '%s'", proc);
	else if (pid)
		snprintf(buf, len, "PID %lld", (long long)pid);
	else
		snprintf(buf, len, "All processes");
	if (unit)
		snprintf(buf + strlen(buf), len - strlen(buf), " in %s", unit);
	return buf;
}

void text_counts(FILE *f, json_object *counts)
{
	const char *sep = "";

	if (!counts || !json_object_object_length(counts)) {
		fputs("none", f);
		return;
	}
	json_object_object_foreach (counts, k, v) {
		fprintf(f, "%s%s %lld", sep, k, (long long)json_object_get_int64(v));
		sep = ", ";
	}
}

void text_clock(const char *rfc3339_ts, char *buf, size_t len)
{
	struct tm tm = { 0 };
	time_t t;

	if (!strptime(rfc3339_ts, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	t = timegm(&tm);
	localtime_r(&t, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
}

void text_table(FILE *f, const char *indent, char ***rows, size_t n_rows, size_t n_cols)
{
	size_t w[16] = { 0 };

	for (size_t r = 0; r < n_rows; r++)
		for (size_t c = 0; c < n_cols && c < 16; c++)
			if (strlen(rows[r][c]) > w[c])
				w[c] = strlen(rows[r][c]);
	for (size_t r = 0; r < n_rows; r++) {
		fputs(indent, f);
		for (size_t c = 0; c < n_cols && c < 16; c++) {
			if (c == n_cols - 1)
				fprintf(f, "%s", rows[r][c]);
			else
				fprintf(f, "%-*s | ", (int)w[c], rows[r][c]);
		}
		fputc('\n', f);
	}
}

void text_coverage(FILE *f, json_object *result)
{
	const char *end = json_str(result, "coverage_end", NULL);
	char clock[16];

	if (!json_object_object_get_ex(result, "complete", NULL) || json_flag(result, "complete"))
		return;
	if (end) {
		text_clock(end, clock, sizeof(clock));
		fprintf(f,
			"  not final: events folded during a flood since %s are still on their way "
			"from the kernel (they arrive within two fold intervals); counts from then on "
			"will grow\n",
			clock);
	}
	if (!strcmp(json_str(result, "coverage_start", ""), json_str(result, "window_start", "")))
		return;
	text_clock(json_str(result, "coverage_start", ""), clock, sizeof(clock));
	fprintf(
	    f,
	    "  partial: the events kept begin at %s, after the window's start (%s events "
	    "evicted from the backlog)%s\n",
	    clock, text_thousands(json_int(result, "events_evicted")),
	    json_flag(result, "totals_exact")
		? ": totals and breakdowns by reason and protocol are exact (netspyd's "
		  "counters), per-process and per-destination detail covers only the kept events"
		: ": every count covers only the kept events");
}

void text_source(FILE *f, json_object *result)
{
	const char *src = json_str(result, "source", "live"),
		   *note = json_str(result, "history_note", NULL);
	const char *from = json_str(result, "covered_start", NULL),
		   *to = json_str(result, "covered_end", NULL);

	if (strcmp(src, "live")) {
		fprintf(f, "  from %s (%s rollups)",
			!strcmp(src, "history") ? "the recorder's history"
						: "netspyd and the recorder's history",
			json_int(result, "granularity_seconds") >= 3600 ? "hourly" : "per-minute");
		if (from && to)
			fprintf(f, ", covering %s to %s", from, to);
		else
			fputs(", which holds nothing for this window", f);
		fputc('\n', f);
	}
	if (note) {
		fputs("  note: ", f);
		text_safe(f, note);
		fputc('\n', f);
	}
}

void text_events_lost(FILE *f, json_object *result)
{
	int64_t lost = json_int(result, "events_lost");

	text_coverage(f, result);
	text_source(f, result);
	if (lost)
		fprintf(f,
			"  warning: %lld events were lost (kernel ring buffer or a slow reader): "
			"counts may be low\n",
			(long long)lost);
}

/* A table of text cells: rows x cols strings, printed aligned by text_table(). */
struct text_rows *text_rows_new(size_t n, size_t cols)
{
	struct text_rows *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->rows = calloc(n ? n : 1, sizeof(*t->rows));
	t->n = n;
	t->cols = cols;
	for (size_t i = 0; t->rows && i < n; i++) {
		t->rows[i] = calloc(cols, sizeof(char *));
		if (!t->rows[i]) {
			t->n = i;
			break;
		}
	}
	return t;
}

void text_rows_set(struct text_rows *t, size_t r, size_t c, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (!t || r >= t->n || c >= t->cols)
		return;
	va_start(ap, fmt);
	s = text_vprintf(fmt, ap);
	va_end(ap);
	free(t->rows[r][c]);
	t->rows[r][c] = s;
}

void text_rows_print(FILE *f, const char *indent, struct text_rows *t)
{
	if (!t || !t->rows)
		return;
	for (size_t r = 0; r < t->n; r++)
		for (size_t c = 0; c < t->cols; c++)
			if (!t->rows[r][c])
				t->rows[r][c] = strdup("");
	text_table(f, indent, t->rows, t->n, t->cols);
}

void text_rows_free(struct text_rows *t)
{
	if (!t)
		return;
	for (size_t r = 0; r < t->n && t->rows; r++) {
		for (size_t c = 0; c < t->cols; c++)
			free(t->rows[r][c]);
		free(t->rows[r]);
	}
	free(t->rows);
	free(t);
}

void text_destination(struct text_rows *t, size_t row, size_t col, const char *endpoint,
		      const char *name)
{
	const char *colon = strrchr(endpoint, ':');
	size_t iplen;

	if (!name || !colon) {
		text_rows_set(t, row, col, "%s", endpoint);
		return;
	}
	/* "[::1]:53" -> "name (::1):53" */
	iplen = (size_t)(colon - endpoint);
	if (endpoint[0] == '[' && iplen >= 2 && endpoint[iplen - 1] == ']')
		text_rows_set(t, row, col, "%s (%.*s)%s", name, (int)(iplen - 2), endpoint + 1,
			      colon);
	else
		text_rows_set(t, row, col, "%s (%.*s)%s", name, (int)iplen, endpoint, colon);
}

/* The rows of an array's entries, aligned under indent. */
static void array_rows(FILE *f, const char *indent, json_object *arr, size_t cols, text_row_fn row,
		       const void *arg)
{
	size_t n = arr ? json_object_array_length(arr) : 0;
	struct text_rows *t = text_rows_new(n, cols);

	for (size_t i = 0; t && i < n; i++)
		row(t, i, json_object_array_get_idx(arr, i), arg);
	text_rows_print(f, indent, t);
	text_rows_free(t);
}

void text_section(FILE *f, const char *label, json_object *arr, size_t cols, text_row_fn row,
		  const void *arg)
{
	if (!arr || !json_object_array_length(arr))
		return;
	fprintf(f, "  %s:\n", label);
	array_rows(f, "    ", arr, cols, row, arg);
}

struct top_list {
	const char *key, *unit;
};

static void top_row(struct text_rows *t, size_t i, json_object *e, const void *arg)
{
	const struct top_list *l = arg;
	long long count = json_int(e, "count");
	size_t ul = strlen(l->unit);

	text_destination(t, i, 0, json_str(e, l->key, "?"), json_str(e, "destination_name", NULL));
	/* "1 connection", "2 connections", "1 query" (units that are not plurals stay as they
	 * are) */
	if (count == 1 && ul > 3 && !strcmp(l->unit + ul - 3, "ies"))
		text_rows_set(t, i, 1, "%lld %.*sy", count, (int)(ul - 3), l->unit);
	else if (count == 1 && ul > 1 && l->unit[ul - 1] == 's')
		text_rows_set(t, i, 1, "%lld %.*s", count, (int)(ul - 1), l->unit);
	else
		text_rows_set(t, i, 1, "%lld %s", count, l->unit);
	text_rows_set(t, i, 2, "%lld failed", (long long)json_int(e, "failed"));
}

void text_top(FILE *f, const char *label, json_object *top, const char *key, const char *unit)
{
	const struct top_list l = { key, unit };
	/* the failed column when the list has one */
	bool failed = top && json_object_array_length(top) &&
		      json_object_object_get_ex(json_object_array_get_idx(top, 0), "failed", NULL);

	text_section(f, label, top, failed ? 3 : 2, top_row, &l);
}

void text_latency(FILE *f, json_object *result)
{
	json_object *l = NULL;

	json_object_object_get_ex(result, "latency_ms", &l);
	if (!json_int(l, "count"))
		return;
	fprintf(f,
		"  TCP handshake latency: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms (%lld connects)\n",
		json_object_get_double(json_object_object_get(l, "p50")),
		json_object_get_double(json_object_object_get(l, "p90")),
		json_object_get_double(json_object_object_get(l, "p99")),
		(long long)json_int(l, "count"));
}

static void list_row(struct text_rows *t, size_t i, json_object *e, const void *arg)
{
	((const struct text_list *)arg)->row(t, i, e);
}

void text_list_print(FILE *f, json_object *result, const struct text_list *l)
{
	json_object *arr = json_object_object_get(result, l->key);
	size_t n = arr ? json_object_array_length(arr) : 0;
	int64_t total = json_int(result, "total_matching");
	char subject[256];

	if (!n) {
		fprintf(f, "No %s (%s, last %lld seconds)\n", l->noun,
			text_subject(result, subject, sizeof(subject)),
			(long long)json_int(result, "duration"));
		text_events_lost(f, result);
		return;
	}
	fprintf(f, "Recent %s (%lld total, newest first):\n", l->noun, (long long)total);
	array_rows(f, "  ", arr, l->cols, list_row, l);
	if (l->more_hint && (int64_t)n < total)
		fprintf(f, "  (%lld more: raise --max-events)\n", (long long)(total - (int64_t)n));
	text_events_lost(f, result);
}

int data_no_analyst(char **ret_error)
{
	*ret_error = strdup("no analyst is available in this frontend");
	return -ENOTSUP;
}

static bool get_bool(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* A field as text, whatever its type (NULL when absent or null). */
static const char *get_text(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

void text_safe(FILE *f, const char *s)
{
	char *clean = text_clean(s ? s : "", s ? strlen(s) : 0);

	fputs(clean ? clean : "", f);
	free(clean);
}

/* Results can come from elsewhere (an MCP replay), so their text is filtered again here. */
void text_answer(FILE *f, json_object *result, const char *key)
{
	const char *s = get_text(result, key);
	char *clean;

	if (get_bool(result, "streamed"))
		return;
	clean = text_clean(s ? s : "", s ? strlen(s) : 0);
	if (clean && *clean)
		fprintf(f, "%s%s", clean, clean[strlen(clean) - 1] == '\n' ? "" : "\n");
	free(clean);
}

void text_origin(FILE *f, json_object *result)
{
	const char *model = get_text(result, "model");
	char *clean = model ? text_clean(model, strlen(model)) : NULL;

	if (get_bool(result, "offline") || !clean)
		fprintf(f, "(Produced by netspy's offline analyst: no model was used.)\n");
	else
		fprintf(f, "(Answered by model %s.)\n", clean);
	free(clean);
}
