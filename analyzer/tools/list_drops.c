/* list_packet_drops: the newest packet drops with reason, addresses and owning process. */
#include "tools/tool.h"
#include "tools/data.h"

static int list_drops_run(struct tool_context *ctx, json_object *args, json_object **ret,
			  char **ret_error)
{
	return data_list_run(ctx, args, store_list_drops, drop_to_json, "drops", ret, ret_error);
}

static void drop_row(struct text_rows *t, size_t i, json_object *e)
{
	char clock[16];

	text_clock(json_str(e, "timestamp", ""), clock, sizeof(clock));
	text_rows_set(t, i, 0, "%s", clock);
	int64_t n = json_int(e, "count");

	if (n > 1)
		text_rows_set(t, i, 1, "%s x %s", json_str(e, "reason", "?"), text_thousands(n));
	else
		text_rows_set(t, i, 1, "%s", json_str(e, "reason", "?"));
	text_rows_set(t, i, 2, "%s", json_str(e, "protocol", "?"));
	text_rows_set(t, i, 3, "%s:%lld -> %s:%lld", json_str(e, "source_ip", ""),
		      (long long)json_int(e, "source_port"), json_str(e, "destination_ip", ""),
		      (long long)json_int(e, "destination_port"));
	if (json_str(e, "process", NULL))
		text_rows_set(t, i, 4, "%s | pid %lld", json_str(e, "process", ""),
			      (long long)json_int(e, "pid"));
	else
		text_rows_set(t, i, 4, "(process unknown)");
}

static void list_drops_print(FILE *f, json_object *r)
{
	static const struct text_list l = { "drops", "packet drops", 5, drop_row, false };

	text_list_print(f, r, &l);
}

#define S_DROP_EVENT                                                                               \
	"{\"type\":\"object\",\"properties\":{\"timestamp\":" S_STRING ",\"reason\":" S_STRING     \
	",\"protocol\":" S_STRING ",\"count\":" S_COUNT ",\"source_ip\":" S_STRING                 \
	",\"source_port\":" S_COUNT ",\"destination_ip\":" S_STRING                                \
	",\"destination_port\":" S_COUNT ",\"pid\":" S_INT_OR_NULL                                 \
	",\"process\":" S_STRING_OR_NULL ",\"remote_name\":" S_STRING_OR_NULL "},"                 \
	"\"required\":[\"timestamp\",\"reason\",\"protocol\",\"count\",\"source_ip\",\"source_port\","       \
	"\"destination_ip\",\"destination_port\",\"pid\",\"process\"]}"

const struct tool tool_list_packet_drops = {
	.name = "list_packet_drops",
	.command = "list-drops",
	.title = "List packet drops",
	.description = "List the most recent packets the kernel dropped (newest first, at most "
		       "max_events) over the last DURATION seconds, optionally for one process id "
		       "or process name: time, drop reason, protocol, source and destination, and "
		       "the owning process (null when not attributable). During a flood netspyd "
		       "folds identical drops into one record: count says how many it stands for.",
	.input_schema =
	    ARGS_SCHEMA(ARG_PID "," ARG_PROCESS "," ARG_WINDOW "," ARG_MAX_EVENTS "," ARG_UNIT
			"," ARGS_REMOTE "," ARG_REASON),
	.output_schema = "{\"type\":\"object\",\"properties\":{" OUT_COMMON S_LIST_COMMON
			 ",\"drops\":{\"type\":\"array\",\"items\":" S_DROP_EVENT "}},"
			 "\"required\":[" OUT_COMMON_REQUIRED S_LIST_REQUIRED ",\"drops\"]}",
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = list_drops_run,
	.print = list_drops_print,
};
