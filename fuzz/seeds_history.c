/* Writes the seed corpus of fuzz_history: real databases the recorder wrote (minutes, an hourly
 * aggregate, "other" rows, DNS and TCP-quality rows), a schema 1 file (the migration), prefixed
 * by the reader-selecting byte, and damaged copies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#include "core/history.h"
#include "core/rollup.h"

static int seed(const char *dir, const char *name, unsigned char mode, const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	fputc(mode, f);
	fwrite(p, 1, n, f);
	return fclose(f);
}

/* A schema 1 file as the first recorder wrote it, with a few rows. */
static const char schema1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
    "CREATE TABLE names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE outcomes(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
    "CREATE TABLE buckets(id INTEGER PRIMARY KEY, le_seconds REAL);"
    "CREATE TABLE minutes(t INTEGER PRIMARY KEY, events INTEGER NOT NULL, lost INTEGER NOT "
    "NULL, unaccounted INTEGER NOT NULL, written INTEGER NOT NULL);"
    "CREATE TABLE hours(t INTEGER PRIMARY KEY, minutes INTEGER NOT NULL);"
    "CREATE TABLE conn_minute(t, process, unit, destination, protocol, outcome, direction,"
    " count, failed);"
    "CREATE TABLE conn_hour(t, process, unit, destination, protocol, outcome, direction, count,"
    " failed);"
    "CREATE TABLE latency_minute(t, process, unit, bucket, count, sum_us);"
    "CREATE TABLE latency_hour(t, process, unit, bucket, count, sum_us);"
    "CREATE TABLE drop_minute(t, reason, protocol, process, unit, count);"
    "CREATE TABLE drop_hour(t, reason, protocol, process, unit, count);"
    "INSERT INTO meta VALUES('schema_version',1);"
    "INSERT INTO names VALUES(1,'other'),(2,'curl'),(3,'10.0.0.1:443');"
    "INSERT INTO minutes VALUES(1795975200,3,0,0,1795975300);"
    "INSERT INTO conn_minute VALUES(1795975200,2,NULL,3,6,2,0,3,3);";

static int seed_file(const char *dir, const char *name, unsigned char mode, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	int r;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) <= 0)
		return -1;
	rewind(f);
	buf = malloc((size_t)n);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		return -1;
	fclose(f);
	r = seed(dir, name, mode, buf, (size_t)n);
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/netspy-seeds-history.XXXXXX", path[128];
	struct history_rw_opts o = { .max_keys = 3 };
	struct history *h;
	char *err = NULL, *moved = NULL, *buf;
	long n;
	FILE *f;

	if (argc != 2 || !mkdtemp(tmp))
		return 1;
	snprintf(path, sizeof(path), "%s/h.db", tmp);
	if (history_open_rw(path, &o, &h, &moved, &err) < 0)
		return 1;
	for (int m = 0; m < 65; m++) {
		struct rollup r;
		struct rollup_conn c = { .protocol = 6,
					 .outcome = (uint8_t)(m % 3),
					 .latency_us = 900 };
		struct rollup_drop d = { .protocol = 17, .attributed = true };

		rollup_init(&r, 1795975200 + (uint64_t)m * 60, 3);
		for (int i = 0; i < 6; i++) {
			snprintf(c.process, sizeof(c.process), "p%d", i);
			snprintf(c.unit, sizeof(c.unit), "u%d.service", i % 2);
			snprintf(c.destination, sizeof(c.destination), "10.0.0.%d:443", i);
			rollup_add_conn(&r, &c);
		}
		strcpy(d.reason, "NO_SOCKET");
		strcpy(d.process, "p1");
		rollup_add_drop(&r, &d, "u1.service");
		for (int i = 0; i < 5; i++) {
			struct rollup_dns q = { .rcode = i % 3 ? 0 : (i ? 3 : -1),
						.latency_us = 700 };
			struct rollup_tcp x = { .direction = (uint8_t)(i % 2),
						.end = (uint8_t)(i % 4),
						.bytes_sent = 100,
						.rtt_us = 300,
						.retransmits = (uint32_t)i };

			snprintf(q.process, sizeof(q.process), "p%d", i);
			snprintf(q.name, sizeof(q.name), "n%d.a.test", i);
			rollup_add_dns(&r, &q);
			snprintf(x.process, sizeof(x.process), "p%d", i);
			snprintf(x.destination, sizeof(x.destination), "10.0.0.%d:443", i);
			rollup_add_tcp(&r, &x);
		}
		if (rollup_rows(&r) < 0 || history_write_minute(h, &r.out, &err) < 0)
			return 1;
		rollup_fini(&r);
	}
	history_close(h);
	/* one file with the WAL folded in */
	snprintf(path, sizeof(path),
		 "sqlite3 %s/h.db 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA "
		 "journal_mode=DELETE;' >/dev/null",
		 tmp);
	if (system(path) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/h.db", tmp);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) <= 0)
		return 1;
	rewind(f);
	buf = malloc((size_t)n);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		return 1;
	fclose(f);
	seed(argv[1], "valid-read", 0, buf, (size_t)n);
	seed(argv[1], "valid-write", 1, buf, (size_t)n);
	seed(argv[1], "truncated-read", 0, buf, (size_t)n / 2);
	seed(argv[1], "truncated-write", 1, buf, (size_t)n / 2);
	for (long i = 100; i < n; i += 97)
		buf[i] ^= 0x5a;
	seed(argv[1], "scrambled-read", 0, buf, (size_t)n);
	seed(argv[1], "scrambled-write", 1, buf, (size_t)n);
	seed(argv[1], "not-a-database", 0, "hello", 5);
	seed(argv[1], "empty-write", 1, "", 0);
	free(buf);
	{
		sqlite3 *db;

		snprintf(path, sizeof(path), "%s/v1.db", tmp);
		if (sqlite3_open(path, &db) != SQLITE_OK ||
		    sqlite3_exec(db, schema1, NULL, NULL, NULL) != SQLITE_OK)
			return 1;
		sqlite3_close(db);
		if (seed_file(argv[1], "schema1-read", 0, path) < 0 ||
		    seed_file(argv[1], "schema1-write", 1, path) < 0)
			return 1;
	}
	snprintf(path, sizeof(path), "rm -rf %s", tmp);
	return system(path) != 0;
}
