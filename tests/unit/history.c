/* The history database and the rollups: exact totals past the key cap, hourly aggregates that
 * answer like the minutes they came from, windows, filters, DNS and TCP quality rows, retention,
 * size bound, the corrupt file moved aside, the migration of a schema 1 file, read-only
 * opening, and time parsing of --since/--until. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

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

	/* 320 KiB: the empty schema takes a page per table and index (40 pages, 160 KiB, since the
	 * DNS and TCP-quality tables), the rest holds the minutes */
	o = (struct history_rw_opts){ .max_size = 320 << 10, .max_keys = 1000 };
	if (history_open_rw(path_in("s.db"), &o, &h, &moved, &err) < 0)
		return;
	for (int i = 0; i < 400; i++)
		write_minute(h, t0 + (uint64_t)i * 60, 1000);
	history_info(h, &in);
	CHECK(in.size <= (320u << 10) + (64u << 10),
	      "size bound: %llu bytes of database for a 320 KiB bound (WAL %llu)",
	      (unsigned long long)in.size, (unsigned long long)in.wal_size);
	CHECK(in.minutes < 400 && in.newest == t0 + 399 * 60 && in.hours >= 5,
	      "the oldest minutes went first (%llu kept), their hours (%llu) and the newest stayed",
	      (unsigned long long)in.minutes, (unsigned long long)in.hours);
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

static void dns(struct rollup *r, const char *proc, const char *name, int rcode, uint32_t us)
{
	struct rollup_dns d = { .rcode = rcode, .latency_us = us };

	snprintf(d.process, sizeof(d.process), "%s", proc);
	snprintf(d.unit, sizeof(d.unit), "app.service");
	snprintf(d.name, sizeof(d.name), "%s", name);
	rollup_add_dns(r, &d);
}

static void tcp(struct rollup *r, const char *proc, const char *dst, uint8_t direction, uint8_t end,
		uint64_t sent, uint32_t rtt, uint32_t retrans, uint32_t rst_sent)
{
	struct rollup_tcp x = { .direction = direction,
				.end = end,
				.bytes_sent = sent,
				.bytes_received = 2 * sent,
				.segs_out = end ? 10 : 0,
				.end_retransmits = end ? 1 : 0,
				.rtt_us = rtt,
				.retransmits = retrans,
				.resets_sent = rst_sent };

	snprintf(x.process, sizeof(x.process), "%s", proc);
	snprintf(x.destination, sizeof(x.destination), "%s", dst);
	rollup_add_tcp(r, &x);
}

/* One minute of DNS and TCP quality: curl's 3 NOERROR, 2 NXDOMAIN and 1 unanswered queries,
 * 20 one-query processes (past a cap of 5); curl's 3 ends (2 closed, 1 reset received), 3
 * retransmits of 2 segments, 1 reset sent; nginx's accepted connection that ended. */
static int write_dns_tcp(struct history *h, uint64_t t, unsigned cap)
{
	struct rollup r;
	char *err = NULL, name[32];
	int ret;

	rollup_init(&r, t, cap);
	for (int i = 0; i < 3; i++)
		dns(&r, "curl", "a.test", 0, 1000);
	dns(&r, "curl", "nope.nx.test", 3, 500);
	dns(&r, "curl", "nope.nx.test", 3, 500);
	dns(&r, "curl", "silent.test", -1, 0);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "q%02d", i);
		dns(&r, name, "b.test", 0, 3000);
	}
	tcp(&r, "curl", "10.0.0.1:443", 0, STORE_END_CLOSED, 100, 2000, 0, 0);
	tcp(&r, "curl", "10.0.0.1:443", 0, STORE_END_CLOSED, 100, 2000, 0, 0);
	tcp(&r, "curl", "10.0.0.1:443", 0, STORE_END_RESET_RECEIVED, 0, 0, 0, 0);
	for (int i = 0; i < 3; i++)
		tcp(&r, "curl", "10.0.0.1:443", 0, 0, 0, 0, 2, 0);
	tcp(&r, "curl", "10.0.0.1:443", 0, 0, 0, 0, 0, 1);
	tcp(&r, "nginx", "127.0.0.1:8080", 1, STORE_END_CLOSED, 5, 0, 0, 0);
	ret = rollup_rows(&r);
	if (ret == 0)
		ret = history_write_minute(h, &r.out, &err);
	if (ret < 0)
		printf("# write_dns_tcp: %s\n", err ? err : strerror(-ret));
	free(err);
	rollup_fini(&r);
	return ret;
}

