/* get_dns_summary and list_dns_queries: the DNS queries processes made (the client side), with
 * their responses' rcode, answers and latency, and those never answered. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "core/dns.h"
#include "core/format.h"
#include "core/history.h"
#include "tools/tool.h"
#include "tools/data.h"

static json_object *dns_latency(const struct store_dns_stats *st)
{
	struct store_conn_stats c = { 0 };

	c.latency_count = st->latency_count;
	c.latency_p50_ms = st->latency_p50_ms;
	c.latency_p90_ms = st->latency_p90_ms;
	c.latency_p99_ms = st->latency_p99_ms;
	return json_latency(&c);
}

static json_object *top_names(const struct store *s, const struct store_top *top, size_t n,
			      bool with_failed, const int *last_fail)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(store_name(s, top[i].key)));
		json_object_object_add(e, "count", json_object_new_int64((int64_t)top[i].count));
		if (with_failed)
			json_object_object_add(e, "failed",
					       json_object_new_int64((int64_t)top[i].failed));
		if (last_fail) {
			char buf[16];

			json_object_object_add(
			    e, "last_failure",
			    json_object_new_string(last_fail[i] < 0 ? "unanswered"
								    : dns_rcode_name((uint16_t)last_fail[i],
										     buf, sizeof(buf))));
		}
		json_object_array_add(a, e);
	}
	return a;
}

/* The history's failing names merged into the live ones (the live entry's last failure is the
 * newer one), the STORE_TOP_N with the most failures kept. */
struct failing {
	const char *name;
	uint64_t count;
	char last[16];
};

static int failing_cmp(const void *a, const void *b)
{
	const struct failing *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void merge_failing(json_object *o, const struct history_tops *h)
{
	json_object *arr = json_object_object_get(o, "failing_names"), *out;
	size_t nl = arr ? json_object_array_length(arr) : 0, n = 0;
	struct failing *v = calloc(nl + h->n + 1, sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < nl; i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		v[n].name = json_str(e, "name", "");
		v[n].count = (uint64_t)json_int(e, "count");
		snprintf(v[n++].last, sizeof(v->last), "%s", json_str(e, "last_failure", ""));
	}
	for (size_t i = 0; i < h->n; i++) {
		size_t j;

		for (j = 0; j < n && strcmp(v[j].name, h->v[i].name); j++)
			;
		if (j == n) {
			char buf[16];

			v[n].name = h->v[i].name;
			snprintf(v[n].last, sizeof(v->last), "%s",
				 h->v[i].tag < 0 ? "unanswered"
						 : dns_rcode_name((uint16_t)h->v[i].tag, buf,
								  sizeof(buf)));
			n++;
		}
		v[j].count += h->v[i].count;
	}
	qsort(v, n, sizeof(*v), failing_cmp);
	out = json_object_new_array();
	for (size_t i = 0; i < n && i < STORE_TOP_N; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(v[i].name));
		json_object_object_add(e, "count", json_object_new_int64((int64_t)v[i].count));
		json_object_object_add(e, "last_failure", json_object_new_string(v[i].last));
		json_object_array_add(out, e);
	}
	free(v); /* names point into arr and h: used above, before arr is replaced */
	json_object_object_add(o, "failing_names", out);
}

