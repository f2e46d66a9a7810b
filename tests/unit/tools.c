/* The tool registry: every data tool's result validates against its own output schema (over a
 * synthetic store, with and without filters), schema_validate rejects bad arguments with clear
 * messages, and command-line words become the right JSON arguments. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "ai/ai.h"
#include "core/analyzer.h"
#include "check.h"
#include "frontends/cliargs.h"
#include "tools/context.h"
#include "tools/data.h"
#include "synth.h"
#include "tools/tool.h"

static const char *const expected_order[] = {
	"get_network_summary", "list_connections", "get_packet_drop_summary", "list_packet_drops",
	"analyze_patterns",    "get_dns_summary",  "list_dns_queries",	      "find_anomalies",
	"ai_insights",	       "contextual_analysis", "get_tcp_quality", NULL,
};

static void test_registry(void)
{
	size_t i;

	for (i = 0; tool_registry[i]; i++)
		CHECK(expected_order[i] && !strcmp(tool_registry[i]->name, expected_order[i]),
		      "registry[%zu] is %s", i, expected_order[i] ? expected_order[i] : "(end)");
	CHECK(i == 11, "eleven tools");
	CHECK(tool_find("summary") == tool_registry[0] &&
		  tool_find("list_connections") == tool_registry[1] &&
		  tool_find("contextual") == tool_registry[9] &&
		  tool_find("ask") == tool_registry[9] && tool_find("dns") == tool_registry[5] &&
		  tool_find("list-dns") == tool_registry[6] &&
		  tool_find("anomalies") == tool_registry[7] && !tool_find("nosuch"),
	      "tool_find by command, name and alias");
	for (i = 0; tool_registry[i]; i++) {
		json_object *in = json_tokener_parse(tool_registry[i]->input_schema);
		json_object *out = json_tokener_parse(tool_registry[i]->output_schema);

		CHECK(in && out, "%s: both schemas are valid JSON", tool_registry[i]->name);
		json_object_put(in);
		json_object_put(out);
	}
}

/* Runs a tool with args (JSON text) and checks the result against its output schema. */
static json_object *run_valid(struct tool_context *ctx, const struct tool *t, const char *args)
{
	json_object *a = json_tokener_parse(args), *res = NULL;
	char *err = NULL, *why = NULL;
	int r = tool_invoke(t, ctx, a, &res, &err);

	CHECK(r == 0, "%s %s runs (%s)", t->name, args, err ? err : "ok");
	if (!res)
		why = strdup("no result");
	else
		schema_validate(t->output_schema, res, &why);
	CHECK(!why, "%s %s: output validates against its outputSchema%s%s", t->name, args,
	      why ? ": " : "", why ? why : "");
	free(why);
	free(err);
	json_object_put(a);
	return res;
}

static int64_t get_int(json_object *o, const char *path)
{
	json_object *v = o;
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(v, json_type_array)) { /* "findings.1.kind" */
			v = json_object_array_get_idx(v, (size_t)atoi(k));
			continue;
		}
		if (!json_object_object_get_ex(v, k, &v))
			return -1;
	}
	return v ? json_object_get_int64(v) : -1;
}

/* Like synth_scenario but inside the tools' default window (the last 60 seconds): curl makes 3
 * refused TCP connects and 2 UDP sends, dig 4 UDP sends to 10.0.0.53:53; 2 NO_SOCKET drops, one
 * attributed to curl. */
static void fill_recent(struct store *s)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * SEC - 30 * SEC;
	/* curl looks up www.example.com (CNAME to edge.example.net, A 10.0.0.3) before its UDP
	 * sends to 10.0.0.3, and nx.example (NXDOMAIN). */
	synth_lookup(s, now + 2, 100, "curl", 40000, 1, "www.example.com", "edge.example.net",
		     (const uint8_t[]){ 10, 0, 0, 3 }, 0, 1, 300);
	synth_lookup(s, now + 3, 100, "curl", 40001, 2, "nx.example", NULL, NULL, 3, 1, 0);
	for (int k = 0; k < 3; k++) {
		synth_connect(s, now + k, 100, "curl", 6, 1, 1, 1 + k, 0);
		synth_outcome(s, now + k, 1 + k, 2, 0);
	}
	for (int k = 0; k < 2; k++)
		synth_connect(s, now + 5 + k, 100, "curl", 17, 3, 9, 0, 0);
	for (int k = 0; k < 4; k++)
		synth_connect(s, now + 9 + k, 200, "dig", 17, 53, 53, 0, 0);
	synth_drop(s, now + 20, "NO_SOCKET", 100, "curl", 17, 9);
	synth_drop(s, now + 21, "NO_SOCKET", 0, NULL, 17, 9);
}