static void test_dns_tcp(void)
{
	/* minutes capped at 5 keys (below); the hours keep them all, so that ties at the hour's
	 * cut cannot move a checked name into "other" */
	struct history_rw_opts o = { .max_keys = 100 };
	struct history *h = NULL;
	struct history_dns_stats ds;
	struct history_tcp_stats ts;
	struct rollup r;
	char *moved = NULL, *err = NULL;
	const uint64_t t0 = 1795975200, T = 90;
	uint64_t sum = 0, n_other = 0;
	int bad = 0;

	/* the key cap: 5 DNS keys kept, the rest in one "other" row per rcode */
	rollup_init(&r, t0, 5);
	for (int i = 0; i < 20; i++) {
		char p[16];

		snprintf(p, sizeof(p), "p%d", i);
		dns(&r, p, "x.test", i % 2 ? 3 : 0, 100);
	}
	CHECK(rollup_rows(&r) == 0, "rollup_rows with DNS");
	for (size_t i = 0; i < r.out.n_dns; i++) {
		sum += r.out.dns[i].count;
		n_other += !strcmp(r.out.dns[i].process, "other");
	}
	CHECK(sum == 20 && r.out.n_dns == 5 + n_other && n_other == 2,
	      "DNS past the key cap: totals exact (%llu of 20), 5 keys and 2 other rows (%zu)",
	      (unsigned long long)sum, r.out.n_dns);
	rollup_fini(&r);

	if (history_open_rw(path_in("d.db"), &o, &h, &moved, &err) < 0) {
		CHECK(0, "opens d.db (%s)", err ? err : "?");
		return;
	}
	for (uint64_t m = 0; m < T; m++) /* an hour aggregated, then 30 minutes */
		bad |= write_dns_tcp(h, t0 + m * 60, 5) < 0;
	CHECK(!bad, "90 minutes of DNS and TCP quality written");

	CHECK(history_dns_stats(h, &(struct history_query){ t0, t0 + T * 60 }, &ds, &err) == 0,
	      "DNS stats");
	CHECK(ds.total == T * 26 && ds.by_rcode[0] == T * 23 && ds.by_rcode[3] == T * 2 &&
		  ds.unanswered == T && ds.failed == T * 2,
	      "DNS: %llu queries, %llu NOERROR, %llu NXDOMAIN, %llu unanswered: exact past the "
	      "cap",
	      (unsigned long long)ds.total, (unsigned long long)ds.by_rcode[0],
	      (unsigned long long)ds.by_rcode[3], (unsigned long long)ds.unanswered);
	CHECK(ds.granularity == 3600, "DNS: the hour from its aggregate");
	{
		uint64_t lat = 0;
		int nope = 0, silent = 0;

		for (int i = 0; i < HISTORY_N_BUCKETS; i++)
			lat += ds.buckets[i];
		CHECK(lat == T * 25, "DNS latency: the %llu answered queries (%llu)",
		      (unsigned long long)(T * 25), (unsigned long long)lat);
		for (size_t i = 0; i < ds.failing.n; i++) {
			if (!strcmp(ds.failing.v[i].name, "nope.nx.test"))
				nope = ds.failing.v[i].count == T * 2 && ds.failing.v[i].tag == 3;
			if (!strcmp(ds.failing.v[i].name, "silent.test"))
				silent = ds.failing.v[i].count == T && ds.failing.v[i].tag == -1;
		}
		CHECK(nope && silent, "failing names with their last failure (NXDOMAIN, unanswered)");
	}
	history_dns_stats_free(&ds);
	CHECK(history_dns_stats(h, &(struct history_query){ t0, t0 + T * 60, .name = "NX.test" },
				&ds, &err) == 0 &&
		  ds.total == T * 2 && ds.latency_filtered_out,
	      "DNS name filter: a name below it, any case (%llu)", (unsigned long long)ds.total);
	history_dns_stats_free(&ds);
	CHECK(history_dns_stats(h, &(struct history_query){ t0, t0 + 600, .process = "curl" }, &ds,
				&err) == 0 &&
		  ds.total == 60 && ds.granularity == 60,
	      "DNS process filter, minutes (%llu)", (unsigned long long)ds.total);
	history_dns_stats_free(&ds);

	CHECK(history_tcp_stats(h, &(struct history_query){ t0, t0 + T * 60 }, &ts, &err) == 0,
	      "TCP stats");
	CHECK(ts.ended == T * 4 && ts.by_end[STORE_END_CLOSED] == T * 3 &&
		  ts.by_end[STORE_END_RESET_RECEIVED] == T,
	      "TCP: %llu connections ended, by how", (unsigned long long)ts.ended);
	CHECK(ts.bytes_sent == T * 205 && ts.bytes_received == T * 410 && ts.segs_out == T * 40 &&
		  ts.end_retransmits == T * 4,
	      "TCP: bytes and segments of those (%llu sent)", (unsigned long long)ts.bytes_sent);
	CHECK(ts.retransmits == T * 6 && ts.resets_sent == T && ts.resets_received == 0,
	      "TCP: retransmitted segments and resets (%llu, %llu)",
	      (unsigned long long)ts.retransmits, (unsigned long long)ts.resets_sent);
	{
		uint64_t rtt = 0;

		for (int i = 0; i < HISTORY_N_BUCKETS; i++)
			rtt += ts.rtt_buckets[i];
		CHECK(rtt == T * 2, "TCP: RTT of the %llu ends that had one (%llu)",
		      (unsigned long long)(T * 2), (unsigned long long)rtt);
	}
	CHECK(ts.n_destinations >= 1 && !strcmp(ts.destinations[0].name, "10.0.0.1:443") &&
		  ts.destinations[0].retransmits == T * 6,
	      "TCP: the worst remote end first");
	history_tcp_stats_free(&ts);
	CHECK(history_tcp_stats(h, &(struct history_query){ t0, t0 + T * 60,
							   .direction = STORE_DIR_IN },
				&ts, &err) == 0 &&
		  ts.ended == T && ts.bytes_sent == T * 5 && ts.n_processes == 1 &&
		  !strcmp(ts.processes[0].name, "nginx"),
	      "TCP direction filter: the accepted connections (%llu)", (unsigned long long)ts.ended);
	history_tcp_stats_free(&ts);
	history_close(h);
}

