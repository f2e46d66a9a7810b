/* list_connections: the newest connection attempts, one line each, with their outcome. */
#include <string.h>

#include "tools/tool.h"
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
	text_rows_set(
	    t, i, 1, strchr(json_str(e, "destination_ip", ""), ':') ? "[%s]:%lld" : "%s:%lld",
	    json_str(e, "destination_ip", ""), (long long)json_int(e, "destination_port"));
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
}

static void list_print(FILE *f, json_object *r)
{
	static const struct text_list l = { "events", "connection events", 7, list_row, true };

	text_list_print(f, r, &l);
}

#define S_CONN_EVENT                                                                           \
	"{\"type\":\"object\",\"properties\":{\"timestamp\":" S_STRING ",\"pid\":" S_COUNT     \
	",\"process\":" S_STRING ",\"protocol\":" S_STRING ",\"family\":{\"enum\":[\"IPv4\","  \
	"\"IPv6\",\"unknown\"]},\"destination_ip\":" S_STRING ",\"destination_port\":" S_COUNT \
	",\"outcome\":{\"enum\":" FMT_OUTCOME_ENUM_JSON "},\"latency_ms\":" S_NUMBER           \
	",\"failed\":{\"type\":\"boolean\"},\"abandoned\":{\"type\":\"boolean\"},"             \
	"\"in_connect\":{\"type\":\"boolean\"},\"errno\":" S_STRING_OR_NULL                    \
	",\"unit\":" S_STRING_OR_NULL ",\"container\":" S_STRING_OR_NULL "},"                  \
	"\"required\":[\"timestamp\",\"pid\",\"process\",\"protocol\",\"family\","             \
	"\"destination_ip\",\"destination_port\",\"outcome\",\"unit\",\"container\"]}"

const struct tool tool_list_connections = {
	.name = "list_connections",
	.command = "list",
	.title = "List connections",
	.description = "List the most recent outbound connection attempts (newest first, at most "
		       "max_events) over the last DURATION seconds, optionally for one process id, "
		       "process name or systemd unit: time, process, protocol, destination, "
		       "outcome (failed: whether it counts as a failure; abandoned: closed by "
		       "its application before any answer; in_connect: failed inside connect(), "
		       "errno names why) and TCP handshake latency.",
	.input_schema =
	    ARGS_SCHEMA(ARG_PID "," ARG_PROCESS "," ARG_WINDOW "," ARG_MAX_EVENTS "," ARG_UNIT),
	.output_schema = "{\"type\":\"object\",\"properties\":{" OUT_COMMON S_LIST_COMMON
			 ",\"events\":{\"type\":\"array\",\"items\":" S_CONN_EVENT "}},"
			 "\"required\":[" OUT_COMMON_REQUIRED S_LIST_REQUIRED ",\"events\"]}",
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = list_run,
	.print = list_print,
};