static void test_outputs(void)
{
	static const char *const arg_sets[] = { "{}", "{\"process_name\":\"curl\"}",
						"{\"pid\":200,\"duration\":86400}",
						"{\"process_name\":\"nosuch\",\"max_events\":1}" };
	struct analyzer an;
	struct analyzer_opts o = { .capacity = 1024, .cgroup_root = "/nonexistent" };
	struct tool_context ctx = { .an = &an, .tools = tool_registry, .analyst = &ai_analyst };
	json_object *r;

	analyzer_init(&an, &o);
	for (int round = 0; round < 2; round++) {
		for (size_t t = 0; t < 7; t++)
			for (size_t i = 0; i < sizeof(arg_sets) / sizeof(arg_sets[0]); i++) {
				json_object *a = json_tokener_parse(arg_sets[i]);

				/* max_events belongs to the list tools only */
				if (!strstr(tool_registry[t]->input_schema, "max_events"))
					json_object_object_del(a, "max_events");
				json_object_put(run_valid(&ctx, tool_registry[t],
							  json_object_to_json_string(a)));
				json_object_put(a);
			}
		if (round == 0)
			fill_recent(&an.store);
	}
	r = run_valid(&ctx, tool_registry[0], "{\"process_name\":\"curl\"}");
	CHECK(get_int(r, "total_connections") == 5 && get_int(r, "failed_connections") == 3 &&
		  get_int(r, "by_protocol.TCP") == 3 && get_int(r, "by_protocol.UDP") == 2,
	      "summary of curl: 5 total, 3 failed, TCP 3, UDP 2");
	json_object_put(r);
	r = run_valid(&ctx, tool_registry[1], "{\"max_events\":2}");
	CHECK(get_int(r, "total_matching") == 9 && get_int(r, "returned") == 2 &&
		  json_object_array_length(json_object_object_get(r, "events")) == 2,
	      "list: 9 matching, max_events 2 returned");
	json_object_put(r);
	r = run_valid(&ctx, tool_registry[1],
		      "{\"process_name\":\"curl\",\"protocol\":\"udp\",\"max_events\":1}");
	{
		json_object *ev = json_object_array_get_idx(json_object_object_get(r, "events"), 0);

		const char *name =
		    json_object_get_string(json_object_object_get(ev, "destination_name"));

		CHECK(name && !strcmp(name, "www.example.com"),
		      "list: the UDP send to 10.0.0.3 is www.example.com");
	}
	json_object_put(r);
	r = run_valid(&ctx, tool_registry[1], "{\"dest\":\"example.com\",\"protocol\":\"udp\"}");
	CHECK(get_int(r, "total_matching") == 2, "list --dest example.com --protocol udp: 2");
	json_object_put(r);
	r = run_valid(&ctx, tool_registry[5], "{}");
	CHECK(get_int(r, "total_queries") == 2 && get_int(r, "failed_queries") == 1 &&
		  get_int(r, "by_rcode.NXDOMAIN") == 1 && get_int(r, "unanswered_queries") == 0,
	      "dns: 2 queries, 1 failed (NXDOMAIN)");
	json_object_put(r);
	r = run_valid(&ctx, tool_registry[6], "{\"name\":\"example.com\"}");
	{
		json_object *q = json_object_array_get_idx(json_object_object_get(r, "queries"), 0);

		const char *rc = json_object_get_string(json_object_object_get(q, "rcode"));

		CHECK(get_int(r, "total_matching") == 1 && rc && !strcmp(rc, "NOERROR") &&
			  json_object_array_length(json_object_object_get(q, "answers")) == 2 &&
			  get_int(q, "pid") == 100,
		      "list-dns --name example.com: www.example.com, NOERROR, 2 answers, pid 100");
	}
	json_object_put(r);
	r = run_valid(&ctx, tool_registry[2], "{}");
	CHECK(get_int(r, "total_drops") == 2 && get_int(r, "by_reason.NO_SOCKET") == 2 &&
		  get_int(r, "unattributed") == 1,
	      "drops: 2 NO_SOCKET, 1 unattributed");
	json_object_put(r);
	r = run_valid(&ctx, tool_registry[4], "{}");
	CHECK(get_int(r, "total_connections") == 9 &&
		  !strcmp(json_object_get_string(json_object_object_get(
			      json_object_array_get_idx(
				  json_object_object_get(r, "top_destinations"), 0),
			      "destination")),
			  "10.0.0.53:53"),
	      "analyze: top destination 10.0.0.53:53");
	json_object_put(r);
	ctx.an = NULL;
	{
		json_object *res = NULL;
		char *err = NULL;

		CHECK(tool_invoke(tool_registry[0], &ctx, NULL, &res, &err) == -ENOTCONN && err,
		      "without a daemon connection: -ENOTCONN and a message");
		free(err);
	}
	analyzer_close(&an);
}

