/* get_network_summary: how many connection attempts, how many failed, by protocol, outcome and
 * process, with TCP handshake latency percentiles. */
#include <json-c/json.h>

#include "tools/tool.h"
#include "tools/data.h"

static int summary_run(struct tool_context *ctx, json_object *args, json_object **ret,
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
	data_conn_totals(ctx, &q, o, &t);
	json_object_object_add(o, "by_protocol",
			       json_proto_counts(t.use ? t.by_proto[1] : st.by_proto));
	json_object_object_add(o, "by_outcome", json_outcome_counts(st.by_outcome));
	json_object_object_add(o, "latency_ms", json_latency(&st));
	json_object_object_add(o, "processes", json_top_processes(s, st.processes, st.n_processes));
	json_object_object_add(
	    o, "top_destinations",
	    json_top_endpoints(s, st.destinations, st.n_destinations, "destination"));
	json_object_object_add(o, "data_start", data_oldest(s));
	data_finish(&q, o);
	*ret = o;
	return 0;
}

static void summary_print(FILE *f, json_object *r)
{
	char subject[256];
	int64_t total = json_int(r, "total_connections"),
		failed = json_int(r, "failed_connections");

	fprintf(f, "%s made %lld outbound connection attempt%s over the last %lld seconds",
		text_subject(r, subject, sizeof(subject)), (long long)total, total == 1 ? "" : "s",
		(long long)json_int(r, "duration"));
	if (total)
		fprintf(f, " (%lld failed, %.1f%%)", (long long)failed,
			100.0 * json_object_get_double(json_object_object_get(r, "failure_rate")));
	fputc('\n', f);
	if (total) {
		fputs("  by protocol: ", f);
		text_counts(f, json_object_object_get(r, "by_protocol"));
		fputs("\n  by outcome:  ", f);
		text_counts(f, json_object_object_get(r, "by_outcome"));
		fputc('\n', f);
		text_latency(f, r);
		text_top(f, "by process", json_object_object_get(r, "processes"), "process",
			 "connections");
		text_top(f, "top destinations", json_object_object_get(r, "top_destinations"),
			 "destination", "connections");
	}
	text_events_lost(f, r);
}

const struct tool tool_get_network_summary = {
	.name = "get_network_summary",
	.command = "summary",
	.title = "Network summary",
	.description = "Count the outbound connection attempts (TCP and UDP connect()) over the "
		       "last DURATION seconds, optionally for one process id, process name or "
		       "systemd unit, remote address or name, port or protocol: total, failed, by "
		       "protocol, by outcome (established, refused, timeout, unreachable, "
		       "pending, sent), by process, top destinations (with the name each was "
		       "looked up by), and TCP handshake latency percentiles in milliseconds.",
	.input_schema = ARGS_SCHEMA(ARG_PID "," ARG_PROCESS "," ARG_WINDOW "," ARG_UNIT
				    "," ARGS_REMOTE),
	.output_schema =
	    "{\"type\":\"object\",\"properties\":{" OUT_COMMON ",\"total_connections\":" S_COUNT
	    ",\"failed_connections\":" S_COUNT ",\"failure_rate\":" S_NUMBER
	    ",\"by_protocol\":" S_COUNTS ",\"by_outcome\":" S_COUNTS ",\"latency_ms\":" S_LATENCY
	    ",\"data_start\":" S_STRING_OR_NULL ",\"processes\":" S_TOP("process")
	    ",\"top_destinations\":" S_TOP_DEST OUT_TOTALS "},"
			   "\"required\":[" OUT_COMMON_REQUIRED ",\"total_connections\","
			   "\"failed_connections\",\"failure_rate\",\"by_protocol\",\"by_outcome\","
			   "\"latency_ms\",\"processes\"]}",
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = summary_run,
	.print = summary_print,
};