/* Schema 1 as the first recorder wrote it (tables only; the views are made again). */
static const char schema1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
    "CREATE TABLE names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE outcomes(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
    "CREATE TABLE buckets(id INTEGER PRIMARY KEY, le_seconds REAL);"
    "CREATE TABLE minutes(t INTEGER PRIMARY KEY, events INTEGER NOT NULL, lost INTEGER NOT "
    "NULL, unaccounted INTEGER NOT NULL, written INTEGER NOT NULL);"
    "CREATE TABLE hours(t INTEGER PRIMARY KEY, minutes INTEGER NOT NULL);"
    "CREATE TABLE conn_minute(t INTEGER NOT NULL, process INTEGER NOT NULL, unit INTEGER, "
    "destination INTEGER NOT NULL, protocol INTEGER NOT NULL, outcome INTEGER NOT NULL, "
    "direction INTEGER NOT NULL, count INTEGER NOT NULL, failed INTEGER NOT NULL);"
    "CREATE TABLE conn_hour(t INTEGER NOT NULL, process INTEGER NOT NULL, unit INTEGER, "
    "destination INTEGER NOT NULL, protocol INTEGER NOT NULL, outcome INTEGER NOT NULL, "
    "direction INTEGER NOT NULL, count INTEGER NOT NULL, failed INTEGER NOT NULL);"
    "CREATE TABLE latency_minute(t INTEGER NOT NULL, process INTEGER NOT NULL, unit INTEGER, "
    "bucket INTEGER NOT NULL, count INTEGER NOT NULL, sum_us INTEGER NOT NULL);"
    "CREATE TABLE latency_hour(t INTEGER NOT NULL, process INTEGER NOT NULL, unit INTEGER, "
    "bucket INTEGER NOT NULL, count INTEGER NOT NULL, sum_us INTEGER NOT NULL);"
    "CREATE TABLE drop_minute(t INTEGER NOT NULL, reason INTEGER NOT NULL, protocol INTEGER "
    "NOT NULL, process INTEGER, unit INTEGER, count INTEGER NOT NULL);"
    "CREATE TABLE drop_hour(t INTEGER NOT NULL, reason INTEGER NOT NULL, protocol INTEGER NOT "
    "NULL, process INTEGER, unit INTEGER, count INTEGER NOT NULL);"
    "CREATE INDEX conn_minute_t ON conn_minute(t);"
    "INSERT INTO meta VALUES('schema_version',1);"
    "INSERT INTO names VALUES(1,'other'),(2,'curl'),(3,'10.0.0.1:443'),(4,'app.service'),"
    "(5,'NO_SOCKET');"
    "INSERT INTO minutes VALUES(1795975200,9,0,0,1795975300),(1795975260,4,0,0,1795975360);"
    "INSERT INTO conn_minute VALUES(1795975200,2,4,3,6,2,0,3,3),(1795975200,2,4,3,6,1,1,5,0),"
    "(1795975260,2,4,3,6,1,0,4,0);"
    "INSERT INTO latency_minute VALUES(1795975200,2,4,3,5,4000);"
    "INSERT INTO drop_minute VALUES(1795975200,5,6,2,4,1);";