/* Adds the history's part of the window (q->hdns) to the live answer o. */
static void merge_history(struct data_query *q, const struct store_dns_stats *st, json_object *o)
{
	const struct history_dns_stats *h = q->hdns;
	json_object *rc = json_object_object_get(o, "by_rcode");
	uint64_t b[STORE_LATENCY_BUCKETS], hn = 0;

	json_object_object_add(o, "total_queries",
			       json_object_new_int64((int64_t)(st->total + h->total)));
	json_object_object_add(o, "failed_queries",
			       json_object_new_int64((int64_t)(st->failed + h->failed)));
	json_object_object_add(o, "unanswered_queries",
			       json_object_new_int64((int64_t)(st->unanswered + h->unanswered)));
	for (size_t i = 0; i < 4096; i++) {
		char buf[16];

		if (h->by_rcode[i])
			json_object_object_add(
			    rc, dns_rcode_name((uint16_t)i, buf, sizeof(buf)),
			    json_object_new_int64((int64_t)(st->by_rcode[i] + h->by_rcode[i])));
	}
	for (int i = 0; i < STORE_LATENCY_BUCKETS; i++) {
		b[i] = st->latency_buckets[i] + h->buckets[i];
		hn += h->buckets[i];
	}
	if (hn)
		json_object_object_add(o, "latency_ms", data_latency_buckets(b));
	data_merge_top(o, "top_names", "name", &h->names, true);
	data_merge_top(o, "processes", "process", &h->processes, true);
	merge_failing(o, &h->failing);
	data_note_add(q, h->latency_filtered_out
			     ? "from the history: latency is not kept by name (netspyd's "
			       "queries only); servers and pending queries are not kept"
			     : "from the history: latency percentiles are interpolated inside "
			       "histogram buckets; servers and pending queries are not kept");
}

static int dns_summary_run(struct tool_context *ctx, json_object *args, json_object **ret,
			   char **ret_error)
{
	struct store_dns_stats *st = malloc(sizeof(*st));
	struct data_query q;
	json_object *o, *rc, *servers;
	int r;

	if (!st)
		return data_error(-ENOMEM, ret_error);
	r = data_begin(ctx, args, 0, &q, ret_error);
	if (r == 0 && (r = store_dns_stats(q.s, &q.f, q.a.now_ns, st)) < 0)
		r = data_error(r, ret_error);
	if (r == 0)
		r = data_history_dns(&q, ret_error);
	if (r < 0) {
		data_query_free(&q);
		free(st);
		return r;
	}
	o = data_result_new(ctx, &q.a);
	json_object_object_add(o, "total_queries", json_object_new_int64((int64_t)st->total));
	json_object_object_add(o, "failed_queries", json_object_new_int64((int64_t)st->failed));
	json_object_object_add(o, "unanswered_queries",
			       json_object_new_int64((int64_t)st->unanswered));
	json_object_object_add(o, "pending_queries", json_object_new_int64((int64_t)st->pending));
	rc = json_object_new_object();
	for (size_t i = 0; i < 4096; i++) {
		char buf[16];

		if (st->by_rcode[i])
			json_object_object_add(rc, dns_rcode_name((uint16_t)i, buf, sizeof(buf)),
					       json_object_new_int64((int64_t)st->by_rcode[i]));
	}
	json_object_object_add(o, "by_rcode", rc);
	json_object_object_add(o, "top_names", top_names(q.s, st->names, st->n_names, true, NULL));
	json_object_object_add(o, "failing_names", top_names(q.s, st->failing, st->n_failing, false, st->failing_rcode));
	json_object_object_add(o, "latency_ms", dns_latency(st));
	json_object_object_add(o, "processes",
			       json_top_processes(q.s, st->processes, st->n_processes));
	servers = json_object_new_array();
	for (size_t i = 0; i < st->n_servers; i++) {
		json_object *e = json_object_new_object();
		char ep[FMT_ADDR_LEN + 8];

		endpoint_format(store_endpoint(q.s, st->servers[i].key), ep, sizeof(ep));
		json_object_object_add(e, "server", json_object_new_string(ep));
		json_object_object_add(e, "count", json_object_new_int64((int64_t)st->servers[i].count));
		json_object_object_add(e, "unanswered",
				       json_object_new_int64((int64_t)st->servers[i].failed));
		json_object_object_add(e, "latency_p90_ms",
				       json_number((double)st->server_latency_us[i] / 1000.0, 3));
		json_object_array_add(servers, e);
	}
	json_object_object_add(o, "servers", servers);
	if (q.hdns)
		merge_history(&q, st, o);
	free(st);
	data_finish(&q, o);
	*ret = o;
	return 0;
}

