/* The history database and the rollups: exact totals past the key cap, hourly aggregates that
 * answer like the minutes they came from, windows, filters, retention, size bound, the corrupt
 * file moved aside, read-only opening, and time parsing of --since/--until. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/history.h"
#include "core/rollup.h"
#include "tools/data.h"

static char dir[] = "/tmp/netspy-unit-history.XXXXXX";

static char *path_in(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void conn(struct rollup *r, const char *proc, const char *unit, const char *dst,
		 uint8_t proto, uint8_t outcome, bool failed, uint32_t lat)
{
	struct rollup_conn c = {
		.protocol = proto, .outcome = outcome, .failed = failed, .latency_us = lat
	};

	snprintf(c.process, sizeof(c.process), "%s", proc);
	snprintf(c.unit, sizeof(c.unit), "%s", unit);
	snprintf(c.destination, sizeof(c.destination), "%s", dst);
	rollup_add_conn(r, &c);
}

static void drop(struct rollup *r, const char *reason, const char *proc, const char *unit)
{
	struct rollup_drop d = { .protocol = 17, .attributed = proc != NULL };

	snprintf(d.reason, sizeof(d.reason), "%s", reason);
	snprintf(d.process, sizeof(d.process), "%s", proc ? proc : "");
	rollup_add_drop(r, &d, unit);
}

/* One minute: 3 refused curl connects, 2 established (latency 800 us and 3 ms) to a
 * per-minute destination, 50 UDP sends from 50 processes, 4 drops. */
static int write_minute(struct history *h, uint64_t t, unsigned cap)
{
	struct rollup r;
	char *err = NULL;
	char name[32];
	int ret;

	rollup_init(&r, t, cap);
	for (int i = 0; i < 3; i++)
		conn(&r, "curl", "app.service", "10.0.0.1:443", 6, 2, true, 0);
	snprintf(name, sizeof(name), "10.0.0.2:%u", (unsigned)(t / 60 % 1000));
	conn(&r, "curl", "app.service", name, 6, 1, false, 800);
	conn(&r, "curl", "app.service", name, 6, 1, false, 3000);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "p%02d", i);
		conn(&r, name, "", "127.0.0.1:53", 17, 8, false, 0);
	}
	for (int i = 0; i < 3; i++)
		drop(&r, "NO_SOCKET", "curl", "app.service");
	drop(&r, "TCP_CSUM", NULL, NULL);
	ret = rollup_rows(&r);
	if (ret == 0)
		ret = history_write_minute(h, &r.out, &err);
	if (ret < 0)
		printf("# write_minute: %s\n", err ? err : strerror(-ret));
	free(err);
	rollup_fini(&r);
	return ret;
}

static void test_rollup_cap(void)
{
	struct rollup r;
	uint64_t total = 0, other = 0;
	size_t n_other = 0;

	rollup_init(&r, 600, 10);
	for (int i = 0; i < 200; i++) {
		char p[16];

		snprintf(p, sizeof(p), "proc%d", i);
		conn(&r, p, "", "1.2.3.4:80", 6, i % 2 ? 2 : 1, i % 2, 0);
	}
	CHECK(rollup_rows(&r) == 0, "rollup_rows");
	for (size_t i = 0; i < r.out.n_conns; i++) {
		total += r.out.conns[i].count;
		if (!strcmp(r.out.conns[i].process, "other")) {
			other += r.out.conns[i].count;
			n_other++;
		}
	}
	CHECK(total == 200, "totals stay exact past the key cap (%llu of 200)",
	      (unsigned long long)total);
	CHECK(r.out.n_conns == 10 + n_other && n_other == 2,
	      "10 keys kept, one \"other\" row per outcome (%zu rows, %zu other)", r.out.n_conns,
	      n_other);
	CHECK(other == 190, "190 connections summed under other (%llu)", (unsigned long long)other);
	rollup_fini(&r);
}

/* A drop record folded during a flood counts as the drops it stands for. */
static void test_rollup_folded(void)
{
	struct rollup r;
	struct rollup_drop d = { .protocol = 17, .count = 12000 };
	uint64_t total = 0;

	rollup_init(&r, 600, 10);
	snprintf(d.reason, sizeof(d.reason), "NO_SOCKET");
	rollup_add_drop(&r, &d, NULL);
	d.count = 0; /* from a daemon that does not fold: one drop */
	rollup_add_drop(&r, &d, NULL);
	CHECK(rollup_rows(&r) == 0, "rollup_rows with a folded drop");
	for (size_t i = 0; i < r.out.n_drops; i++)
		total += r.out.drops[i].count;
	CHECK(total == 12001, "a folded record counts as its count (%llu of 12001)",
	      (unsigned long long)total);
	rollup_fini(&r);
}

