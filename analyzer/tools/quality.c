/* get_tcp_quality: how well TCP connections fare: retransmitted segments and their rate, resets
 * sent and received, smoothed RTT percentiles, the worst remote ends and the processes behind
 * them. */
#include <stdlib.h>
#include <string.h>

#include "core/format.h"
#include "core/history.h"
#include "tools/tool.h"
#include "tools/data.h"

static json_object *remote_json(const struct store *s, const struct store_quality_dest *d)
{
	json_object *o = json_object_new_object();
	char ep[FMT_ADDR_LEN + 8];

	endpoint_format(store_endpoint(s, d->peer), ep, sizeof(ep));
	json_object_object_add(o, "destination", json_object_new_string(ep));
	/* Names come from DNS answers, which this build does not record. */
	json_object_object_add(o, "destination_name", NULL);
	json_object_object_add(o, "connections", json_object_new_int64((int64_t)d->connections));
	json_object_object_add(o, "retransmits", json_object_new_int64((int64_t)d->retransmits));
	json_object_object_add(o, "resets", json_object_new_int64((int64_t)d->resets));
	json_object_object_add(o, "rtt_ms", d->rtt_us ? json_number(d->rtt_us / 1000.0, 3) : NULL);
	return o;
}

static json_object *process_json(const struct store *s, const struct store_quality_proc *p)
{
	json_object *o = json_object_new_object();
	char name[FMT_COMM_LEN];
	size_t n;
	const uint8_t *c = store_comm(s, p->comm, &n);

	fmt_sanitize(name, sizeof(name), c, n);
	json_object_object_add(o, "process", json_object_new_string(name));
	json_object_object_add(o, "connections", json_object_new_int64((int64_t)p->connections));
	json_object_object_add(o, "retransmits", json_object_new_int64((int64_t)p->retransmits));
	json_object_object_add(o, "resets_sent", json_object_new_int64((int64_t)p->resets_sent));
	json_object_object_add(o, "resets_received",
			       json_object_new_int64((int64_t)p->resets_received));
	json_object_object_add(o, "bytes_sent", json_object_new_int64((int64_t)p->bytes_sent));
	json_object_object_add(o, "bytes_received",
			       json_object_new_int64((int64_t)p->bytes_received));
	return o;
}

static json_object *ms_or_null(uint64_t count, double ms)
{
	return count ? json_number(ms, 3) : NULL;
}

/* An entry of worst_destinations or processes while live and history are merged. */
struct qentry {
	char *name;
	uint64_t connections, retransmits, resets_sent, resets_received, bytes_sent,
	    bytes_received;
	json_object *rtt; /* live destinations' rtt_ms (borrowed), NULL */
};

static struct qentry *qentry_find(struct qentry *v, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	v[*n].name = (char *)name;
	return &v[(*n)++];
}