static void dns_summary_print(FILE *f, json_object *r)
{
	char subject[256];
	int64_t total = json_int(r, "total_queries");
	json_object *l = json_object_object_get(r, "latency_ms"),
		    *servers = json_object_object_get(r, "servers");

	fprintf(f, "%s made %lld DNS quer%s over the last %lld seconds",
		text_subject(r, subject, sizeof(subject)), (long long)total,
		total == 1 ? "y" : "ies", (long long)json_int(r, "duration"));
	if (total)
		fprintf(f, " (%lld failed, %lld unanswered)", (long long)json_int(r, "failed_queries"),
			(long long)json_int(r, "unanswered_queries"));
	fputc('\n', f);
	if (total) {
		fputs("  by rcode: ", f);
		text_counts(f, json_object_object_get(r, "by_rcode"));
		fputc('\n', f);
		if (json_int(l, "count"))
			fprintf(f, "  latency: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms (%lld answered)\n",
				json_object_get_double(json_object_object_get(l, "p50")),
				json_object_get_double(json_object_object_get(l, "p90")),
				json_object_get_double(json_object_object_get(l, "p99")),
				(long long)json_int(l, "count"));
		text_top(f, "top names", json_object_object_get(r, "top_names"), "name", "queries");
		json_object *fl = json_object_object_get(r, "failing_names");

		for (size_t i = 0; fl && i < json_object_array_length(fl); i++) {
			json_object *e = json_object_array_get_idx(fl, i);

			if (!i)
				fputs("  failing names (error rcode or no answer):\n", f);
			fprintf(f, "    %s | %lld failure%s | last: %s\n", json_str(e, "name", "?"),
				(long long)json_int(e, "count"), json_int(e, "count") == 1 ? "" : "s",
				json_str(e, "last_failure", "?"));
		}
		text_top(f, "by process", json_object_object_get(r, "processes"), "process",
			 "queries");
	}
	for (size_t i = 0; servers && i < json_object_array_length(servers); i++) {
		json_object *e = json_object_array_get_idx(servers, i);

		if (!i)
			fputs("  servers:\n", f);
		fprintf(f, "    %s | %lld quer%s | %lld unanswered | p90 %.3f ms\n",
			json_str(e, "server", "?"), (long long)json_int(e, "count"),
			json_int(e, "count") == 1 ? "y" : "ies",
			(long long)json_int(e, "unanswered"),
			json_object_get_double(json_object_object_get(e, "latency_p90_ms")));
	}
	text_events_lost(f, r);
}

static json_object *dns_to_json(struct store *s, uint64_t abs)
{
	const struct store_dns *q = store_dns_at(s, abs);
	const struct store_endpoint *srv = store_endpoint(s, q->server);
	const struct store_cgroup_info *cg = store_cgroup(s, q->cgroup);
	bool answered = q->flags & STORE_DNS_ANSWERED;
	json_object *o = json_object_new_object(), *ans = json_object_new_array();
	char buf[FMT_TIME_LEN], ip[FMT_ADDR_LEN], comm[FMT_COMM_LEN];
	const uint8_t *c;
	size_t cl;

	fmt_rfc3339(buf, sizeof(buf), q->ts_ns);
	json_object_object_add(o, "timestamp", json_object_new_string(buf));
	json_object_object_add(o, "pid", q->pid ? json_object_new_int64(q->pid) : NULL);
	c = store_comm(s, q->comm, &cl);
	fmt_sanitize(comm, sizeof(comm), c, cl);
	json_object_object_add(o, "process", q->pid ? json_object_new_string(comm) : NULL);
	json_object_object_add(o, "name", json_object_new_string(store_name(s, q->name)));
	json_object_object_add(o, "type",
			       json_object_new_string(dns_type_name(q->qtype, buf, sizeof(buf))));
	json_object_object_add(o, "rcode",
			       answered ? json_object_new_string(
					      dns_rcode_name(q->rcode, buf, sizeof(buf)))
					: NULL);
	for (int i = 0; i < q->n_answers; i++)
		json_object_array_add(ans, json_object_new_string(store_name(s, q->answers[i])));
	json_object_object_add(o, "answers", ans);
	json_object_object_add(o, "latency_ms",
			       answered ? json_number(q->latency_us / 1000.0, 3) : NULL);
	endpoint_ip(srv, ip, sizeof(ip));
	json_object_object_add(o, "server_ip", json_object_new_string(ip));
	json_object_object_add(o, "server_port", json_object_new_int(srv->port));
	json_object_object_add(o, "protocol", json_object_new_string(fmt_protocol(q->proto)));
	json_object_object_add(
	    o, "status",
	    json_object_new_string(answered ? "answered"
				   : q->ts_ns + STORE_DNS_TIMEOUT_NS <= clock_ns(CLOCK_REALTIME)
				       ? "unanswered"
				       : "pending"));
	json_object_object_add(o, "answers_incomplete",
			       json_object_new_boolean(q->flags & (STORE_DNS_CUT | STORE_DNS_MORE)));
	json_object_object_add(o, "unit", cg && cg->unit ? json_object_new_string(cg->unit) : NULL);
	return o;
}