static void test_db(void)
{
	struct history_rw_opts o = { .retention_days = 0, .max_size = 0, .max_keys = 20 };
	struct history *h = NULL, *ro = NULL;
	struct history_conn_stats cs;
	struct history_drop_stats ds;
	struct history_info in;
	char *moved = NULL, *err = NULL;
	const uint64_t t0 = 1795975200; /* 2026-11-29 18:00:00 UTC, an hour boundary */
	int r = history_open_rw(path_in("h.db"), &o, &h, &moved, &err), bad = 0;

	CHECK(r == 0 && !moved, "a new database opens (%s)", err ? err : "ok");
	if (r < 0)
		return;
	for (int m = 0; m < 150; m++) /* 2.5 hours: two hourly aggregates */
		bad |= write_minute(h, t0 + (uint64_t)m * 60, 20) < 0;
	CHECK(!bad, "150 minutes written");
	CHECK(history_resume_point(h) == t0 + 150 * 60,
	      "resume point is the end of the last minute");
	history_info(h, &in);
	CHECK(in.minutes == 150 && in.hours == 2 && in.oldest == t0,
	      "info: 150 minutes, 2 hours, oldest the first (%llu, %llu)",
	      (unsigned long long)in.minutes, (unsigned long long)in.hours);
	history_close(h);

	r = history_open_ro(path_in("h.db"), &ro, &err);
	CHECK(r == 0, "opens read-only");
	if (r < 0)
		return;
	/* the whole window: hours from the aggregates, the last 30 minutes from minutes */
	r = history_conn_stats(ro, &(struct history_query){ t0, t0 + 150 * 60, .detail = true }, &cs,
			       &err);
	CHECK(r == 0 && cs.total == 150 * 55 && cs.failed == 150 * 3,
	      "2.5 hours: %llu connections (want %d), %llu failed", (unsigned long long)cs.total,
	      150 * 55, (unsigned long long)cs.failed);
	CHECK(cs.granularity == 3600, "long windows read the hourly aggregates");
	CHECK(cs.by_proto[6] == 150 * 5 && cs.by_proto[17] == 150 * 50, "by protocol exact");
	CHECK(cs.by_outcome[2] == 450 && cs.by_outcome[1] == 300 && cs.by_outcome[8] == 7500,
	      "by outcome exact");
	CHECK(cs.buckets[1] == 150 && cs.buckets[3] == 150, "latency buckets (800 us, 3 ms)");
	CHECK(cs.covered_since == t0 && cs.covered_until == t0 + 150 * 60, "covered window");
	{
		uint64_t sum = 0, curl = 0;

		for (size_t i = 0; i < cs.processes.n; i++) {
			sum += cs.processes.v[i].count;
			if (!strcmp(cs.processes.v[i].name, "curl"))
				curl = cs.processes.v[i].count;
		}
		/* the hours keep 20 keys: curl's 60 one-minute destinations went to "other" */
		CHECK(sum == cs.total && curl >= 450,
		      "by process sums to the total (%llu), curl's refusals kept (%llu)",
		      (unsigned long long)sum, (unsigned long long)curl);
	}
	history_tops_sort(&cs.refused);
	CHECK(cs.refused.n == 1 && !strcmp(cs.refused.v[0].name, "10.0.0.1:443"),
	      "refused destination");
	history_conn_stats_free(&cs);

	/* a window inside one hour: minutes only, and the process filter */
	r = history_conn_stats(
	    ro, &(struct history_query){ t0 + 600, t0 + 1200, .process = "curl" }, &cs, &err);
	CHECK(r == 0 && cs.total == 50 && cs.granularity == 60,
	      "10 minutes of curl: 50 (%llu), per minute", (unsigned long long)cs.total);
	history_conn_stats_free(&cs);
	r = history_conn_stats(ro, &(struct history_query){ t0 + 7200, t0 + 9000, .unit = "app" },
			       &cs, &err);
	CHECK(r == 0 && cs.total == 150, "unit filter 'app' matches app.service (%llu)",
	      (unsigned long long)cs.total);
	history_conn_stats_free(&cs);
	r = history_conn_stats(ro, &(struct history_query){ t0, t0 + 9000, .process = "nosuch" },
			       &cs, &err);
	CHECK(r == 0 && cs.total == 0, "an unknown process matches nothing");
	history_conn_stats_free(&cs);

	r = history_drop_stats(ro, &(struct history_query){ t0, t0 + 9000 }, &ds, &err);
	CHECK(r == 0 && ds.total == 600 && ds.attributed == 450, "drops: 600, 450 attributed");
	history_tops_sort(&ds.reasons);
	CHECK(ds.reasons.n == 2 && !strcmp(ds.reasons.v[0].name, "NO_SOCKET") &&
		  ds.reasons.v[0].count == 450,
	      "drops by reason");
	history_drop_stats_free(&ds);
	r = history_drop_stats(ro, &(struct history_query){ t0, t0 + 9000, .unit = "app.service" },
			       &ds, &err);
	CHECK(r == 0 && ds.total == 450, "drops by unit (%llu)", (unsigned long long)ds.total);
	history_drop_stats_free(&ds);
	history_close(ro);
}