static int make_db(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc = sqlite3_open(path, &db);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Rows named "other" in a table, and the sum of a counter over all its rows. */
#define TALLY(rows, n, counter, ret_other, ret_sum)                                         \
	do {                                                                                \
		ret_other = ret_sum = 0;                                                    \
		for (size_t i_ = 0; i_ < (n); i_++) {                                       \
			ret_other +=                                                        \
			    !strcmp((rows)[i_].process ? (rows)[i_].process : "", "other"); \
			ret_sum += (rows)[i_].counter;                                      \
		}                                                                           \
	} while (0)

/* Every table past a cap of 2 keys, with a process named "other" (any process may call itself
 * that) counted most: 2 keys kept, the rest in one "other" row per value of the fields that
 * stay (drops: reason and protocol), totals exact. Then a table past its hold cap. */
static void test_rollup_tables(void)
{
	const char *procs[] = { "other", "a", "b", "c", "d" }; /* 9, 8, 7, 6 and 5 events */
	struct rollup r;
	uint64_t other, sum;
	int csum = 0, nosock = 0;

	rollup_init(&r, 600, 2);
	for (int p = 0; p < 5; p++)
		for (int i = 0; i < 9 - p; i++) {
			conn(&r, procs[p], "app.service", "10.0.0.1:80", 6, 1, false, 1000);
			drop(&r, p % 2 ? "NO_SOCKET" : "TCP_CSUM", procs[p], "app.service");
			dns(&r, procs[p], "x.test", i % 2 ? 3 : 0, 100);
			tcp(&r, procs[p], "10.0.0.1:443", (uint8_t)(i % 2), 0, 0, 0, 1, 0);
		}
	CHECK(rollup_rows(&r) == 0, "rollup_rows");
	TALLY(r.out.conns, r.out.n_conns, count, other, sum);
	CHECK(r.out.n_conns == 3 && other == 1 && sum == 35 && r.out.conns[0].count == 20,
	      "connections: 2 kept and other (%zu rows, %llu other, %llu)", r.out.n_conns,
	      (unsigned long long)other, (unsigned long long)sum);
	TALLY(r.out.latency, r.out.n_latency, buckets[history_bucket_of(1000)], other, sum);
	CHECK(r.out.n_latency == 3 && other == 1 && sum == 35,
	      "latency: 2 kept and one other (%zu rows, %llu)", r.out.n_latency,
	      (unsigned long long)sum);
	TALLY(r.out.drops, r.out.n_drops, count, other, sum);
	for (size_t i = 0; i < r.out.n_drops; i++)
		if (!strcmp(r.out.drops[i].process, "other") && r.out.drops[i].protocol == 17 &&
		    !strcmp(r.out.drops[i].unit, "other")) {
			csum += !strcmp(r.out.drops[i].reason, "TCP_CSUM") &&
				r.out.drops[i].count == 14;
			nosock += !strcmp(r.out.drops[i].reason, "NO_SOCKET") &&
				  r.out.drops[i].count == 6;
		}
	CHECK(r.out.n_drops == 4 && other == 2 && sum == 35 && csum == 1 && nosock == 1,
	      "drops: 2 kept, other per reason and protocol (%zu rows, %llu)", r.out.n_drops,
	      (unsigned long long)sum);
	TALLY(r.out.dns, r.out.n_dns, count, other, sum);
	CHECK(r.out.n_dns == 4 && other == 2 && sum == 35,
	      "DNS: 2 kept, other per rcode (%zu rows)", r.out.n_dns);
	TALLY(r.out.tcp, r.out.n_tcp, retransmits, other, sum);
	CHECK(r.out.n_tcp == 4 && other == 2 && sum == 35,
	      "TCP: 2 kept, other per direction (%zu rows)", r.out.n_tcp);
	rollup_fini(&r);

	/* past the hold cap (4096 keys in memory) a new key goes to its "other" key at once */
	rollup_init(&r, 600, 1);
	for (int i = 0; i < 5000; i++) {
		char p[16];

		snprintf(p, sizeof(p), "p%d", i);
		drop(&r, "NO_SOCKET", p, "app.service");
	}
	CHECK(r.drops.n == 4097, "the hold cap: 4096 keys and other (%zu)", r.drops.n);
	CHECK(rollup_rows(&r) == 0 && r.out.n_drops == 2 && r.out.drops[0].count == 4999 &&
		  !strcmp(r.out.drops[0].process, "other") &&
		  !strcmp(r.out.drops[0].reason, "NO_SOCKET") && r.out.drops[0].protocol == 17,
	      "past the hold cap: 1 kept, 4999 under other with their reason and protocol");
	rollup_fini(&r);
}

static void test_migrate(void)
{
	struct history_rw_opts o = { .max_keys = 100 };
	struct history *h = NULL;
	struct history_conn_stats cs;
	struct history_drop_stats dr;
	struct history_dns_stats ds;
	const struct history_query all = { 1795975200, 1795975200 + 3600 };
	char *moved = NULL, *err = NULL;
	struct stat sb;
	int r;

	CHECK(make_db(path_in("v1.db"), schema1) == 0, "a schema 1 database made");
	/* a newer netspyctl reads an older file as it is: no DNS or TCP counters, said so */
	r = history_open_ro(path_in("v1.db"), &h, &err);
	CHECK(r == 0 && history_schema(h) == 1, "read-only, schema 1 is read as it is");
	if (r == 0) {
		r = history_dns_stats(h, &all, &ds, &err);
		CHECK(r == -ENODATA && err && strstr(err, "older recorder"),
		      "DNS from a schema 1 file: -ENODATA, said why (%s)", err ? err : "no text");
		free(err);
		err = NULL;
		history_close(h);
	}
	r = history_open_rw(path_in("v1.db"), &o, &h, &moved, &err);
	CHECK(r == 0 && !moved && history_schema(h) == HISTORY_SCHEMA_VERSION,
	      "the recorder migrates it to schema %d in place (%s)", HISTORY_SCHEMA_VERSION,
	      err ? err : "ok");
	if (r < 0)
		return;
	r = history_conn_stats(h, &all, &cs, &err);
	CHECK(r == 0 && cs.total == 12 && cs.failed == 3 && cs.by_direction[1] == 5 &&
		  cs.by_outcome[2] == 3 && cs.buckets[3] == 5,
	      "its connections are intact after the upgrade (%llu of 12, %llu inbound)",
	      (unsigned long long)cs.total, (unsigned long long)cs.by_direction[1]);
	history_conn_stats_free(&cs);
	r = history_conn_stats(h,
			       &(struct history_query){ all.since, all.until,
							.direction = STORE_DIR_IN },
			       &cs, &err);
	CHECK(r == 0 && cs.total == 5 && cs.buckets[3] == 0,
	      "a direction filter: the 5 accepted, no handshake latency (%llu)",
	      (unsigned long long)cs.total);
	history_conn_stats_free(&cs);
	r = history_drop_stats(h, &all, &dr, &err);
	CHECK(r == 0 && dr.total == 1 && dr.attributed == 1, "its drops are intact");
	history_drop_stats_free(&dr);
	CHECK(history_resume_point(h) == 1795975320, "the recorder resumes after its last minute");
	CHECK(write_dns_tcp(h, 1795975320, 100) == 0, "a DNS and TCP minute goes into it");
	r = history_dns_stats(h, &all, &ds, &err);
	CHECK(r == 0 && ds.total == 26, "and is read back (%llu DNS queries)",
	      (unsigned long long)ds.total);
	history_dns_stats_free(&ds);
	r = history_conn_stats(h, &all, &cs, &err);
	CHECK(r == 0 && cs.total == 12, "the old minutes still count 12 connections");
	history_conn_stats_free(&cs);
	history_close(h);

	/* a file from a newer netspy is left alone, not moved aside as damaged */
	CHECK(make_db(path_in("v9.db"), "CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
					 "INSERT INTO meta VALUES('schema_version',9);") == 0,
	      "a schema 9 database made");
	r = history_open_rw(path_in("v9.db"), &o, &h, &moved, &err);
	CHECK(r == -EPROTO && !moved && err && strstr(err, "newer") &&
		  stat(path_in("v9.db"), &sb) == 0,
	      "a newer schema is refused, the file kept (%s)", err ? err : "no text");
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
	test_dns_tcp();
	test_rollup_tables();
	test_migrate();
	test_time();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return CHECK_DONE();
}