static int list_dns_run(struct tool_context *ctx, json_object *args, json_object **ret,
			char **ret_error)
{
	return data_list_run(ctx, args, store_list_dns, dns_to_json, "queries", ret, ret_error);
}

static void list_dns_row(struct text_rows *t, size_t i, json_object *e)
{
	char clock[16];
	json_object *ans = json_object_object_get(e, "answers"), *lat;
	size_t n = ans ? json_object_array_length(ans) : 0;
	char answers[160] = "";

	text_clock(json_str(e, "timestamp", ""), clock, sizeof(clock));
	for (size_t k = 0; k < n && strlen(answers) < sizeof(answers) - 8; k++)
		snprintf(answers + strlen(answers), sizeof(answers) - strlen(answers), "%s%s",
			 k ? ", " : "", json_object_get_string(json_object_array_get_idx(ans, k)));
	text_rows_set(t, i, 0, "%s", clock);
	text_rows_set(t, i, 1, "%s", json_str(e, "name", "?"));
	text_rows_set(t, i, 2, "%s", json_str(e, "type", "?"));
	text_rows_set(t, i, 3, "%s", json_str(e, "rcode", json_str(e, "status", "?")));
	if (json_object_object_get_ex(e, "latency_ms", &lat) && lat)
		text_rows_set(t, i, 4, "%.3f ms", json_object_get_double(lat));
	else
		text_rows_set(t, i, 4, "-");
	text_rows_set(t, i, 5, "%s", n ? answers : "-");
	text_rows_set(t, i, 6, "%s pid %lld", json_str(e, "process", "?"),
		      (long long)json_int(e, "pid"));
	text_rows_set(t, i, 7, strchr(json_str(e, "server_ip", ""), ':') ? "[%s]:%lld %s" : "%s:%lld %s",
		      json_str(e, "server_ip", ""), (long long)json_int(e, "server_port"),
		      json_str(e, "protocol", ""));
}

static void list_dns_print(FILE *f, json_object *r)
{
	static const struct text_list l = { "queries", "DNS queries", 8, list_dns_row, true };

	text_list_print(f, r, &l);
}

#define DNS_ARGS ARGS_SUBJECT "," ARG_NAME
#define S_TOP_NAME                                                                                 \
	"{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"name\":" S_STRING    \
	",\"count\":" S_COUNT ",\"failed\":" S_COUNT "},\"required\":[\"name\",\"count\"]}}"