static void expect_invalid(const char *schema, const char *value, const char *want)
{
	json_object *v = json_tokener_parse(value);
	char *why = NULL;

	schema_validate(schema, v, &why);
	CHECK(why && strstr(why, want), "%s is rejected: \"%s\" (want \"%s\")", value,
	      why ? why : "accepted", want);
	free(why);
	json_object_put(v);
}

static void test_schema(void)
{
	const char *in = tool_find("summary")->input_schema;
	const char *ask = tool_find("ask")->input_schema;
	json_object *v = json_tokener_parse("{\"pid\":5,\"duration\":10.0}");
	char *why = NULL;

	schema_validate(in, v, &why);
	CHECK(!why, "valid arguments pass (integral 10.0 counts as an integer)");
	free(why);
	json_object_put(v);
	expect_invalid(in, "{\"pid\":\"abc\"}", "'pid' must be an integer, not string");
	expect_invalid(in, "{\"pid\":0}", "'pid' must be at least 1");
	expect_invalid(in, "{\"duration\":1.5}", "'duration' must be an integer");
	expect_invalid(in, "{\"duration\":3000000}", "'duration' must be at most 2678400");
	expect_invalid(in, "{\"foo\":1}", "unknown argument 'foo' (expected one of: pid");
	expect_invalid(in, "{\"process_name\":\"\"}", "'process_name' must not be empty");
	expect_invalid(in, "[]", "the value must be an object, not array");
	expect_invalid(ask, "{}", "'query' is required");
	expect_invalid("{\"type\":[\"string\",\"null\"]}", "1", "must be string or null");
	expect_invalid("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", "1",
		       "must be string or null, not integer");
	expect_invalid("{\"anyOf\":[{\"type\":\"integer\",\"minimum\":1},{\"type\":\"null\"}]}",
		       "0", "must be at least 1");
	expect_invalid("{\"enum\":[\"a\",\"b\"]}", "\"c\"", "must be one of: \"a\", \"b\"");
	expect_invalid("{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"x\"]}}",
		       "[{\"x\":1},{}]", "'[1]' is missing 'x'");
	expect_invalid("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
		       "{\"a\":\"b\"}", "'a' must be an integer");
	expect_invalid("{\"type\":\"string\",\"maxLength\":2}", "\"abc\"", "at most 2 characters");
}

static void expect_args(const char *command, int argc, char **argv, const char *want)
{
	json_object *args = NULL, *w = json_tokener_parse(want);
	char *err = NULL;
	int r = tool_args_from_argv(tool_find(command), argc, argv, &args, &err);

	CHECK(r == 0 && json_object_equal(args, w), "%s %s -> %s (got %s)", command, argv[0], want,
	      r ? err : json_object_to_json_string(args));
	free(err);
	json_object_put(args);
	json_object_put(w);
}

static void expect_args_error(const char *command, int argc, char **argv, const char *want)
{
	json_object *args = NULL;
	char *err = NULL;
	int r = tool_args_from_argv(tool_find(command), argc, argv, &args, &err);

	CHECK(r == -EINVAL && err && strstr(err, want), "%s %s fails: \"%s\"", command, argv[0],
	      err ? err : "accepted");
	free(err);
	json_object_put(args);
}

