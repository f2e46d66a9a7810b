/* list_connections: the newest connection attempts, one line each, with their outcome. */
#include <string.h>

#include "tools/tool.h"
#include "core/format.h"
#include "tools/data.h"

static int list_run(struct tool_context *ctx, json_object *args, json_object **ret,
		    char **ret_error)
{
	return data_list_run(ctx, args, store_list_conns, conn_to_json, "events", ret, ret_error);
}

static void list_row(struct text_rows *t, size_t i, json_object *e)
{
	char clock[16];
	json_object *lat;

	text_clock(json_str(e, "timestamp", ""), clock, sizeof(clock));
	text_rows_set(t, i, 0, "%s", clock);
	char ep[FMT_ADDR_LEN + 16];

	snprintf(ep, sizeof(ep),
		 strchr(json_str(e, "destination_ip", ""), ':') ? "[%s]:%lld" : "%s:%lld",
		 json_str(e, "destination_ip", ""), (long long)json_int(e, "destination_port"));
	text_destination(t, i, 1, ep, json_str(e, "destination_name", NULL));
	text_rows_set(t, i, 2, "%s", json_str(e, "protocol", "?"));
	text_rows_set(t, i, 3, "%s", json_str(e, "process", "?"));
	text_rows_set(t, i, 4, "%s%s%s%s", json_str(e, "outcome", "?"),
		      json_flag(e, "abandoned") ? " (abandoned)" : "",
		      json_str(e, "errno", NULL) ? " " : "", json_str(e, "errno", ""));
	if (json_object_object_get_ex(e, "latency_ms", &lat))
		text_rows_set(t, i, 5, "%.3f ms", json_object_get_double(lat));
	else
		text_rows_set(t, i, 5, "-");
	text_rows_set(t, i, 6, "pid %lld%s%s", (long long)json_int(e, "pid"),
		      json_str(e, "unit", NULL) ? " | " : "", json_str(e, "unit", ""));
	if (!strcmp(json_str(e, "direction", ""), "inbound"))
		text_rows_set(t, i, 7, strchr(json_str(e, "source_ip", ""), ':') ? "in from [%s]:%lld"
										   : "in from %s:%lld",
			      json_str(e, "source_ip", ""), (long long)json_int(e, "source_port"));
	else
		text_rows_set(t, i, 7, "out");
	if (json_str(e, "end", NULL) && strcmp(json_str(e, "end", ""), "open"))
		text_rows_set(t, i, 8, "%s, %lld ms, %lld B out, %lld B in, %lld retrans",
			      json_str(e, "end", ""), (long long)json_int(e, "duration_ms"),
			      (long long)json_int(e, "bytes_sent"),
			      (long long)json_int(e, "bytes_received"),
			      (long long)json_int(e, "retransmits"));
	else
		text_rows_set(t, i, 8, "%s", json_str(e, "end", "-"));
}

static void list_print(FILE *f, json_object *r)
{
	static const struct text_list l = { "events", "connection events", 9, list_row, true };

	text_list_print(f, r, &l);
}

/* What list_connections adds for the TCP lifecycle and the process's identity. */
#define S_CONN_LIFE                                                                           \
	",\"direction\":{\"enum\":[\"outbound\",\"inbound\"]},\"source_ip\":" S_STRING          \
	",\"source_port\":" S_COUNT ",\"end\":{\"enum\":" FMT_END_ENUM_JSON "},"                \
	"\"duration_ms\":" S_INT_OR_NULL ",\"bytes_sent\":" S_COUNT ",\"bytes_received\":" S_COUNT \
	",\"retransmits\":" S_COUNT ",\"rtt_ms\":" S_NUMBER ",\"exe\":" S_STRING_OR_NULL       \
	",\"cmdline\":" S_STRING_OR_NULL ",\"ppid\":" S_INT_OR_NULL

#define S_CONN_EVENT                                                                           \
	"{\"type\":\"object\",\"properties\":{\"timestamp\":" S_STRING ",\"pid\":" S_COUNT     \
	",\"process\":" S_STRING ",\"protocol\":" S_STRING ",\"family\":{\"enum\":[\"IPv4\","  \
	"\"IPv6\",\"unknown\"]},\"destination_ip\":" S_STRING ",\"destination_port\":" S_COUNT \
	",\"destination_name\":" S_STRING_OR_NULL                                                 \
	",\"outcome\":{\"enum\":" FMT_OUTCOME_ENUM_JSON "},\"latency_ms\":" S_NUMBER           \
	",\"failed\":{\"type\":\"boolean\"},\"abandoned\":{\"type\":\"boolean\"},"             \
	"\"in_connect\":{\"type\":\"boolean\"},\"errno\":" S_STRING_OR_NULL                    \
	",\"unit\":" S_STRING_OR_NULL ",\"container\":" S_STRING_OR_NULL S_CONN_LIFE "},"      \
	"\"required\":[\"timestamp\",\"pid\",\"process\",\"protocol\",\"family\","             \
	"\"destination_ip\",\"destination_port\",\"destination_name\",\"outcome\",\"unit\","      \
	"\"container\",\"direction\",\"exe\",\"cmdline\",\"ppid\"]}"

const struct tool tool_list_connections = {
	.name = "list_connections",
	.command = "list",
	.title = "List connections",
	.description = "List the most recent connections (newest first, at most max_events) over "
		       "the last DURATION seconds, outbound attempts and accepted inbound ones "
		       "(direction; inbound: destination is the local port, source the peer), "
		       "optionally for one process id, process name, systemd unit, direction, "
		       "port or outcome: time, process (exe, cmdline, ppid when known), protocol, "
		       "destination, outcome (failed: whether it counts as a failure; abandoned: "
		       "closed by its application before any answer; in_connect: failed inside "
		       "connect(), errno names why), TCP handshake latency, and for established "
		       "TCP connections how they ended (end: open, closed, reset_sent, "
		       "reset_received, timeout), duration_ms, bytes_sent, bytes_received, "
		       "retransmits (segments) and rtt_ms (smoothed RTT at the end).",
	.input_schema =
	    ARGS_SCHEMA(ARG_PID "," ARG_PROCESS "," ARG_WINDOW "," ARG_MAX_EVENTS "," ARG_UNIT
			"," ARGS_CONN_FILTERS),
	.output_schema = "{\"type\":\"object\",\"properties\":{" OUT_COMMON S_LIST_COMMON
			 ",\"events\":{\"type\":\"array\",\"items\":" S_CONN_EVENT "}},"
			 "\"required\":[" OUT_COMMON_REQUIRED S_LIST_REQUIRED ",\"events\"]}",
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = list_run,
	.print = list_print,
};