static int worse_cmp(const void *a, const void *b)
{
	const struct qentry *x = a, *y = b;
	uint64_t rx = x->resets_sent + x->resets_received, ry = y->resets_sent + y->resets_received;
	double tx = x->rtt ? json_object_get_double(x->rtt) : 0,
	       ty = y->rtt ? json_object_get_double(y->rtt) : 0;

	if (x->retransmits != y->retransmits)
		return x->retransmits < y->retransmits ? 1 : -1;
	if (rx != ry)
		return rx < ry ? 1 : -1;
	if (tx != ty)
		return tx < ty ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int busier_cmp(const void *a, const void *b)
{
	const struct qentry *x = a, *y = b;
	uint64_t bx = x->retransmits + x->resets_sent + x->resets_received,
		 by = y->retransmits + y->resets_sent + y->resets_received;

	if (bx != by)
		return bx < by ? 1 : -1;
	if (x->connections != y->connections)
		return x->connections < y->connections ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* The live list under field (key: "destination" or "process") merged with the history's
 * entries, sorted by cmp, the first STORE_TOP_N kept. */
static void merge_list(json_object *o, const char *field, const char *key,
		       const struct history_tcp_entry *h, size_t hn,
		       int (*cmp)(const void *, const void *), bool dest)
{
	json_object *arr = json_object_object_get(o, field), *out;
	size_t nl = arr ? json_object_array_length(arr) : 0, n = 0;
	struct qentry *v = calloc(nl + hn + 1, sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < nl; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		struct qentry *q = qentry_find(v, &n, json_str(e, key, ""));

		q->connections += (uint64_t)json_int(e, "connections");
		q->retransmits += (uint64_t)json_int(e, "retransmits");
		q->resets_sent += (uint64_t)json_int(e, dest ? "resets" : "resets_sent");
		q->resets_received += (uint64_t)json_int(e, "resets_received");
		q->bytes_sent += (uint64_t)json_int(e, "bytes_sent");
		q->bytes_received += (uint64_t)json_int(e, "bytes_received");
		q->rtt = json_object_object_get(e, "rtt_ms");
	}
	for (size_t i = 0; i < hn; i++) {
		struct qentry *q = qentry_find(v, &n, h[i].name);

		q->connections += h[i].connections;
		q->retransmits += h[i].retransmits;
		q->resets_sent += h[i].resets_sent;
		q->resets_received += h[i].resets_received;
		q->bytes_sent += h[i].bytes_sent;
		q->bytes_received += h[i].bytes_received;
	}
	qsort(v, n, sizeof(*v), cmp);
	out = json_object_new_array();
	for (size_t i = 0; i < n && i < STORE_TOP_N; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, key, json_object_new_string(v[i].name));
		if (dest)
			json_object_object_add(e, "destination_name", NULL);
		json_object_object_add(e, "connections",
				       json_object_new_int64((int64_t)v[i].connections));
		json_object_object_add(e, "retransmits",
				       json_object_new_int64((int64_t)v[i].retransmits));
		if (dest) {
			json_object_object_add(
			    e, "resets",
			    json_object_new_int64((int64_t)(v[i].resets_sent + v[i].resets_received)));
			json_object_object_add(e, "rtt_ms",
					       v[i].rtt ? json_object_get(v[i].rtt) : NULL);
		} else {
			json_object_object_add(e, "resets_sent",
					       json_object_new_int64((int64_t)v[i].resets_sent));
			json_object_object_add(e, "resets_received",
					       json_object_new_int64((int64_t)v[i].resets_received));
			json_object_object_add(e, "bytes_sent",
					       json_object_new_int64((int64_t)v[i].bytes_sent));
			json_object_object_add(e, "bytes_received",
					       json_object_new_int64((int64_t)v[i].bytes_received));
		}
		json_object_array_add(out, e);
	}
	free(v);
	json_object_object_add(o, field, out); /* arr (and the names in v) released here */
}

/* Adds the history's part of the window (dq->htcp) to the live answer o. */
static void merge_history(struct data_query *dq, const struct store_quality *q, json_object *o)
{
	const struct history_tcp_stats *h = dq->htcp;
	uint64_t b[STORE_LATENCY_BUCKETS], hn = 0, segs = q->ended_segs_out + h->segs_out;

	json_object_object_add(o, "retransmits",
			       json_object_new_int64((int64_t)(q->retransmits + h->retransmits)));
	json_object_object_add(
	    o, "retransmit_rate",
	    json_number(segs ? (double)(q->ended_retrans + h->end_retransmits) / (double)segs : 0.0,
			4));
	json_object_object_add(o, "resets_sent",
			       json_object_new_int64((int64_t)(q->resets_sent + h->resets_sent)));
	json_object_object_add(
	    o, "resets_received",
	    json_object_new_int64((int64_t)(q->resets_received + h->resets_received)));
	json_object_object_add(o, "connections_ended",
			       json_object_new_int64((int64_t)(q->ended + h->ended)));
	json_object_object_add(o, "bytes_sent",
			       json_object_new_int64((int64_t)(q->bytes_sent + h->bytes_sent)));
	json_object_object_add(
	    o, "bytes_received",
	    json_object_new_int64((int64_t)(q->bytes_received + h->bytes_received)));
	for (int i = 0; i < STORE_LATENCY_BUCKETS; i++) {
		b[i] = q->rtt_buckets[i] + h->rtt_buckets[i];
		hn += h->rtt_buckets[i];
	}
	if (hn)
		json_object_object_add(o, "rtt_ms", data_latency_buckets(b));
	merge_list(o, "worst_destinations", "destination", h->destinations, h->n_destinations,
		   worse_cmp, true);
	merge_list(o, "processes", "process", h->processes, h->n_processes, busier_cmp, false);
	data_note_add(dq, "from the history: connections count when they ended (netspyd's: when "
			  "they started, with those still open); RTT percentiles are "
			  "interpolated inside histogram buckets and not kept by direction or "
			  "remote end; an accepted connection's remote end is the local port it "
			  "was accepted on");
}

static int quality_run(struct tool_context *ctx, json_object *args, json_object **ret,
		       char **ret_error)
{
	struct store_quality q;
	struct data_query dq;
	json_object *o, *rtt, *worst, *procs;
	int r = data_begin(ctx, args, 0, &dq, ret_error);

	if (r < 0)
		return r;
	r = store_quality(dq.s, &dq.f, &q);
	if (r < 0) {
		data_query_free(&dq);
		return data_error(r, ret_error);
	}
	r = data_history_tcp(&dq, ret_error);
	if (r < 0) {
		data_query_free(&dq);
		return r;
	}
	o = data_result_new(ctx, &dq.a);
	json_object_object_add(o, "retransmits", json_object_new_int64((int64_t)q.retransmits));
	json_object_object_add(
	    o, "retransmit_rate",
	    json_number(q.ended_segs_out ? (double)q.ended_retrans / (double)q.ended_segs_out : 0.0,
			4));
	json_object_object_add(o, "resets_sent", json_object_new_int64((int64_t)q.resets_sent));
	json_object_object_add(o, "resets_received",
			       json_object_new_int64((int64_t)q.resets_received));
	json_object_object_add(o, "connections_ended", json_object_new_int64((int64_t)q.ended));
	json_object_object_add(o, "connections_open", json_object_new_int64((int64_t)q.open));
	json_object_object_add(o, "bytes_sent", json_object_new_int64((int64_t)q.bytes_sent));
	json_object_object_add(o, "bytes_received",
			       json_object_new_int64((int64_t)q.bytes_received));
	rtt = json_object_new_object();
	json_object_object_add(rtt, "count", json_object_new_int64((int64_t)q.rtt_count));
	json_object_object_add(rtt, "p50", ms_or_null(q.rtt_count, q.rtt_p50_ms));
	json_object_object_add(rtt, "p90", ms_or_null(q.rtt_count, q.rtt_p90_ms));
	json_object_object_add(rtt, "p99", ms_or_null(q.rtt_count, q.rtt_p99_ms));
	json_object_object_add(o, "rtt_ms", rtt);
	worst = json_object_new_array();
	for (size_t i = 0; i < q.n_worst; i++)
		json_object_array_add(worst, remote_json(dq.s, &q.worst[i]));
	json_object_object_add(o, "worst_destinations", worst);
	procs = json_object_new_array();
	for (size_t i = 0; i < q.n_processes; i++)
		json_object_array_add(procs, process_json(dq.s, &q.processes[i]));
	json_object_object_add(o, "processes", procs);
	if (dq.htcp)
		merge_history(&dq, &q, o);
	data_finish(&dq, o);
	*ret = o;
	return 0;
}

static void worst_row(struct text_rows *t, size_t i, json_object *e, const void *arg)
{
	text_rows_set(t, i, 0, "%s", json_str(e, "destination", "?"));
	text_rows_set(t, i, 1, "%lld retransmits", (long long)json_int(e, "retransmits"));
	text_rows_set(t, i, 2, "%lld resets", (long long)json_int(e, "resets"));
	text_rows_set(t, i, 3, "%lld connections", (long long)json_int(e, "connections"));
	if (json_object_object_get(e, "rtt_ms"))
		text_rows_set(t, i, 4, "rtt %.3f ms",
			      json_object_get_double(json_object_object_get(e, "rtt_ms")));
}

static void process_row(struct text_rows *t, size_t i, json_object *e, const void *arg)
{
	text_rows_set(t, i, 0, "%s", json_str(e, "process", "?"));
	text_rows_set(t, i, 1, "%lld connections", (long long)json_int(e, "connections"));
	text_rows_set(t, i, 2, "%lld retransmits", (long long)json_int(e, "retransmits"));
	text_rows_set(t, i, 3, "%lld resets sent, %lld received",
		      (long long)json_int(e, "resets_sent"),
		      (long long)json_int(e, "resets_received"));
}

static void quality_print(FILE *f, json_object *r)
{
	char subject[256];
	json_object *rtt = json_object_object_get(r, "rtt_ms");

	fprintf(f, "%s: TCP quality over the last %lld seconds\n",
		text_subject(r, subject, sizeof(subject)), (long long)json_int(r, "duration"));
	fprintf(f, "  connections: %lld ended, %lld still open\n",
		(long long)json_int(r, "connections_ended"),
		(long long)json_int(r, "connections_open"));
	fprintf(f, "  retransmitted segments: %lld (%.2f%% of the segments of the connections that "
		   "ended)\n",
		(long long)json_int(r, "retransmits"),
		100.0 * json_object_get_double(json_object_object_get(r, "retransmit_rate")));
	fprintf(f, "  resets: %lld sent, %lld received\n", (long long)json_int(r, "resets_sent"),
		(long long)json_int(r, "resets_received"));
	if (json_int(rtt, "count"))
		fprintf(f, "  smoothed RTT: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms (%lld connections)\n",
			json_object_get_double(json_object_object_get(rtt, "p50")),
			json_object_get_double(json_object_object_get(rtt, "p90")),
			json_object_get_double(json_object_object_get(rtt, "p99")),
			(long long)json_int(rtt, "count"));
	text_section(f, "worst remote ends", json_object_object_get(r, "worst_destinations"), 5,
		     worst_row, NULL);
	text_section(f, "by process", json_object_object_get(r, "processes"), 4, process_row, NULL);
	text_events_lost(f, r);
}

#define S_WORST                                                                               \
	"{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"destination\":"    \
	S_STRING ",\"destination_name\":" S_STRING_OR_NULL ",\"connections\":" S_COUNT         \
	",\"retransmits\":" S_COUNT ",\"resets\":" S_COUNT ",\"rtt_ms\":" S_NUMBER_OR_NULL "}," \
	"\"required\":[\"destination\",\"destination_name\",\"retransmits\",\"rtt_ms\","         \
	"\"resets\"]}}"
#define S_QPROCS                                                                              \
	"{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"process\":" S_STRING \
	",\"connections\":" S_COUNT ",\"retransmits\":" S_COUNT ",\"resets_sent\":" S_COUNT      \
	",\"resets_received\":" S_COUNT ",\"bytes_sent\":" S_COUNT ",\"bytes_received\":" S_COUNT \
	"},\"required\":[\"process\",\"connections\",\"retransmits\",\"resets_sent\","            \
	"\"resets_received\"]}}"

const struct tool tool_get_tcp_quality = {
	.name = "get_tcp_quality",
	.command = "quality",
	.title = "TCP quality",
	.description =
	    "How well TCP connections fared over the last DURATION seconds, optionally for one "
	    "process id, process name, systemd unit, direction or port: retransmitted segments "
	    "(retransmits) and retransmit_rate (retransmitted / sent segments of the connections "
	    "that ended), resets sent and received, smoothed RTT percentiles in milliseconds, "
	    "the worst remote ends (most retransmits, then resets, then RTT) and the processes "
	    "behind them.",
	.input_schema = ARGS_SCHEMA(ARGS_SUBJECT "," ARG_DIRECTION "," ARG_PORT),
	.output_schema =
	    "{\"type\":\"object\",\"properties\":{" OUT_COMMON ",\"retransmits\":" S_COUNT
	    ",\"retransmit_rate\":" S_NUMBER ",\"resets_sent\":" S_COUNT
	    ",\"resets_received\":" S_COUNT ",\"connections_ended\":" S_COUNT
	    ",\"connections_open\":" S_COUNT ",\"bytes_sent\":" S_COUNT ",\"bytes_received\":" S_COUNT
	    ",\"rtt_ms\":" S_LATENCY ",\"worst_destinations\":" S_WORST ",\"processes\":" S_QPROCS
	    "},\"required\":[" OUT_COMMON_REQUIRED ",\"retransmits\",\"retransmit_rate\","
	    "\"resets_sent\",\"resets_received\",\"rtt_ms\",\"worst_destinations\","
	    "\"processes\"]}",
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = quality_run,
	.print = quality_print,
};
