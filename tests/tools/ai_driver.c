/* Drives ai_contextual / ai_insights against a set of fake data tools with known results, so that
 * the AI tests can check the loop, the backend and the offline analyst without a daemon.
 *
 *   ai_driver ask QUERY [--pid N] [--process NAME] [--duration S] [--followup QUERY]
 *   ai_driver insights TEXT
 *   common: [--json] [--stream] [--offline] [--base-url URL] [--model M] [--api-key-file F]
 *           [--timeout S] [--no-daemon (the data tools fail as without netspyd)]
 *           [--socket PATH (the real tool registry against the netspyd at PATH)]
 *           [--progress (progress notices on stderr)]
 * Prints the result (JSON with --json, one document per question), errors on stderr; exits 0, 1
 * (bad arguments), 2 (no daemon) or 4 (AI backend error) like netspyctl, and 5 when a result
 * does not validate against the tool's output schema. Arguments go through the registry's
 * tool_invoke, so they are validated against each fake tool's input schema.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai.h"
#include "core/analyzer.h"
#include "frontends/frontend.h"
#include "tools/tool.h"

static int fake_run(json_object *args, json_object **ret, char **ret_error, const char *json)
{
	json_object *v;

	if (json_object_object_get_ex(args, "pid", &v) && !json_object_is_type(v, json_type_int)) {
		*ret_error = strdup("pid must be an integer");
		return -EINVAL;
	}
	*ret = json_tokener_parse(json);
	json_object_object_add(*ret, "arguments_seen", json_object_get(args));
	return 0;
}

static bool no_daemon; /* --no-daemon: the data tools fail as without netspyd */

static int summary_run(struct tool_context *ctx, json_object *args, json_object **ret,
		       char **ret_error)
{
	if (no_daemon) {
		*ret_error = strdup("cannot connect to netspyd (fake)");
		return -ENOTCONN;
	}
	return fake_run(args, ret, ret_error,
			"{\"total_connections\":4217,\"failed_connections\":389,\"duration\":60,"
			"\"by_protocol\":{\"TCP\":4000,\"UDP\":217}}");
}

static int list_run(struct tool_context *ctx, json_object *args, json_object **ret,
		    char **ret_error)
{
	static const char ev[] = "{\"timestamp\":\"2026-11-21T08:00:00Z\",\"pid\":%d,"
				 "\"process\":\"%s\",\"protocol\":\"TCP\",\"family\":\"IPv4\","
				 "\"destination_ip\":\"%s\",\"destination_port\":%d,"
				 "\"outcome\":\"%s\"}";
	char buf[2048];
	int n;

	n = snprintf(buf, sizeof(buf), "{\"events\":[");
	n += snprintf(buf + n, sizeof(buf) - n, ev, 77, "gen", "127.0.0.1", 9, "refused");
	n += snprintf(buf + n, sizeof(buf) - n, ",");
	n += snprintf(buf + n, sizeof(buf) - n, ev, 77, "gen", "127.0.0.1", 9, "refused");
	n += snprintf(buf + n, sizeof(buf) - n, ",");
	n += snprintf(buf + n, sizeof(buf) - n, ev, 78, "other", "::1", 443, "established");
	n += snprintf(buf + n, sizeof(buf) - n, ",");
	n += snprintf(buf + n, sizeof(buf) - n, ev, 77, "gen", "10.9.9.9", 80, "unreachable");
	snprintf(buf + n, sizeof(buf) - n, "]}");
	return fake_run(args, ret, ret_error, buf);
}

static int drops_run(struct tool_context *ctx, json_object *args, json_object **ret,
		     char **ret_error)
{
	json_object *v;

	/* A process that had no drops attributed to it. */
	if (json_object_object_get_ex(args, "process_name", &v) &&
	    !strcmp(json_object_get_string(v), "quiet"))
		return fake_run(args, ret, ret_error, "{\"total_drops\":0,\"by_reason\":{}}");
	return fake_run(args, ret, ret_error,
			"{\"total_drops\":12,\"by_reason\":{\"NO_SOCKET\":9,"
			"\"SOME_NEW_REASON\":3}}");
}

static int patterns_run(struct tool_context *ctx, json_object *args, json_object **ret,
			char **ret_error)
{
	return fake_run(args, ret, ret_error,
			"{\"top_destinations\":[{\"destination\":\"127.0.0.1:9\",\"count\":2}],"
			"\"protocols\":{\"TCP\":4},\"failure_rate\":0.75}");
}

/* {"kb": N} -> a result of about N KiB. */
static int big_run(struct tool_context *ctx, json_object *args, json_object **ret, char **ret_error)
{
	json_object *v;
	size_t n = json_object_object_get_ex(args, "kb", &v) ? (size_t)json_object_get_int(v) : 1;
	char *pad = malloc(n * 1024 + 1);

	if (!pad)
		return -ENOMEM;
	memset(pad, 'x', n * 1024);
	pad[n * 1024] = '\0';
	*ret = json_object_new_object();
	json_object_object_add(*ret, "padding", json_object_new_string(pad));
	free(pad);
	return 0;
}

static int fail_run(struct tool_context *ctx, json_object *args, json_object **ret,
		    char **ret_error)
{
	*ret_error = strdup("this tool always fails");
	return -EIO;
}

#define FOCUS_SCHEMA                                                                   \
	"{\"type\":\"object\",\"properties\":{\"pid\":{\"type\":\"integer\"},"         \
	"\"process_name\":{\"type\":\"string\"},\"duration\":{\"type\":\"integer\"}}," \
	"\"additionalProperties\":false}"
