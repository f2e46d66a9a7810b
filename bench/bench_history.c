/* The history database at the key cap: fills a database with synthetic minutes (every minute at
 * --max-keys distinct connection keys, through the recorder's own rollup and write path, with
 * the default bounds), then times the window summaries tools run from it.
 *
 *   bench_history DIR [DAYS] [KEYS]   (defaults: 7 days, 1000 keys)
 *
 * Prints key=value lines: write_ms_per_minute, bytes_per_minute, then for the 1-day and 7-day
 * windows the median of 7 runs of a connection summary plus a drop summary (day_ms, week_ms),
 * first as get_network_summary asks (totals, processes, latency), then as analyze_patterns asks
 * (destinations too), with the connections behind them and the granularity used.
 * `bench_history DIR query` times the queries of a database filled before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "core/history.h"
#include "core/rollup.h"

#define RUNS 7

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A minute at the cap: KEYS connection keys (processes from a pool of 200, units of 50,
 * destinations of 20000 that drift from minute to minute), latency for the established ones,
 * and 100 drop keys. */
static void fill(struct rollup *r, uint64_t minute, unsigned keys)
{
	for (unsigned k = 0; k < keys; k++) {
		struct rollup_conn c = { .protocol = k % 3 ? 6 : 17,
					 .outcome = (uint8_t)(k % 3 ? (k % 7 ? 1 : 2) : 8),
					 .latency_us = 200 + (k * 37) % 90000 };
		unsigned dst = (unsigned)((k * 7919 + minute * 13) % 20000);

		c.failed = c.outcome == 2;
		snprintf(c.process, sizeof(c.process), "proc%u", k % 200);
		snprintf(c.unit, sizeof(c.unit), "unit%u.service", k % 50);
		snprintf(c.destination, sizeof(c.destination), "10.%u.%u.%u:%u", dst / 4000,
			 (dst / 200) % 20, dst % 200, 443 + k % 3);
		for (unsigned n = 1 + k % 4; n--;)
			rollup_add_conn(r, &c);
	}
	for (unsigned k = 0; k < 100; k++) {
		struct rollup_drop d = { .protocol = k % 2 ? 6 : 17, .attributed = k % 3 != 0 };
		char unit[32];

		snprintf(d.reason, sizeof(d.reason), "REASON_%u", k % 12);
		snprintf(d.process, sizeof(d.process), "proc%u", k % 200);
		snprintf(unit, sizeof(unit), "unit%u.service", k % 50);
		rollup_add_drop(r, &d, unit);
	}
}

static double query_ms(struct history *h, uint64_t since, uint64_t until, bool detail,
		       uint64_t *rows, unsigned *gran)
{
	double v[RUNS];

	for (int i = 0; i < RUNS; i++) {
		struct history_conn_stats cs;
		struct history_drop_stats ds;
		char *err = NULL;
		uint64_t t0 = clock_ns(CLOCK_MONOTONIC);

		if (history_conn_stats(h, &(struct history_query){ since, until, .detail = detail },
				       &cs, &err) < 0 ||
		    history_drop_stats(h, &(struct history_query){ since, until }, &ds, &err) < 0) {
			fprintf(stderr, "bench_history: %s\n", err ? err : "query failed");
			exit(1);
		}
		history_tops_sort(&cs.processes);
		history_tops_sort(&cs.destinations);
		history_percentile_ms(cs.buckets, 0.99);
		v[i] = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;
		*rows = cs.total;
		*gran = cs.granularity;
		history_conn_stats_free(&cs);
		history_drop_stats_free(&ds);
	}
	qsort(v, RUNS, sizeof(v[0]), cmp_d);
	return v[RUNS / 2];
}

int main(int argc, char **argv)
{
	unsigned days = argc > 2 ? (unsigned)atoi(argv[2]) : 7,
		 keys = argc > 3 ? (unsigned)atoi(argv[3]) : 1000;
	struct history_rw_opts o = { .retention_days = 7,
				     .max_size = 256ull << 20,
				     .max_keys = keys };
	uint64_t end = 1795968000, start, rows; /* 2026-11-29 00:00 UTC */
	char path[512], *err = NULL, *moved = NULL;
	struct history *h;
	struct history_info in;
	double write_ms = 0;
	unsigned gran, minutes;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_history DIR [DAYS] [KEYS]\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/history.db", argv[1]);
	if (argc > 2 && !strcmp(argv[2], "query"))
		goto query; /* time the queries of a database filled before */
	if (history_open_rw(path, &o, &h, &moved, &err) < 0) {
		fprintf(stderr, "bench_history: %s\n", err);
		return 1;
	}
	/* The last day minute by minute. The days before it as the default size bound leaves
	 * them once their minutes are pruned: hourly aggregates at the cap, written as one minute
	 * at the cap per hour (which the recorder rolls up into as many rows as a full hour at the
	 * cap gives), so that filling a week takes minutes rather than an hour. */
	minutes = 1440;
	start = end - (uint64_t)days * 86400;
	for (unsigned hr = 0; hr + 24 < days * 24; hr++) {
		struct rollup r;

		rollup_init(&r, start + (uint64_t)hr * 3600, keys);
		fill(&r, hr * 60, keys);
		if (rollup_rows(&r) < 0 || history_write_minute(h, &r.out, &err) < 0) {
			fprintf(stderr, "bench_history: %s\n", err ? err : "write failed");
			return 1;
		}
		rollup_fini(&r);
	}
	start = end - 86400;
	for (unsigned m = 0; m < minutes; m++) {
		struct rollup r;
		uint64_t t0;

		rollup_init(&r, start + (uint64_t)m * 60, keys);
		fill(&r, m, keys);
		t0 = clock_ns(CLOCK_MONOTONIC);
		if (rollup_rows(&r) < 0 || history_write_minute(h, &r.out, &err) < 0) {
			fprintf(stderr, "bench_history: %s\n", err ? err : "write failed");
			return 1;
		}
		write_ms += (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;
		rollup_fini(&r);
		if (m == 1439) {
			history_info(h, &in);
			printf("bytes_per_minute=%llu (database bytes / 1440 + older hours, %u "
			       "keys)\n",
			       (unsigned long long)(in.size / 1440), keys);
		}
	}
	printf("write_ms_per_minute=%.2f (rollup rows + one transaction)\n", write_ms / minutes);
	history_info(h, &in);
	printf("database: %llu bytes, wal %llu, %llu minutes and %llu hours kept\n",
	       (unsigned long long)in.size, (unsigned long long)in.wal_size,
	       (unsigned long long)in.minutes, (unsigned long long)in.hours);
	history_close(h);
query:
	if (history_open_ro(path, &h, &err) < 0) {
		fprintf(stderr, "bench_history: %s\n", err);
		return 1;
	}
	/* the last day and the last week, ending at a minute that is not an hour boundary: the
	 * window's edges are read from minutes, the rest from hours */
	for (int detail = 0; detail < 2; detail++) {
		const char *what = detail ? "analyze" : "summary";

		printf("day_ms=%.1f",
		       query_ms(h, end - 86400 - 1800, end - 1800, detail, &rows, &gran));
		printf(" (%s: connections=%llu granularity=%u)\n", what, (unsigned long long)rows,
		       gran);
		if (days >= 7 || (argc > 2 && !strcmp(argv[2], "query"))) {
			printf("week_ms=%.1f", query_ms(h, end - 7 * 86400 + 1800, end - 1800,
							detail, &rows, &gran));
			printf(" (%s: connections=%llu granularity=%u)\n", what,
			       (unsigned long long)rows, gran);
		}
	}
	history_close(h);
	return 0;
}