static void test_bounds(void)
{
	struct history_rw_opts o = { .retention_days = 1, .max_size = 0, .max_keys = 20 };
	struct history *h;
	struct history_info in;
	char *moved = NULL, *err = NULL;
	const uint64_t t0 = 1795975200;

	if (history_open_rw(path_in("r.db"), &o, &h, &moved, &err) < 0)
		return;
	write_minute(h, t0 - 3 * 86400, 20);
	write_minute(h, t0 - 2 * 86400, 20);
	for (int i = 0; i < 10; i++)
		write_minute(h, t0 + (uint64_t)i * 60, 20);
	history_info(h, &in);
	CHECK(in.oldest == t0, "retention: minutes older than a day are gone (oldest %llu)",
	      (unsigned long long)in.oldest);
	history_close(h);

	o = (struct history_rw_opts){ .max_size = 256 << 10, .max_keys = 1000 };
	if (history_open_rw(path_in("s.db"), &o, &h, &moved, &err) < 0)
		return;
	for (int i = 0; i < 400; i++)
		write_minute(h, t0 + (uint64_t)i * 60, 1000);
	history_info(h, &in);
	CHECK(in.size <= (256u << 10) + (64u << 10),
	      "size bound: %llu bytes of database for a 256 KiB bound (WAL %llu)",
	      (unsigned long long)in.size, (unsigned long long)in.wal_size);
	CHECK(in.minutes < 400 && in.newest == t0 + 399 * 60 && in.hours >= 5,
	      "the oldest minutes went first (%llu kept), their hours and the newest stayed",
	      (unsigned long long)in.minutes);
	history_close(h);
}

static void test_corrupt(void)
{
	struct history_rw_opts o = { .max_keys = 10 };
	struct history *h = NULL;
	char *moved = NULL, *err = NULL;
	char junk[8192];
	int fd = open(path_in("c.db"), O_CREAT | O_WRONLY | O_TRUNC, 0600), r;
	struct stat sb;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	memcpy(junk, "SQLite format 3", 16); /* a header, then garbage */
	CHECK(fd >= 0 && write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk), "junk written");
	close(fd);
	r = history_open_rw(path_in("c.db"), &o, &h, &moved, &err);
	CHECK(r == 0 && moved, "a damaged file is moved aside (%s)",
	      moved ? moved
	      : err ? err
		    : "not moved");
	CHECK(moved && stat(moved, &sb) == 0 && sb.st_size == (off_t)sizeof(junk),
	      "the damaged file is kept as it was");
	CHECK(r == 0 && write_minute(h, 1795975200, 10) == 0, "the new database works");
	history_close(h);
	free(moved);
	free(err);
	err = NULL;
	r = history_open_ro(path_in("none.db"), &h, &err);
	CHECK(r == -ENOENT && err && strstr(err, "netspy-recorder"), "no file: -ENOENT and a hint");
	free(err);
}

static void test_time(void)
{
	uint64_t ns = 0;

	CHECK(data_parse_time("2026-11-29T18:00:00Z", &ns) == 0 && ns == 1795975200ull * 1000000000,
	      "RFC 3339 UTC");
	CHECK(data_parse_time("2026-11-29T19:30:00+01:30", &ns) == 0 &&
		  ns == 1795975200ull * 1000000000,
	      "RFC 3339 with an offset");
	CHECK(data_parse_time("2026-11-29T18:00:00.25Z", &ns) == 0 &&
		  ns == 1795975200ull * 1000000000 + 250000000,
	      "RFC 3339 with a fraction");
	setenv("TZ", "UTC", 1);
	CHECK(data_parse_time("2026-11-29 18:00", &ns) == 0 && ns == 1795975200ull * 1000000000,
	      "YYYY-MM-DD HH:MM in local time");
	CHECK(data_parse_time("yesterday", &ns) == -EINVAL, "words are refused");
	CHECK(data_parse_time("2026-11-29T18:00:00", &ns) == -EINVAL,
	      "RFC 3339 without a zone is refused");
	CHECK(data_parse_time("2026-11-29 18:00 junk", &ns) == -EINVAL, "trailing text is refused");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_rollup_cap();
	test_rollup_folded();
	test_db();
	test_bounds();
	test_corrupt();
	test_time();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return CHECK_DONE();
}