const struct tool tool_get_dns_summary = {
	.name = "get_dns_summary",
	.command = "dns",
	.title = "DNS summary",
	.description = "Count the DNS queries processes made over the last DURATION seconds "
		       "(UDP and TCP, port 53), optionally for one process id, process name, "
		       "systemd unit or name (a name matches the names below it): total, failed "
		       "(rcode not NOERROR), unanswered (no response within 5 s), by rcode, top "
		       "and failing names, response latency percentiles, by process, and the "
		       "servers asked with their unanswered queries and p90 latency.",
	.input_schema = ARGS_SCHEMA(DNS_ARGS),
	/* clang-format off */
	.output_schema = "{\"type\":\"object\",\"properties\":{" OUT_COMMON
			 ",\"total_queries\":" S_COUNT
			 ",\"failed_queries\":" S_COUNT
			 ",\"unanswered_queries\":" S_COUNT
			 ",\"pending_queries\":" S_COUNT
			 ",\"by_rcode\":" S_COUNTS
			 ",\"top_names\":" S_TOP_NAME
			 ",\"failing_names\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
			 "\"properties\":{\"name\":" S_STRING ",\"count\":" S_COUNT
			 ",\"last_failure\":" S_STRING "},"
			 "\"required\":[\"name\",\"count\",\"last_failure\"]}}"
			 ",\"latency_ms\":" S_LATENCY
			 ",\"processes\":" S_TOP("process")
			 ",\"servers\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
			 "\"properties\":{\"server\":" S_STRING ",\"count\":" S_COUNT
			 ",\"unanswered\":" S_COUNT ",\"latency_p90_ms\":" S_NUMBER "},"
			 "\"required\":[\"server\",\"count\",\"unanswered\",\"latency_p90_ms\"]}}},"
			 "\"required\":[" OUT_COMMON_REQUIRED ",\"total_queries\",\"failed_queries\","
			 "\"unanswered_queries\",\"by_rcode\",\"top_names\",\"latency_ms\","
			 "\"processes\"]}",
	/* clang-format on */
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = dns_summary_run,
	.print = dns_summary_print,
};

#define S_DNS_QUERY                                                                              \
	"{\"type\":\"object\",\"properties\":{\"timestamp\":" S_STRING ",\"pid\":" S_INT_OR_NULL \
	",\"process\":" S_STRING_OR_NULL ",\"name\":" S_STRING ",\"type\":" S_STRING             \
	",\"rcode\":" S_STRING_OR_NULL ",\"answers\":{\"type\":\"array\",\"items\":" S_STRING    \
	"},\"latency_ms\":" S_NUMBER_OR_NULL ",\"server_ip\":" S_STRING                          \
	",\"server_port\":" S_COUNT ",\"protocol\":" S_STRING                                   \
	",\"status\":{\"enum\":[\"answered\",\"unanswered\",\"pending\"]},"                      \
	"\"answers_incomplete\":{\"type\":\"boolean\"},\"unit\":" S_STRING_OR_NULL "},"         \
	"\"required\":[\"timestamp\",\"pid\",\"process\",\"name\",\"type\",\"rcode\","            \
	"\"answers\",\"latency_ms\",\"server_ip\",\"server_port\",\"protocol\"]}"

const struct tool tool_list_dns_queries = {
	.name = "list_dns_queries",
	.command = "list-dns",
	.title = "List DNS queries",
	.description = "List the most recent DNS queries (newest first, at most max_events) over "
		       "the last DURATION seconds, optionally for one process id, process name, "
		       "systemd unit or name: time, process, name, type, rcode (null while "
		       "unanswered), answers, latency, server and protocol; status says whether "
		       "it was answered, is still pending or went unanswered (5 s).",
	.input_schema = ARGS_SCHEMA(DNS_ARGS "," ARG_MAX_EVENTS),
	.output_schema = "{\"type\":\"object\",\"properties\":{" OUT_COMMON S_LIST_COMMON
			 ",\"queries\":{\"type\":\"array\",\"items\":" S_DNS_QUERY "}},"
			 "\"required\":[" OUT_COMMON_REQUIRED S_LIST_REQUIRED ",\"queries\"]}",
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = list_dns_run,
	.print = list_dns_print,
};