static void test_cliargs(void)
{
	char *a1[] = { "--pid", "1234", "--duration", "120", "--process", "curl" };
	char *a2[] = { "--max-events=20", "--unit", "nginx.service" };
	char *a3[] = { "curl", "made", "5 connections" };
	char *a4[] = { "--pid", "5", "what", "is", "curl", "doing?" };
	char *a5[] = { "--query", "hi there" };
	char *a6[] = { "--summary-text", "text" };
	char *e1[] = { "--bogus", "1" };
	char *e2[] = { "--pid", "abc" };
	char *e3[] = { "stray" };
	char *e4[] = { "--duration" };

	expect_args("summary", 6, a1, "{\"pid\":1234,\"duration\":120,\"process_name\":\"curl\"}");
	expect_args("list", 3, a2, "{\"max_events\":20,\"unit\":\"nginx.service\"}");
	expect_args("insights", 3, a3, "{\"summary_text\":\"curl made 5 connections\"}");
	expect_args("ask", 6, a4, "{\"pid\":5,\"query\":\"what is curl doing?\"}");
	expect_args("contextual_analysis", 2, a5, "{\"query\":\"hi there\"}");
	expect_args("ai_insights", 2, a6, "{\"summary_text\":\"text\"}");
	expect_args_error("summary", 2, e1,
			  "unknown option '--bogus' for summary (its options: "
			  "--pid, --process, --duration, --since, --until, --unit, --dest, --port, "
			  "--protocol, --direction, --outcome)");
	expect_args_error("summary", 2, e2, "--pid needs a whole number, not 'abc'");
	expect_args_error("analyze", 1, e3, "analyze takes no argument 'stray'");
	expect_args_error("list", 1, e4, "--duration needs a value");
}

/* Inbound and outbound connections with their ends, retransmits and resets: the lifecycle
 * fields of list_connections and summary, the filters, and get_tcp_quality's counts. */
