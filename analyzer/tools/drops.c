/* get_packet_drop_summary: how many packets the kernel dropped, by reason (as the running
 * kernel names it), protocol and owning process. */
#include <stdlib.h>
#include <string.h>

#include "core/format.h"
#include "tools/tool.h"
#include "tools/data.h"

static json_object *reason_counts(const struct store *s, const struct store_drop_stats *st)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < st->n_reasons; i++) {
		const char *raw = store_reason(s, (uint16_t)i);
		char name[STORE_REASON_LEN * 4];

		if (!st->by_reason[i])
			continue;
		fmt_sanitize(name, sizeof(name), (const uint8_t *)raw, strlen(raw));
		json_object_object_add(o, name, json_object_new_int64((int64_t)st->by_reason[i]));
	}
	return o;
}

static int drops_run(struct tool_context *ctx, json_object *args, json_object **ret,
		     char **ret_error)
{
	struct store_drop_stats st;
	struct data_totals t;
	struct data_query q;
	struct store *s;
	json_object *o;
	int r = data_begin(ctx, args, 0, &q, ret_error);

	if (r < 0)
		return r;
	s = q.s;
	r = store_drop_stats(s, &q.f, &st);
	if (r < 0) {
		data_query_free(&q);
		return data_error(r, ret_error);
	}
	r = data_history_drops(&q, &st, ret_error);
	if (r < 0) {
		free(st.by_reason);
		data_query_free(&q);
		return r;
	}
	o = data_result_new(ctx, &q.a);
	data_totals(ctx, &q, o, &t);
	/* Totals and breakdowns by reason and protocol from netspyd's counters when it keeps them
	 * (exact however few events are kept); the per-process detail from the kept events. */
	if (t.use) {
		json_object_object_add(o, "total_drops",
				       json_object_new_int64((int64_t)t.events[3]));
		json_object_object_add(o, "by_reason", json_object_get(t.drop_reasons));
		json_object_object_add(o, "by_protocol", json_proto_counts(t.by_proto[3]));
	} else {
		json_object_object_add(o, "total_drops", json_object_new_int64((int64_t)st.total));
		json_object_object_add(o, "by_reason", reason_counts(s, &st));
		json_object_object_add(o, "by_protocol", json_proto_counts(st.by_proto));
	}
	json_object_put(t.drop_reasons);
	json_object_object_add(o, "by_process",
			       json_top_processes(s, st.processes, st.n_processes));
	json_object_object_add(o, "unattributed",
			       json_object_new_int64((int64_t)(st.total - st.attributed)));
	json_object_object_add(o, "drops_in_kept_events", json_object_new_int64((int64_t)st.total));
	json_object_object_add(o, "by_process_partial",
			       json_object_new_boolean(!json_flag(o, "complete") ||
						       (t.have && st.total != t.events[3])));
	free(st.by_reason);
	data_finish(&q, o);
	*ret = o;
	return 0;
}

static void drops_print(FILE *f, json_object *r)
{
	char subject[256];
	int64_t total = json_int(r, "total_drops");

	fprintf(f, "%s: %lld packet drop%s over the last %lld seconds\n",
		text_subject(r, subject, sizeof(subject)), (long long)total, total == 1 ? "" : "s",
		(long long)json_int(r, "duration"));
	if (total) {
		fputs("  by reason:   ", f);
		text_counts(f, json_object_object_get(r, "by_reason"));
		fputs("\n  by protocol: ", f);
		text_counts(f, json_object_object_get(r, "by_protocol"));
		fputc('\n', f);
		text_top(f,
			 json_flag(r, "by_process_partial") ? "by process (kept events only)"
							    : "by process",
			 json_object_object_get(r, "by_process"), "process", "drops");
		if (json_int(r, "unattributed"))
			fprintf(f, "  not attributable to a process: %lld\n",
				(long long)json_int(r, "unattributed"));
	}
	text_events_lost(f, r);
}

const struct tool tool_get_packet_drop_summary = {
	.name = "get_packet_drop_summary",
	.command = "drops",
	.title = "Packet drop summary",
	.description =
	    "Count the packets the kernel dropped over the last DURATION seconds, "
	    "optionally only those of one process id, process name or systemd unit (a "
	    "drop belongs to a unit when its owner was seen connecting from it): total, by drop "
	    "reason as the running kernel names it (NO_SOCKET, TCP_CSUM, ...), by "
	    "protocol and by owning process (drops whose socket owner is unknown are "
	    "counted as unattributed, never guessed). Totals, by_reason and by_protocol come from "
	    "netspyd's per-second counters when it keeps them (exact for any window up to an "
	    "hour, however few events are kept; totals_exact says whether they cover the whole "
	    "window); by_process and unattributed come from the kept events "
	    "(by_process_partial says when those do not cover everything).",
	.input_schema = ARGS_SCHEMA(ARGS_SUBJECT "," ARGS_REMOTE "," ARG_REASON),
	.output_schema =
	    "{\"type\":\"object\",\"properties\":{" OUT_COMMON ",\"total_drops\":" S_COUNT
	    ",\"by_reason\":" S_COUNTS ",\"by_protocol\":" S_COUNTS ",\"by_process\":" S_TOP(
		"process") ",\"unattributed\":" S_COUNT ",\"drops_in_kept_events\":" S_COUNT
			   ",\"by_process_partial\":{\"type\":\"boolean\"}" OUT_TOTALS "},"
			   "\"required\":[" OUT_COMMON_REQUIRED ",\"total_drops\",\"by_reason\","
			   "\"by_protocol\",\"by_process\",\"unattributed\"]}",
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = drops_run,
	.print = drops_print,
};
