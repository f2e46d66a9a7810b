/* analyze_patterns: where connections go, which fail and how, who talks most, how fast TCP
 * handshakes complete, plus short observations a person or a model can act on. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tools/tool.h"
#include "tools/data.h"

__attribute__((format(printf, 2, 3))) static void observe(json_object *obs, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) >= 0)
		json_object_array_add(obs, json_object_new_string(s));
	va_end(ap);
	free(s);
}

static json_object *observations(const struct store *s, const struct store_conn_stats *st)
{
	json_object *obs = json_object_new_array();
	char ep[96];

	if (!st->total)
		observe(obs, "no connection attempts in this window");
	if (st->n_refused) {
		endpoint_format(store_endpoint(s, st->refused[0].key), ep, sizeof(ep));
		observe(obs,
			"%llu connection%s refused by %s: nothing listens there, or a firewall "
			"rejects it",
			(unsigned long long)st->refused[0].count,
			st->refused[0].count == 1 ? "" : "s", ep);
	}
	if (st->n_unreachable) {
		endpoint_format(store_endpoint(s, st->unreachable[0].key), ep, sizeof(ep));
		observe(obs, "%llu connection%s to %s timed out or found no route",
			(unsigned long long)st->unreachable[0].count,
			st->unreachable[0].count == 1 ? "" : "s", ep);
	}
	if (st->total >= 10 && st->failed * 5 >= st->total)
		observe(obs, "high failure rate: %.0f%% of attempts failed",
			100.0 * data_failure_rate(st->failed, st->total));
	if (st->by_outcome[STORE_OUTCOME_PENDING])
		observe(obs, "%llu TCP connect%s still pending (no answer yet)",
			(unsigned long long)st->by_outcome[STORE_OUTCOME_PENDING],
			st->by_outcome[STORE_OUTCOME_PENDING] == 1 ? "" : "s");
	return obs;
}

static int analyze_run(struct tool_context *ctx, json_object *args, json_object **ret,
		       char **ret_error)
{
	struct store_conn_stats st;
	struct data_totals t;
	struct data_query q;
	struct store *s;
	json_object *o;
	int r = data_conn_stats(ctx, args, STORE_STATS_DETAIL, &q, &st, &o, ret_error);

	if (r < 0)
		return r;
	s = q.s;
	data_conn_totals(ctx, &q, o, st.inbound, &t);
	json_object_object_add(o, "protocols",
			       json_proto_counts(t.use ? t.by_proto[1] : st.by_proto));
	json_object_object_add(o, "outcomes", json_outcome_counts(st.by_outcome));
	json_object_object_add(
	    o, "top_destinations",
	    json_top_endpoints(s, st.destinations, st.n_destinations, "destination"));
	json_object_object_add(o, "refused_destinations",
			       json_top_endpoints(s, st.refused, st.n_refused, "destination"));
	json_object_object_add(
	    o, "unreachable_destinations",
	    json_top_endpoints(s, st.unreachable, st.n_unreachable, "destination"));
	json_object_object_add(o, "top_talkers",
			       json_top_processes(s, st.processes, st.n_processes));
	json_object_object_add(o, "latency_ms", json_latency(&st));
	json_object_object_add(o, "observations", observations(s, &st));
	data_finish(&q, o);
	*ret = o;
	return 0;
}

static void analyze_print(FILE *f, json_object *r)
{
	char subject[256];
	json_object *obs = json_object_object_get(r, "observations");

	fprintf(f, "Connection patterns: %s, last %lld seconds: %lld attempts, %.1f%% failed\n",
		text_subject(r, subject, sizeof(subject)), (long long)json_int(r, "duration"),
		(long long)json_int(r, "total_connections"),
		100.0 * json_object_get_double(json_object_object_get(r, "failure_rate")));
	fputs("  protocols: ", f);
	text_counts(f, json_object_object_get(r, "protocols"));
	fputs("\n  outcomes:  ", f);
	text_counts(f, json_object_object_get(r, "outcomes"));
	fputc('\n', f);
	text_latency(f, r);
	text_top(f, "top destinations", json_object_object_get(r, "top_destinations"),
		 "destination", "connections");
	text_top(f, "refused", json_object_object_get(r, "refused_destinations"), "destination",
		 "refused");
	text_top(f, "timed out / unreachable",
		 json_object_object_get(r, "unreachable_destinations"), "destination", "failed");
	text_top(f, "top talkers", json_object_object_get(r, "top_talkers"), "process",
		 "connections");
	for (size_t i = 0; obs && i < json_object_array_length(obs); i++)
		fprintf(f, "  * %s\n", json_object_get_string(json_object_array_get_idx(obs, i)));
	text_events_lost(f, r);
}

const struct tool tool_analyze_patterns = {
	.name = "analyze_patterns",
	.command = "analyze",
	.title = "Analyze connection patterns",
	.description = "Analyze the connection attempts of the last DURATION seconds, optionally "
		       "for one process id, process name or systemd unit: top destinations "
		       "(ip:port with counts), protocols, failure rate, refused and unreachable "
		       "destinations, top talkers, TCP handshake latency percentiles, and short "
		       "observations.",
	.input_schema = ARGS_SCHEMA(ARGS_SUBJECT "," ARGS_CONN_FILTERS),
	/* clang-format off: one property per line reads better than the formatter's wrapping */
	.output_schema = "{\"type\":\"object\",\"properties\":{" OUT_COMMON OUT_TOTALS
			 ",\"total_connections\":" S_COUNT
			 ",\"failed_connections\":" S_COUNT
			 ",\"failure_rate\":" S_NUMBER
			 ",\"protocols\":" S_COUNTS
			 ",\"outcomes\":" S_COUNTS
			 ",\"top_destinations\":" S_TOP_DEST
			 ",\"refused_destinations\":" S_TOP_DEST
			 ",\"unreachable_destinations\":" S_TOP_DEST
			 ",\"top_talkers\":" S_TOP("process")
			 ",\"latency_ms\":" S_LATENCY
			 ",\"observations\":{\"type\":\"array\",\"items\":" S_STRING "}},"
			 "\"required\":[" OUT_COMMON_REQUIRED ",\"total_connections\","
			 "\"failed_connections\",\"failure_rate\",\"protocols\",\"outcomes\","
			 "\"top_destinations\",\"refused_destinations\",\"unreachable_destinations\","
			 "\"top_talkers\",\"latency_ms\",\"observations\"]}",
	/* clang-format on */
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = analyze_run,
	.print = analyze_print,
};