static void test_lifecycle(void)
{
	struct analyzer an;
	struct analyzer_opts o = { .capacity = 1024, .cgroup_root = "/nonexistent" };
	struct tool_context ctx = { .an = &an, .tools = tool_registry };
	const struct tool *quality = tool_find("quality"), *list = tool_find("list");
	uint64_t now = (uint64_t)time(NULL) * SEC;
	json_object *r, *e;

	analyzer_init(&an, &o);
	an.store.resolve_procs = false;
	/* srv accepts 2 connections on port 80; one ends closed after 3 retransmits, one reset by
	 * the server as it closes. cli connects out, and the peer resets it. */
	synth_accept(&an.store, now - 5 * SEC, 300, "srv", 900, 80, 9, 5555);
	synth_signal(&an.store, now - 4 * SEC, false, false, 300, "srv", 900, 9, 5555, 2);
	synth_signal(&an.store, now - 4 * SEC, false, false, 300, "srv", 900, 9, 5555, 1);
	synth_end(&an.store, now - 3 * SEC, 900, 1, 1000, 2000, 3, 30, 1500, 2000);
	synth_accept(&an.store, now - 5 * SEC, 300, "srv", 902, 80, 8, 6666);
	synth_end(&an.store, now - 3 * SEC, 902, 1, 10, 20, 0, 10, 500, 10);
	synth_signal(&an.store, now - 3 * SEC, true, false, 300, "srv", 902, 8, 6666, 0);
	synth_connect(&an.store, now - 5 * SEC, 301, "cli", 6, 7, 443, 901, 0);
	synth_outcome(&an.store, now - 5 * SEC, 901, 1, 1000000);
	synth_signal(&an.store, now - 2 * SEC, true, true, 301, "cli", 901, 7, 443, 0);
	synth_end(&an.store, now - 2 * SEC, 901, 3, 5, 6, 0, 10, 3000, 3000);
	synth_connect(&an.store, now - 1 * SEC, 301, "cli", 6, 7, 443, 903, 0);
	synth_outcome(&an.store, now - 1 * SEC, 903, 1, 1000000);

	r = run_valid(&ctx, list, "{\"direction\":\"in\"}");
	CHECK(get_int(r, "total_matching") == 2, "list --direction in: the 2 accepted connections");
	e = json_object_array_get_idx(json_object_object_get(r, "events"), 1);
	CHECK(e && !strcmp(json_object_get_string(json_object_object_get(e, "direction")),
			   "inbound") &&
		  !strcmp(json_object_get_string(json_object_object_get(e, "source_ip")),
			  "10.0.0.9") &&
		  get_int(e, "source_port") == 5555 && get_int(e, "destination_port") == 80 &&
		  get_int(e, "bytes_sent") == 1000 && get_int(e, "bytes_received") == 2000 &&
		  get_int(e, "retransmits") == 3 && get_int(e, "duration_ms") == 2000 &&
		  !strcmp(json_object_get_string(json_object_object_get(e, "end")), "closed"),
	      "inbound: peer, local port, bytes, retransmits, duration, end");
	e = json_object_array_get_idx(json_object_object_get(r, "events"), 0);
	CHECK(e && !strcmp(json_object_get_string(json_object_object_get(e, "end")), "reset_sent"),
	      "a reset sent as the socket closed: end reset_sent");
	json_object_put(r);
	r = run_valid(&ctx, list, "{\"direction\":\"out\",\"port\":443}");
	CHECK(get_int(r, "total_matching") == 2, "list --direction out --port 443: 2");
	e = json_object_array_get_idx(json_object_object_get(r, "events"), 0);
	CHECK(e && !strcmp(json_object_get_string(json_object_object_get(e, "end")), "open") &&
		  !json_object_object_get_ex(e, "bytes_sent", NULL),
	      "a connection still open: end open, no totals");
	e = json_object_array_get_idx(json_object_object_get(r, "events"), 1);
	CHECK(e && !strcmp(json_object_get_string(json_object_object_get(e, "end")),
			   "reset_received"),
	      "outbound reset by the peer: end reset_received");
	json_object_put(r);
	r = run_valid(&ctx, list, "{\"port\":80,\"outcome\":\"refused\"}");
	CHECK(get_int(r, "total_matching") == 0, "--outcome refused: none");
	json_object_put(r);

	r = run_valid(&ctx, quality, "{}");
	CHECK(get_int(r, "retransmits") == 3 && get_int(r, "resets_sent") == 1 &&
		  get_int(r, "resets_received") == 1 && get_int(r, "connections_ended") == 3 &&
		  get_int(r, "connections_open") == 1,
	      "quality: 3 retransmitted segments, 1 reset each way, 3 ended, 1 open");
	CHECK(fabs(json_object_get_double(json_object_object_get(r, "retransmit_rate")) -
		   3.0 / 50) < 1e-4,
	      "quality: retransmit_rate = 3 / 50 segments");
	CHECK(get_int(r, "rtt_ms.count") == 3 &&
		  fabs(json_object_get_double(json_object_object_get(
			   json_object_object_get(r, "rtt_ms"), "p50")) -
		       1.5) < 1e-6,
	      "quality: RTT p50 1.5 ms of 3");
	e = json_object_array_get_idx(json_object_object_get(r, "worst_destinations"), 0);
	CHECK(e && !strcmp(json_object_get_string(json_object_object_get(e, "destination")),
			   "10.0.0.9:5555") &&
		  get_int(e, "retransmits") == 3,
	      "quality: worst destination 10.0.0.9:5555 with 3 retransmits");
	e = json_object_array_get_idx(json_object_object_get(r, "processes"), 0);
	CHECK(e && !strcmp(json_object_get_string(json_object_object_get(e, "process")), "srv"),
	      "quality: srv first among processes");
	json_object_put(r);
	r = run_valid(&ctx, quality, "{\"process_name\":\"cli\"}");
	CHECK(get_int(r, "retransmits") == 0 && get_int(r, "resets_received") == 1 &&
		  get_int(r, "resets_sent") == 0,
	      "quality --process cli: the reset it received");
	json_object_put(r);
	r = run_valid(&ctx, tool_registry[0], "{}");
	CHECK(get_int(r, "by_direction.inbound") == 2 && get_int(r, "by_direction.outbound") == 2 &&
		  get_int(r, "by_end.open") == 1 && get_int(r, "by_end.reset_sent") == 1 &&
		  get_int(r, "bytes_sent") == 1015 && get_int(r, "retransmits") == 3,
	      "summary: by direction, by end, bytes and retransmits");
	json_object_put(r);
	analyzer_close(&an);
}

/* find_anomalies over synthetic events: each kind finds what the window made new, and nothing for
 * what the baseline already had. */
