/* The analyzer's event store at 1,000,000 events: how long summary and analyze take (store level
 * and through the tools, JSON included), against a plain linear pass over the same records
 * measured in the same run, and the memory per stored event.
 *
 *   bench_store [EVENTS]    (default 1000000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ai/ai.h"
#include "core/analyzer.h"
#include "tools/context.h"
#include "tools/tool.h"

#define RUNS 9

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

typedef void (*bench_fn)(void *arg);

static double median_ms(bench_fn fn, void *arg)
{
	double t[RUNS];

	for (int i = 0; i < RUNS; i++) {
		double t0 = clock_sec(CLOCK_MONOTONIC) * 1e3;

		fn(arg);
		t[i] = clock_sec(CLOCK_MONOTONIC) * 1e3 - t0;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

/* A realistic mix: 200 process names, 500 pids, 5000 destinations, a third TCP (90% established
 * with latencies, 10% refused), the rest UDP; all within the last ten minutes. */
static void fill(struct store *s, size_t n)
{
	struct timespec ts;
	uint64_t start;

	clock_gettime(CLOCK_REALTIME, &ts);
	start = (uint64_t)ts.tv_sec * 1000000000ull - 600ull * 1000000000ull;
	for (size_t i = 0; i < n; i++) {
		Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
		Netspy__V1__Connect c = NETSPY__V1__CONNECT__INIT;
		Netspy__V1__TcpOutcome o = NETSPY__V1__TCP_OUTCOME__INIT;
		uint8_t dst[4] = { 10, (uint8_t)(i % 5000 / 250), (uint8_t)(i % 250), 1 };
		char comm[16];

		snprintf(comm, sizeof(comm), "proc%zu", i % 200);
		c.pid = (uint32_t)(i % 500 + 1);
		c.comm.data = (uint8_t *)comm;
		c.comm.len = strlen(comm);
		c.ip_proto = i % 3 ? 17 : 6;
		c.family = 2;
		c.dst_addr.data = dst;
		c.dst_addr.len = 4;
		c.dst_port = i % 3 ? 53 : 443;
		c.cookie = i + 1;
		ev.timestamp_ns = start + i * 500;
		ev.kind_case = NETSPY__V1__EVENT__KIND_CONNECT;
		ev.connect = &c;
		store_add(s, &ev);
		if (c.ip_proto != 6)
			continue;
		o.cookie = i + 1;
		o.outcome = i % 10 == 0 ? 2 : 1;
		o.latency_ns = 20000 + (i * 7919) % 500000;
		ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_OUTCOME;
		ev.tcp_outcome = &o;
		store_add(s, &ev);
	}
}

static volatile uint64_t sink;

/* Baseline: the cheapest useful pass, counting TCP records. */
static void linear_pass(void *arg)
{
	struct store *s = arg;
	uint64_t n = 0;

	for (uint64_t i = s->conns.head - s->conns.count; i < s->conns.head; i++)
		n += store_conn_at(s, i)->proto == 6;
	sink = n;
}

static void store_summary(void *arg)
{
	struct store_filter f = { 0 };
	struct store_conn_stats st;

	store_conn_stats(arg, &f, 0, &st);
	sink = st.total;
}

static void store_analyze(void *arg)
{
	struct store_filter f = { 0 };
	struct store_conn_stats st;

	store_conn_stats(arg, &f, STORE_STATS_DETAIL, &st);
	sink = st.total;
}

struct tool_run {
	struct tool_context *ctx;
	const char *name;
};

static void run_tool(void *arg)
{
	struct tool_run *tr = arg;
	json_object *args = json_tokener_parse("{\"duration\":3600}"), *res = NULL;
	char *err = NULL;

	if (tool_invoke(tool_find(tr->name), tr->ctx, args, &res, &err) < 0)
		fprintf(stderr, "bench_store: %s: %s\n", tr->name, err);
	free(err);
	json_object_put(res);
	json_object_put(args);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	struct analyzer_opts o = { .capacity = n, .cgroup_root = "/nonexistent" };
	struct analyzer an;
	struct tool_context ctx = { .an = &an, .tools = tool_registry, .analyst = &ai_analyst };
	struct tool_run ts = { &ctx, "get_network_summary" }, ta = { &ctx, "analyze_patterns" };
	double t0, base, r;

	if (analyzer_init(&an, &o) < 0)
		return 1;
	t0 = clock_sec(CLOCK_MONOTONIC) * 1e3;
	fill(&an.store, n);
	printf(
	    "bench_store: %zu events stored in %.0f ms, %.1f bytes per event (store memory %zu)\n",
	    store_count(&an.store), clock_sec(CLOCK_MONOTONIC) * 1e3 - t0,
	    (double)store_memory(&an.store) / (double)store_count(&an.store),
	    store_memory(&an.store));
	base = median_ms(linear_pass, &an.store);
	printf("%-34s %8.2f ms  (baseline, median of %d)\n", "linear pass over the records", base,
	       RUNS);
	r = median_ms(store_summary, &an.store);
	printf("%-34s %8.2f ms  %5.1fx baseline\n", "summary (store_conn_stats)", r, r / base);
	r = median_ms(store_analyze, &an.store);
	printf("%-34s %8.2f ms  %5.1fx baseline\n", "analyze (store_conn_stats detail)", r,
	       r / base);
	r = median_ms(run_tool, &ts);
	printf("%-34s %8.2f ms  %5.1fx baseline\n", "get_network_summary tool + JSON", r, r / base);
	r = median_ms(run_tool, &ta);
	printf("%-34s %8.2f ms  %5.1fx baseline\n", "analyze_patterns tool + JSON", r, r / base);
	analyzer_close(&an);
	return 0;
}