#define LIST_SCHEMA                                                                   \
	"{\"type\":\"object\",\"properties\":{\"pid\":{\"type\":\"integer\"},"        \
	"\"process_name\":{\"type\":\"string\"},\"duration\":{\"type\":\"integer\"}," \
	"\"max_events\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5000}},"      \
	"\"additionalProperties\":false}"

#define FAKE_TOOL(var, nm, schema, fn, offer)                                      \
	static const struct tool var = { .name = nm,                               \
					 .command = nm,                            \
					 .description = "fake " nm,                \
					 .input_schema = schema,                   \
					 .output_schema = "{\"type\":\"object\"}", \
					 .read_only = true,                        \
					 .offered_to_model = offer,                \
					 .run = fn }

FAKE_TOOL(fake_summary, "get_network_summary", FOCUS_SCHEMA, summary_run, true);
FAKE_TOOL(fake_list, "list_connections", LIST_SCHEMA, list_run, true);
FAKE_TOOL(fake_drops, "get_packet_drop_summary", FOCUS_SCHEMA, drops_run, true);
FAKE_TOOL(fake_patterns, "analyze_patterns", FOCUS_SCHEMA, patterns_run, true);
FAKE_TOOL(fake_big, "big_data",
	  "{\"type\":\"object\",\"properties\":{\"kb\":{\"type\":\"integer\"}}}", big_run, true);
FAKE_TOOL(fake_failing, "always_fails", "{\"type\":\"object\"}", fail_run, true);
FAKE_TOOL(fake_hidden, "list_packet_drops", FOCUS_SCHEMA, fail_run, false);
FAKE_TOOL(fake_badname, "bad name!", FOCUS_SCHEMA, fail_run, true);
/* Offered on purpose: the loop must still never offer contextual_analysis to itself. */
static const struct tool fake_self = { .name = "contextual_analysis",
				       .input_schema = "{\"type\":\"object\"}",
				       .read_only = true,
				       .offered_to_model = true,
				       .run = ai_contextual };

static const struct tool *const fake_tools[] = {
	&fake_summary, &fake_list,   &fake_drops,   &fake_patterns, &fake_big,
	&fake_failing, &fake_hidden, &fake_badname, &fake_self,	    NULL,
};

static int run_one(struct tool_context *ctx, bool insights, json_object *args, bool json)
{
	json_object *res = NULL;
	char *err = NULL;
	int r;

	r = insights ? ai_insights(ctx, args, &res, &err) : ai_contextual(ctx, args, &res, &err);
	if (r < 0) {
		fprintf(stderr, "ai_driver: %s\n", err ? err : strerror(-r));
		free(err);
		return frontend_exit_code(r, NETSPY_EXIT_USAGE);
	}
	/* Every result must match the contract its tool publishes. */
	if (schema_validate(
		tool_find(insights ? "ai_insights" : "contextual_analysis")->output_schema, res,
		&err) < 0) {
		fprintf(stderr, "ai_driver: the result does not match the output schema: %s\n",
			err);
		free(err);
		json_object_put(res);
		return 5;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
	else
		tool_find(insights ? "ai_insights" : "contextual_analysis")->print(stdout, res);
	json_object_put(res);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "process", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "followup", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "stream", no_argument, NULL, 's' },
		{ "offline", no_argument, NULL, 'o' },
		{ "base-url", required_argument, NULL, 'b' },
		{ "model", required_argument, NULL, 'm' },
		{ "api-key-file", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-daemon", no_argument, NULL, 'D' },
		{ "socket", required_argument, NULL, 'S' },
		{ "progress", no_argument, NULL, 'P' },
		{ 0 },
	};
	struct tool_context ctx = { .tools = fake_tools, .analyst = &ai_analyst };
	json_object *args = json_object_new_object();
	const char *followup = NULL, *socket_path = NULL;
	struct analyzer an = { 0 };
	bool json = false, insights;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			json_object_object_add(args, "pid", json_object_new_int(atoi(optarg)));
			break;
		case 'n':
			json_object_object_add(args, "process_name",
					       json_object_new_string(optarg));
			break;
		case 'd':
			json_object_object_add(args, "duration", json_object_new_int(atoi(optarg)));
			break;
		case 'f':
			followup = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 's':
			ctx.ai.stream = true;
			ctx.stream_out = stdout;
			break;
		case 'o':
			ctx.ai.offline = true;
			break;
		case 'b':
			ctx.ai.base_url = optarg;
			break;
		case 'm':
			ctx.ai.model = optarg;
			break;
		case 'k':
			ctx.ai.api_key_file = optarg;
			break;
		case 't':
			ctx.ai.timeout_s = atol(optarg);
			break;
		case 'D':
			no_daemon = true;
			break;
		case 'S':
			socket_path = optarg;
			break;
		case 'P':
			ctx.progress = stderr;
			break;
		default:
			return 1;
		}
	}
	if (argc - optind != 2)
		return 1;
	if (socket_path) {
		struct analyzer_opts ao = { .socket = socket_path };

		if (analyzer_open(&an, &ao, 5000) < 0) {
			fprintf(stderr, "ai_driver: %s\n", an.error);
			json_object_put(args);
			return 2;
		}
		ctx.an = &an;
		ctx.tools = tool_registry;
	}
	insights = strcmp(argv[optind], "insights") == 0;
	json_object_object_add(args, insights ? "summary_text" : "query",
			       json_object_new_string(argv[optind + 1]));
	r = run_one(&ctx, insights, args, json);
	if (!r && followup) {
		json_object_object_add(args, "query", json_object_new_string(followup));
		r = run_one(&ctx, false, args, json);
	}
	ai_session_free(&ctx);
	if (socket_path)
		analyzer_close(&an);
	json_object_put(args);
	return r;
}