static void test_anomalies(void)
{
	struct analyzer an;
	struct analyzer_opts o = { .capacity = 1024, .cgroup_root = "/nonexistent" };
	struct tool_context ctx = { .an = &an, .tools = tool_registry };
	const struct tool *t = tool_find("anomalies");
	uint64_t now = (uint64_t)time(NULL) * SEC;
	uint8_t a4[4] = { 10, 0, 0, 20 };
	char seen[1024] = "";
	json_object *r, *list;

	setenv("NETSPY_HISTORY", "/nonexistent/history.db", 1);
	analyzer_init(&an, &o);
	an.store.resolve_procs = false;
	/* The baseline, 100 to 30 s ago. */
	for (int i = 0; i < 2; i++) {
		synth_accept(&an.store, now - (100 - i) * SEC, 300, "srv", 500 + i, 80, 9, 5000 + i);
		synth_connect(&an.store, now - (90 - i) * SEC, 301, "cli", 6, 7, 443, 600 + i, 0);
		synth_outcome(&an.store, now - (90 - i) * SEC, 600 + i, 1, 1000000);
		synth_lookup(&an.store, now - (80 - i) * SEC, 302, "dnsapp", 4000 + i, 70 + i,
			     "ok.test", NULL, a4, 0, 1000000, 60);
	}
	synth_signal(&an.store, now - 50 * SEC, false, false, 303, "rtx", 700, 9, 22, 1);
	/* The window, the last 10 s: srv accepts on 80 and on a new port, cli connects to its old
	 * destination and a new one, dnsapp's lookups fail, rtx retransmits 12 segments. */
	synth_accept(&an.store, now - 8 * SEC, 300, "srv", 510, 80, 9, 5010);
	synth_accept(&an.store, now - 7 * SEC, 300, "srv", 511, 8080, 9, 5011);
	synth_accept(&an.store, now - 6 * SEC, 300, "srv", 512, 8080, 8, 5012);
	synth_connect(&an.store, now - 8 * SEC, 301, "cli", 6, 7, 443, 610, 0);
	synth_outcome(&an.store, now - 8 * SEC, 610, 1, 1000000);
	synth_connect(&an.store, now - 7 * SEC, 301, "cli", 6, 8, 443, 611, 0);
	synth_outcome(&an.store, now - 7 * SEC, 611, 1, 1000000);
	for (int i = 0; i < 3; i++)
		synth_lookup(&an.store, now - (6 - i) * SEC, 302, "dnsapp", 4010 + i, 80 + i,
			     "bad.test", NULL, NULL, 3, 1000000, 60);
	for (int i = 0; i < 6; i++)
		synth_signal(&an.store, now - (9 - i) * SEC, false, false, 303, "rtx", 701, 9, 22, 2);

	r = run_valid(&ctx, t, "{\"duration\":10}");
	list = json_object_object_get(r, "findings");
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *f = json_object_array_get_idx(list, i), *v;

		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s %s", i ? "; " : "",
			 json_object_get_string(json_object_object_get(f, "kind")),
			 json_object_get_string(json_object_object_get(f, "process")));
		if (json_object_object_get_ex(f, "destination", &v) ||
		    json_object_object_get_ex(f, "port", &v) || json_object_object_get_ex(f, "name", &v))
			snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), " %s",
				 json_object_get_string(v));
	}
	CHECK(!strcmp(seen, "new_destination cli 10.0.0.8:443; new_listening_port srv 8080; "
			    "retransmit_spike rtx 10.0.0.9:22; dns_failure_burst dnsapp bad.test"),
	      "anomalies: one finding per kind for what the window made new (%s)", seen);
	CHECK(get_int(r, "findings.1.evidence.recent_connections") == 2 &&
		  get_int(r, "findings.1.evidence.process_baseline_connections") == 2 &&
		  get_int(r, "findings.2.evidence.recent_retransmits") == 12 &&
		  get_int(r, "findings.2.evidence.baseline_retransmits") == 1 &&
		  get_int(r, "findings.3.evidence.recent_failed") == 3 &&
		  get_int(r, "findings.3.evidence.baseline_lookups") == 2 &&
		  !strcmp(json_object_get_string(json_object_object_get(
			      json_object_array_get_idx(list, 3), "rcode")),
			  "NXDOMAIN"),
	      "anomalies: the evidence numbers, and the failed lookups' rcode");
	CHECK(!strcmp(json_object_get_string(json_object_object_get(
			  json_object_object_get(r, "baseline"), "source")),
		      "live"),
	      "anomalies: without a history the baseline is netspyd's earlier events");
	json_object_put(r);
	analyzer_close(&an);
}

