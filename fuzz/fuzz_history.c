/* Fuzzes the history database as the recorder and netspyctl read it: the input is the file's
 * bytes. The first byte picks the reader: netspyctl's read-only queries (window summary, drops,
 * DNS, TCP quality, info; a schema 1 file, migrated) or the recorder's start (quick_check, a damaged file moved aside and replaced, one minute
 * written). Every reader must fail cleanly or answer; nothing may crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/history.h"
#include "core/rollup.h"

#define FUZZ_MAX_INPUT (256 * 1024)

static char dir[64];

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_history: cannot remove %s\n", dir);
}

/* A history_sums() row: its strings are read as a caller would. */
static int sum_row(void *arg, const char *process, const char *key, uint64_t count, uint64_t failed)
{
	*(uint64_t *)arg += count + failed + (process ? strlen(process) : 0) + (key ? strlen(key) : 0);
	return 0;
}

static void read_only(const char *path)
{
	struct history *h;
	struct history_conn_stats cs;
	struct history_drop_stats ds;
	struct history_info in;
	char *err = NULL;
	const uint64_t t0 = 1795975200;

	if (history_open_ro(path, &h, &err) < 0) {
		free(err);
		return;
	}
	history_info(h, &in);
	history_resume_point(h);
	if (history_conn_stats(h, &(struct history_query){ t0 - 86400, t0 + 86400 }, &cs, &err) ==
	    0) {
		history_tops_sort(&cs.processes);
		history_percentile_ms(cs.buckets, 0.99);
		history_conn_stats_free(&cs);
	}
	free(err);
	err = NULL;
	if (history_conn_stats(
		h, &(struct history_query){ 0, UINT32_MAX, .process = "curl", .unit = "app" }, &cs,
		&err) == 0)
		history_conn_stats_free(&cs);
	free(err);
	err = NULL;
	if (history_drop_stats(h, &(struct history_query){ 0, UINT32_MAX }, &ds, &err) == 0)
		history_drop_stats_free(&ds);
	free(err);
	err = NULL;
	{
		struct history_dns_stats dn;
		struct history_tcp_stats tc;

		if (history_dns_stats(h, &(struct history_query){ 0, UINT32_MAX, .name = "a.test" },
				      &dn, &err) == 0) {
			history_tops_sort(&dn.failing);
			history_dns_stats_free(&dn);
		}
		free(err);
		err = NULL;
		if (history_dns_stats(h, &(struct history_query){ 0, UINT32_MAX }, &dn, &err) == 0)
			history_dns_stats_free(&dn);
		free(err);
		err = NULL;
		if (history_tcp_stats(h, &(struct history_query){ 0, UINT32_MAX, .direction = 2 },
				      &tc, &err) == 0)
			history_tcp_stats_free(&tc);
		free(err);
		err = NULL;
		if (history_tcp_stats(h, &(struct history_query){ 0, UINT32_MAX }, &tc, &err) == 0)
			history_tcp_stats_free(&tc);
		free(err);
		err = NULL;
	}
	/* find_anomalies' baselines: every series, with and without a process filter. */
	for (int k = 0; k < HISTORY_N_SERIES; k++) {
		uint64_t a, b, n = 0;

		history_sums(h, &(struct history_query){ 0, UINT32_MAX }, (enum history_series)k,
			     sum_row, &n, &a, &b, &err);
		free(err);
		err = NULL;
		history_sums(h, &(struct history_query){ 0, UINT32_MAX, .process = "curl" },
			     (enum history_series)k, sum_row, &n, &a, &b, &err);
		free(err);
		err = NULL;
	}
	history_close(h);
}

static void read_write(const char *path)
{
	struct history_rw_opts o = { .retention_days = 7, .max_size = 1 << 20, .max_keys = 4 };
	struct history *h;
	struct rollup r;
	struct rollup_conn c = { .protocol = 6, .outcome = 2, .failed = true };
	char *err = NULL, *moved = NULL;

	if (history_open_rw(path, &o, &h, &moved, &err) < 0) {
		free(err);
		free(moved);
		return;
	}
	if (moved)
		unlink(moved);
	free(moved);
	strcpy(c.process, "curl");
	strcpy(c.destination, "10.0.0.1:443");
	rollup_init(&r, 1795975200, 4);
	rollup_add_conn(&r, &c);
	{
		struct rollup_dns d = { .rcode = 3, .latency_us = 500 };
		struct rollup_tcp x = { .end = 1, .bytes_sent = 10, .rtt_us = 100, .retransmits = 1 };

		strcpy(d.process, "curl");
		strcpy(d.name, "nope.test");
		rollup_add_dns(&r, &d);
		strcpy(x.process, "curl");
		strcpy(x.destination, "10.0.0.1:443");
		rollup_add_tcp(&r, &x);
	}
	if (rollup_rows(&r) == 0 && history_write_minute(h, &r.out, &err) < 0)
		free(err);
	rollup_fini(&r);
	history_close(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[96], aux[112];
	FILE *f;

	if (!size || size > FUZZ_MAX_INPUT)
		return 0;
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/netspy-fuzz-history.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(cleanup);
	}
	snprintf(path, sizeof(path), "%s/h.db", dir);
	for (int i = 0; i < 2; i++) {
		snprintf(aux, sizeof(aux), "%s%s", path, i ? "-shm" : "-wal");
		unlink(aux);
	}
	f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(data + 1, 1, size - 1, f);
	fclose(f);
	if (data[0] & 1)
		read_write(path);
	else
		read_only(path);
	unlink(path);
	return 0;
}
