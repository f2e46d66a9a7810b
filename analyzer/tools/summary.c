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
	json_object *o, *dir, *end;
	int r = data_conn_stats(ctx, args, STORE_STATS_DETAIL, &q, &st, &o, ret_error);

	if (r < 0)
		return r;
	s = q.s;
	data_conn_totals(ctx, &q, o, st.inbound, &t);
	json_object_object_add(o, "by_protocol",
			       json_proto_counts(t.use ? t.by_proto[1] : st.by_proto));
	json_object_object_add(o, "by_outcome", json_outcome_counts(st.by_outcome));
	json_object_object_add(o, "latency_ms", json_latency(&st));
	json_object_object_add(o, "processes", json_top_processes(s, st.processes, st.n_processes));
	dir = json_object_new_object();
	json_object_object_add(dir, "outbound", json_object_new_int64((int64_t)(st.total - st.inbound)));
	json_object_object_add(dir, "inbound", json_object_new_int64((int64_t)st.inbound));
	json_object_object_add(o, "by_direction", dir);
	end = json_object_new_object();
	for (int i = 0; i < STORE_N_ENDS; i++)
		if (st.by_end[i])
			json_object_object_add(end, fmt_end(i),
					       json_object_new_int64((int64_t)st.by_end[i]));
	json_object_object_add(o, "by_end", end);
	json_object_object_add(o, "bytes_sent", json_object_new_int64((int64_t)st.bytes_sent));
	json_object_object_add(o, "bytes_received",
			       json_object_new_int64((int64_t)st.bytes_received));
	json_object_object_add(o, "retransmits", json_object_new_int64((int64_t)st.retransmits));
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

	json_object *dir = json_object_object_get(r, "by_direction");
	int64_t inbound = json_int(dir, "inbound");

	if (inbound)
		fprintf(f,
			"%s had %lld connection%s over the last %lld seconds: %lld outbound "
			"attempts, %lld inbound",
			text_subject(r, subject, sizeof(subject)), (long long)total,
			total == 1 ? "" : "s", (long long)json_int(r, "duration"),
			(long long)json_int(dir, "outbound"), (long long)inbound);
	else
		fprintf(f, "%s made %lld outbound connection attempt%s over the last %lld seconds",
			text_subject(r, subject, sizeof(subject)), (long long)total,
			total == 1 ? "" : "s", (long long)json_int(r, "duration"));
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
		if (json_object_object_length(json_object_object_get(r, "by_end"))) {
			fputs("  TCP connections: ", f);
			text_counts(f, json_object_object_get(r, "by_end"));
			fprintf(f, "; of those ended: %lld B sent, %lld B received, %lld retransmits\n",
				(long long)json_int(r, "bytes_sent"),
				(long long)json_int(r, "bytes_received"),
				(long long)json_int(r, "retransmits"));
		}
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
	.description = "Count the connections over the last DURATION seconds: outbound attempts "
		       "(TCP and UDP connect()) and accepted inbound TCP connections, optionally "
		       "for one process id, process name, systemd unit, remote address or name, "
		       "port, protocol, direction or outcome: total, failed, by protocol, by "
		       "outcome (established, refused, timeout, unreachable, pending, sent), by "
		       "direction, by process, top destinations (with the name each was looked up "
		       "by), TCP handshake latency percentiles in milliseconds, and for established "
		       "TCP connections how they ended (by_end: open, closed, reset_sent, "
		       "reset_received, timeout) with the bytes and retransmitted segments of "
		       "those that ended.",
	.input_schema = ARGS_SCHEMA(ARGS_SUBJECT "," ARGS_CONN_FILTERS),
	.output_schema =
	    "{\"type\":\"object\",\"properties\":{" OUT_COMMON ",\"total_connections\":" S_COUNT
	    ",\"failed_connections\":" S_COUNT ",\"failure_rate\":" S_NUMBER
	    ",\"by_protocol\":" S_COUNTS ",\"by_outcome\":" S_COUNTS ",\"latency_ms\":" S_LATENCY
	    ",\"by_direction\":" S_COUNTS ",\"by_end\":" S_COUNTS ",\"bytes_sent\":" S_COUNT
	    ",\"bytes_received\":" S_COUNT ",\"retransmits\":" S_COUNT
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