/* Retransmits and resets folded during a flood count as their count everywhere quality looks:
 * the totals, the worst destinations and the processes. */
static void test_folded_signals(void)
{
	struct analyzer an;
	struct analyzer_opts o = { .capacity = 1024, .cgroup_root = "/nonexistent" };
	struct tool_context ctx = { .an = &an, .tools = tool_registry };
	const struct tool *quality = tool_find("quality");
	uint64_t now = (uint64_t)time(NULL) * SEC;
	json_object *r, *e;

	analyzer_init(&an, &o);
	an.store.resolve_procs = false;
	/* 12,000 retransmissions of 2 segments folded, 1 of 3 on its own; 300 resets received
	 * folded, 1 sent on its own. */
	synth_signal_n(&an.store, now - 4 * SEC, false, false, 400, "bulk", 700, 5, 8080, 2, 12000);
	synth_signal_n(&an.store, now - 4 * SEC, false, false, 400, "bulk", 700, 5, 8080, 3, 0);
	synth_signal_n(&an.store, now - 3 * SEC, true, true, 401, "retry", 701, 6, 9, 0, 300);
	synth_signal_n(&an.store, now - 3 * SEC, true, false, 401, "retry", 702, 6, 9, 0, 1);
	r = run_valid(&ctx, quality, "{}");
	CHECK(get_int(r, "retransmits") == 24003 && get_int(r, "resets_received") == 300 &&
		  get_int(r, "resets_sent") == 1,
	      "quality: folded records count as count x segments and count (24003, 300, 1)");
	e = json_object_array_get_idx(json_object_object_get(r, "worst_destinations"), 0);
	CHECK(e && get_int(e, "retransmits") == 24003, "quality: worst destination's 24003");
	e = json_object_array_get_idx(json_object_object_get(r, "processes"), 1);
	CHECK(e && !strcmp(json_object_get_string(json_object_object_get(e, "process")), "retry") &&
		  get_int(e, "resets_received") == 300 && get_int(e, "resets_sent") == 1,
	      "quality: the process's 300 resets received and 1 sent");
	json_object_put(r);
	analyzer_close(&an);
}

/* The printers of arrays as aligned rows: a top list without its failed column (a unit in the
 * singular for a count of 1) and with it (the name a destination was looked up by), a section
 * with a row function of its own, and nothing for an empty or missing list. */
static void section_row(struct text_rows *t, size_t i, json_object *e, const void *arg)
{
	text_rows_set(t, i, 0, "%s%s", (const char *)arg, json_str(e, "name", "?"));
	text_rows_set(t, i, 1, "#%zu", i);
}

static void test_text_arrays(void)
{
	json_object *names = json_tokener_parse("[{\"name\":\"a.test\",\"count\":1},"
						"{\"name\":\"bb.test\",\"count\":12}]");
	json_object *dests = json_tokener_parse(
	    "[{\"destination\":\"10.0.0.1:443\",\"destination_name\":\"example.com\","
	    "\"count\":2,\"failed\":1},{\"destination\":\"[::1]:53\",\"count\":1,\"failed\":0}]");
	json_object *empty = json_object_new_array();
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	text_top(f, "top names", names, "name", "queries");
	text_top(f, "top destinations", dests, "destination", "connections");
	text_top(f, "none", empty, "name", "queries");
	text_top(f, "missing", NULL, "name", "queries");
	text_section(f, "names", names, 2, section_row, "name ");
	text_section(f, "none", empty, 2, section_row, "");
	fclose(f);
	CHECK(out && !strcmp(out, "  top names:\n"
				  "    a.test  | 1 query\n"
				  "    bb.test | 12 queries\n"
				  "  top destinations:\n"
				  "    example.com (10.0.0.1):443 | 2 connections | 1 failed\n"
				  "    [::1]:53                   | 1 connection  | 0 failed\n"
				  "  names:\n"
				  "    name a.test  | #0\n"
				  "    name bb.test | #1\n"),
	      "arrays print as aligned rows:\n%s", out ? out : "");
	free(out);
	json_object_put(names);
	json_object_put(dests);
	json_object_put(empty);
}

int main(void)
{
	test_registry();
	test_outputs();
	test_schema();
	test_cliargs();
	test_lifecycle();
	test_folded_signals();
	test_anomalies();
	test_text_arrays();
	return CHECK_DONE();
}
