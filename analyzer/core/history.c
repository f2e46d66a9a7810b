/* The history database in SQLite: schema (and its migration from older versions), writing a
 * minute (one transaction), hourly aggregates, retention and size bounds, the corrupt-file
 * check, and the window queries tools answer from. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#include "core/history.h"
#include "core/text.h"

struct history {
	sqlite3 *db;
	char *path;
	bool rw;
	struct history_rw_opts o;
	uint64_t other_id;
	int schema;	       /* schema_version of the file (HISTORY_SCHEMA_VERSION once rw) */
	unsigned writes;       /* minutes written by this process */
	sqlite3_stmt *name_st; /* interning a name, prepared once */
};

const char *history_path(const char *flag)
{
	const char *env = getenv("NETSPY_HISTORY");

	if (flag && flag[0])
		return flag;
	return env && env[0] ? env : HISTORY_DEFAULT_PATH;
}

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);"
    "CREATE TABLE IF NOT EXISTS names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS outcomes(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS buckets(id INTEGER PRIMARY KEY, le_seconds REAL);"
    "CREATE TABLE IF NOT EXISTS minutes(t INTEGER PRIMARY KEY, events INTEGER NOT NULL,"
    " lost INTEGER NOT NULL, unaccounted INTEGER NOT NULL, written INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS hours(t INTEGER PRIMARY KEY, minutes INTEGER NOT NULL);"
#define CONN_COLS                                                                                \
	"(t INTEGER NOT NULL, process INTEGER NOT NULL, unit INTEGER, destination INTEGER NOT "  \
	"NULL, protocol INTEGER NOT NULL, outcome INTEGER NOT NULL, direction INTEGER NOT NULL," \
	" count INTEGER NOT NULL, failed INTEGER NOT NULL)"
#define LAT_COLS                                                                                \
	"(t INTEGER NOT NULL, process INTEGER NOT NULL, unit INTEGER, bucket INTEGER NOT NULL," \
	" count INTEGER NOT NULL, sum_us INTEGER NOT NULL)"
#define DROP_COLS                                                                           \
	"(t INTEGER NOT NULL, reason INTEGER NOT NULL, protocol INTEGER NOT NULL, process " \
	"INTEGER, unit INTEGER, count INTEGER NOT NULL)"
#define DNS_COLS                                                                               \
	"(t INTEGER NOT NULL, process INTEGER, unit INTEGER, name INTEGER NOT NULL, rcode INTEGER" \
	" NOT NULL, count INTEGER NOT NULL)"
#define TCP_COLS                                                                              \
	"(t INTEGER NOT NULL, process INTEGER, unit INTEGER, destination INTEGER NOT NULL,"    \
	" direction INTEGER NOT NULL, ended_closed INTEGER NOT NULL, ended_reset_sent INTEGER" \
	" NOT NULL, ended_reset_received INTEGER NOT NULL, ended_timeout INTEGER NOT NULL,"    \
	" bytes_sent INTEGER NOT NULL, bytes_received INTEGER NOT NULL, segs_out INTEGER NOT"  \
	" NULL, end_retransmits INTEGER NOT NULL, retransmits INTEGER NOT NULL, resets_sent"   \
	" INTEGER NOT NULL, resets_received INTEGER NOT NULL)"
    "CREATE TABLE IF NOT EXISTS conn_minute" CONN_COLS ";"
    "CREATE TABLE IF NOT EXISTS conn_hour" CONN_COLS ";"
    "CREATE TABLE IF NOT EXISTS latency_minute" LAT_COLS ";"
    "CREATE TABLE IF NOT EXISTS latency_hour" LAT_COLS ";"
    "CREATE TABLE IF NOT EXISTS drop_minute" DROP_COLS ";"
    "CREATE TABLE IF NOT EXISTS drop_hour" DROP_COLS ";"
    "CREATE INDEX IF NOT EXISTS conn_minute_t ON conn_minute(t);"
    "CREATE INDEX IF NOT EXISTS conn_hour_t ON conn_hour(t);"
    "CREATE INDEX IF NOT EXISTS latency_minute_t ON latency_minute(t);"
    "CREATE INDEX IF NOT EXISTS latency_hour_t ON latency_hour(t);"
    "CREATE INDEX IF NOT EXISTS drop_minute_t ON drop_minute(t);"
    "CREATE INDEX IF NOT EXISTS drop_hour_t ON drop_hour(t);"
    /* schema 2 */
    "CREATE TABLE IF NOT EXISTS dns_minute" DNS_COLS ";"
    "CREATE TABLE IF NOT EXISTS dns_hour" DNS_COLS ";"
    "CREATE TABLE IF NOT EXISTS dns_latency_minute" LAT_COLS ";"
    "CREATE TABLE IF NOT EXISTS dns_latency_hour" LAT_COLS ";"
    "CREATE TABLE IF NOT EXISTS tcp_minute" TCP_COLS ";"
    "CREATE TABLE IF NOT EXISTS tcp_hour" TCP_COLS ";"
    "CREATE TABLE IF NOT EXISTS rtt_minute" LAT_COLS ";"
    "CREATE TABLE IF NOT EXISTS rtt_hour" LAT_COLS ";"
    "CREATE INDEX IF NOT EXISTS dns_minute_t ON dns_minute(t);"
    "CREATE INDEX IF NOT EXISTS dns_hour_t ON dns_hour(t);"
    "CREATE INDEX IF NOT EXISTS dns_latency_minute_t ON dns_latency_minute(t);"
    "CREATE INDEX IF NOT EXISTS dns_latency_hour_t ON dns_latency_hour(t);"
    "CREATE INDEX IF NOT EXISTS tcp_minute_t ON tcp_minute(t);"
    "CREATE INDEX IF NOT EXISTS tcp_hour_t ON tcp_hour(t);"
    "CREATE INDEX IF NOT EXISTS rtt_minute_t ON rtt_minute(t);"
    "CREATE INDEX IF NOT EXISTS rtt_hour_t ON rtt_hour(t);"
    /* Views for people with sqlite3: names instead of ids, times as text. */
    "CREATE VIEW IF NOT EXISTS connections AS SELECT datetime(c.t,'unixepoch') AS minute,"
    " p.name AS process, u.name AS unit, d.name AS destination, c.protocol, o.name AS outcome,"
    " CASE c.direction WHEN 1 THEN 'inbound' ELSE 'outbound' END AS direction, c.count,"
    " c.failed FROM conn_minute c JOIN names p ON p.id=c.process LEFT JOIN names u ON"
    " u.id=c.unit JOIN names d ON d.id=c.destination JOIN outcomes o ON o.id=c.outcome;"
    "CREATE VIEW IF NOT EXISTS drops AS SELECT datetime(x.t,'unixepoch') AS minute,"
    " r.name AS reason, x.protocol, p.name AS process, u.name AS unit, x.count FROM"
    " drop_minute x JOIN names r ON r.id=x.reason LEFT JOIN names p ON p.id=x.process"
    " LEFT JOIN names u ON u.id=x.unit;"
    "CREATE VIEW IF NOT EXISTS latency AS SELECT datetime(l.t,'unixepoch') AS minute,"
    " p.name AS process, u.name AS unit, b.le_seconds, l.count, l.sum_us FROM latency_minute"
    " l JOIN names p ON p.id=l.process LEFT JOIN names u ON u.id=l.unit JOIN buckets b ON"
    " b.id=l.bucket;"
    "CREATE VIEW IF NOT EXISTS dns_queries AS SELECT datetime(q.t,'unixepoch') AS minute,"
    " p.name AS process, u.name AS unit, n.name AS name, CASE WHEN q.rcode<0 THEN"
    " 'unanswered' ELSE q.rcode END AS rcode, q.count FROM dns_minute q LEFT JOIN names p ON"
    " p.id=q.process LEFT JOIN names u ON u.id=q.unit JOIN names n ON n.id=q.name;"
    "CREATE VIEW IF NOT EXISTS tcp_quality AS SELECT datetime(x.t,'unixepoch') AS minute,"
    " p.name AS process, u.name AS unit, d.name AS destination, CASE x.direction WHEN 1 THEN"
    " 'inbound' ELSE 'outbound' END AS direction, x.ended_closed+x.ended_reset_sent+"
    "x.ended_reset_received+x.ended_timeout AS ended, x.bytes_sent, x.bytes_received,"
    " x.retransmits, x.resets_sent, x.resets_received FROM tcp_minute x LEFT JOIN names p ON"
    " p.id=x.process LEFT JOIN names u ON u.id=x.unit JOIN names d ON d.id=x.destination;";

static int sql_error(struct history *h, int rc, const char *what, char **ret_error)
{
	if (ret_error)
		*ret_error = text_printf("history %s: %s: %s", h->path, what,
					 h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED	    ? -EBUSY
	       : rc == SQLITE_FULL			    ? -ENOSPC
	       : rc == SQLITE_READONLY || rc == SQLITE_PERM ? -EACCES
	       : rc == SQLITE_CANTOPEN			    ? -ENOENT
	       : rc == SQLITE_NOMEM			    ? -ENOMEM
							    : -EIO;
}

static int exec(struct history *h, const char *sql, char **ret_error)
{
	int rc = sqlite3_exec(h->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sql_error(h, rc, "executing", ret_error);
}

static int prepare(struct history *h, const char *sql, sqlite3_stmt **st, char **ret_error)
{
	int rc = sqlite3_prepare_v2(h->db, sql, -1, st, NULL);

	return rc == SQLITE_OK ? 0 : sql_error(h, rc, "preparing a query", ret_error);
}

/* One integer from a query with no parameters (def when no row). */
static int64_t query_int(struct history *h, const char *sql, int64_t def)
{
	sqlite3_stmt *st;
	int64_t v = def;

	if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK)
		return def;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void history_free(struct history *h)
{
	if (!h)
		return;
	sqlite3_finalize(h->name_st);
	if (h->db)
		sqlite3_close_v2(h->db);
	free(h->path);
	free(h);
}

void history_close(struct history *h)
{
	if (h && h->db && h->rw)
		sqlite3_exec(h->db, "PRAGMA optimize;", NULL, NULL, NULL);
	history_free(h);
}

static struct history *history_new(const char *path)
{
	struct history *h = calloc(1, sizeof(*h));

	if (h && !(h->path = strdup(path))) {
		free(h);
		h = NULL;
	}
	return h;
}

/* 0 when quick_check says "ok", -EUCLEAN when the file is damaged or not a database. */
static int check(struct history *h)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(h->db, "PRAGMA quick_check;", -1, &st, NULL), r = -EUCLEAN;

	if (rc != SQLITE_OK)
		return rc == SQLITE_BUSY ? -EBUSY : -EUCLEAN;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "ok"))
		r = 0;
	else if (rc == SQLITE_BUSY)
		r = -EBUSY;
	sqlite3_finalize(st);
	return r;
}

static int name_id(struct history *h, const char *name, uint64_t *ret, char **ret_error);

static int init_schema(struct history *h, char **ret_error)
{
	static const char *const outcomes[] = {
#define OUT_NAME_(n) #n,
		FMT_OUTCOME_NAMES(OUT_NAME_, OUT_NAME_)
#undef OUT_NAME_
	};
	char sql[160];
	int64_t version;
	int r;

	/* A file from an older recorder is migrated (schema_sql adds what it lacks, in the same
	 * transaction as the new version number); one from a newer recorder is left alone. */
	version = query_int(h, "SELECT value FROM meta WHERE key='schema_version'", 0);
	if (version > HISTORY_SCHEMA_VERSION) {
		*ret_error = text_printf("history %s has schema version %lld, newer than this "
					 "netspy's (%d): use the netspy that wrote it, or another "
					 "--state-dir",
					 h->path, (long long)version, HISTORY_SCHEMA_VERSION);
		return -EPROTO;
	}
	/* auto_vacuum only takes effect before the first table: a new file gets it. */
	r = exec(h,
		 "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"
		 " PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=4194304;",
		 ret_error);
	if (r == 0)
		r = exec(h, "BEGIN IMMEDIATE;", ret_error);
	if (r < 0)
		return r;
	r = exec(h, schema_sql, ret_error);
	for (int i = 0; r == 0 && i < STORE_N_OUTCOMES; i++) {
		snprintf(sql, sizeof(sql),
			 "INSERT OR REPLACE INTO outcomes(id,name) VALUES(%d,'%s');", i,
			 outcomes[i]);
		r = exec(h, sql, ret_error);
	}
	for (int i = 0; r == 0 && i < HISTORY_N_BUCKETS; i++) {
		if (i == HISTORY_N_BUCKETS - 1)
			snprintf(sql, sizeof(sql),
				 "INSERT OR REPLACE INTO buckets(id,le_seconds) VALUES(%d,NULL);",
				 i);
		else
			snprintf(sql, sizeof(sql),
				 "INSERT OR REPLACE INTO buckets(id,le_seconds) VALUES(%d,%.4f);",
				 i, (double)history_bucket_us[i] / 1e6);
		r = exec(h, sql, ret_error);
	}
	if (r == 0) {
		snprintf(sql, sizeof(sql),
			 "INSERT OR REPLACE INTO meta(key,value) VALUES('schema_version',%d);",
			 HISTORY_SCHEMA_VERSION);
		r = exec(h, sql, ret_error);
	}
	if (r == 0 && version > 0 && version < HISTORY_SCHEMA_VERSION) {
		snprintf(sql, sizeof(sql),
			 "INSERT OR REPLACE INTO meta(key,value) VALUES('migrated_from',%lld);",
			 (long long)version);
		r = exec(h, sql, ret_error);
	}
	if (r == 0)
		h->schema = HISTORY_SCHEMA_VERSION;
	if (r == 0)
		r = name_id(h, HISTORY_OTHER, &h->other_id, ret_error);
	if (r == 0)
		return exec(h, "COMMIT;", ret_error);
	sqlite3_exec(h->db, "ROLLBACK;", NULL, NULL, NULL);
	return r;
}

static int open_db(struct history *h, int flags)
{
	int rc = sqlite3_open_v2(h->path, &h->db, flags, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(h->db, 5000);
		sqlite3_extended_result_codes(h->db, 0);
		/* The file is input like any other: no schema that runs functions, no writes that
		 * could damage it further, cells checked as they are read. */
		sqlite3_db_config(h->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
		sqlite3_db_config(h->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
		sqlite3_exec(h->db, "PRAGMA cell_size_check=ON;", NULL, NULL, NULL);
	}
	return rc;
}

/* Renames path and its WAL and shared-memory files aside. */
static int move_aside(const char *path, char **ret_moved)
{
	char *to = text_printf("%s.corrupt-%lld", path, (long long)time(NULL)), *a, *b;
	int r = 0;

	if (!to)
		return -ENOMEM;
	if (rename(path, to) < 0 && errno != ENOENT)
		r = -errno;
	for (int i = 0; r == 0 && i < 2; i++) {
		const char *sfx = i ? "-shm" : "-wal";

		a = text_printf("%s%s", path, sfx);
		b = text_printf("%s%s", to, sfx);
		if (a && b)
			rename(a, b); /* absent when the file was not in WAL mode */
		free(a);
		free(b);
	}
	if (r < 0)
		free(to);
	else
		*ret_moved = to;
	return r;
}

int history_open_rw(const char *path, const struct history_rw_opts *o, struct history **ret,
		    char **ret_moved, char **ret_error)
{
	struct history *h = history_new(path);
	int r, rc;

	*ret_moved = NULL;
	if (!h)
		return -ENOMEM;
	h->rw = true;
	h->o = *o;
	for (int attempt = 0;; attempt++) {
		rc = open_db(h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
		if (rc != SQLITE_OK) {
			r = sql_error(h, rc, "opening", ret_error);
			history_free(h);
			return r;
		}
		r = check(h);
		if (r == 0) {
			r = init_schema(h, ret_error);
			if (r == 0 || r != -EIO)
				break;
			/* the schema cannot be written into this file: damaged too */
			free(*ret_error);
			*ret_error = NULL;
			r = -EUCLEAN;
		}
		if (r != -EUCLEAN || attempt) {
			if (r == -EUCLEAN)
				*ret_error = text_printf("history %s: still damaged after "
							 "replacing it",
							 path);
			else if (!*ret_error)
				*ret_error = text_printf("history %s: %s", path, strerror(-r));
			history_free(h);
			return r;
		}
		sqlite3_finalize(h->name_st);
		h->name_st = NULL;
		sqlite3_close_v2(h->db);
		h->db = NULL;
		r = move_aside(path, ret_moved);
		if (r < 0) {
			*ret_error = text_printf("history %s is damaged and cannot be moved "
						 "aside: %s",
						 path, strerror(-r));
			history_free(h);
			return r;
		}
	}
	if (r < 0) {
		history_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

int history_open_ro(const char *path, struct history **ret, char **ret_error)
{
	struct history *h;
	struct stat sb;
	int rc, r;

	if (stat(path, &sb) < 0) {
		r = -errno;
		*ret_error = text_printf("no history at %s (%s): is netspy-recorder running?", path,
					 strerror(-r));
		return r;
	}
	h = history_new(path);
	if (!h)
		return -ENOMEM;
	rc = open_db(h, SQLITE_OPEN_READONLY);
	if (rc == SQLITE_OK &&
	    query_int(h, "SELECT value FROM meta WHERE key='schema_version'", -1) < 0)
		rc = SQLITE_NOTADB;
	if (rc != SQLITE_OK) {
		r = sql_error(h, rc, "opening", ret_error);
		history_free(h);
		return r;
	}
	h->other_id = (uint64_t)query_int(h, "SELECT id FROM names WHERE name='other'", 0);
	h->schema = (int)query_int(h, "SELECT value FROM meta WHERE key='schema_version'", 1);
	*ret = h;
	return 0;
}

int history_schema(const struct history *h)
{
	return h->schema;
}

/* ---- writing ---- */

static int name_id(struct history *h, const char *name, uint64_t *ret, char **ret_error)
{
	static const char ins[] = "INSERT INTO names(name) VALUES(?1) ON CONFLICT(name) DO "
				  "UPDATE SET name=name RETURNING id;";
	int rc, r = h->name_st ? 0 : prepare(h, ins, &h->name_st, ret_error);

	if (r < 0)
		return r;
	sqlite3_bind_text(h->name_st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(h->name_st);
	if (rc == SQLITE_ROW) {
		*ret = (uint64_t)sqlite3_column_int64(h->name_st, 0);
		rc = sqlite3_step(h->name_st);
	}
	sqlite3_reset(h->name_st);
	sqlite3_clear_bindings(h->name_st);
	return rc == SQLITE_DONE ? 0 : sql_error(h, rc, "storing a name", ret_error);
}

static void bind_name(struct history *h, sqlite3_stmt *st, int col, const char *name, int *r,
		      char **ret_error)
{
	uint64_t id;

	if (!name) {
		sqlite3_bind_null(st, col);
		return;
	}
	if (*r == 0)
		*r = name_id(h, name, &id, ret_error);
	if (*r == 0)
		sqlite3_bind_int64(st, col, (int64_t)id);
}

static int step_reset(struct history *h, sqlite3_stmt *st, char **ret_error)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : sql_error(h, rc, "writing", ret_error);
}

/* Histogram rows (latency_minute's shape): one row per non-empty bucket, the sum with the first. */
static int write_hist(struct history *h, sqlite3_stmt *l, uint64_t t,
		      const struct history_latency_row *rows, size_t n, char **ret_error)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct history_latency_row *x = &rows[i];
		bool first = true;

		for (int b = 0; r == 0 && b < HISTORY_N_BUCKETS; b++) {
			if (!x->buckets[b])
				continue;
			sqlite3_bind_int64(l, 1, (int64_t)t);
			bind_name(h, l, 2, x->process, &r, ret_error);
			bind_name(h, l, 3, x->unit, &r, ret_error);
			sqlite3_bind_int(l, 4, b);
			sqlite3_bind_int64(l, 5, (int64_t)x->buckets[b]);
			sqlite3_bind_int64(l, 6, first ? (int64_t)x->sum_us : 0);
			first = false;
			if (r == 0)
				r = step_reset(h, l, ret_error);
		}
	}
	return r;
}

/* The schema 2 tables of a minute. */
static int write_rows2(struct history *h, const struct history_minute *m, char **ret_error)
{
	sqlite3_stmt *d = NULL, *dl = NULL, *tc = NULL, *rt = NULL;
	int r = prepare(h, "INSERT INTO dns_minute VALUES(?1,?2,?3,?4,?5,?6);", &d, ret_error);

	if (r == 0)
		r = prepare(h, "INSERT INTO dns_latency_minute VALUES(?1,?2,?3,?4,?5,?6);", &dl,
			    ret_error);
	if (r == 0)
		r = prepare(h,
			    "INSERT INTO tcp_minute VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
			    "?13,?14,?15,?16);",
			    &tc, ret_error);
	if (r == 0)
		r = prepare(h, "INSERT INTO rtt_minute VALUES(?1,?2,?3,?4,?5,?6);", &rt, ret_error);
	for (size_t i = 0; r == 0 && i < m->n_dns; i++) {
		const struct history_dns_row *x = &m->dns[i];

		sqlite3_bind_int64(d, 1, (int64_t)m->t);
		bind_name(h, d, 2, x->process, &r, ret_error);
		bind_name(h, d, 3, x->unit, &r, ret_error);
		bind_name(h, d, 4, x->name ? x->name : "", &r, ret_error);
		sqlite3_bind_int(d, 5, x->rcode);
		sqlite3_bind_int64(d, 6, (int64_t)x->count);
		if (r == 0)
			r = step_reset(h, d, ret_error);
	}
	if (r == 0)
		r = write_hist(h, dl, m->t, m->dns_latency, m->n_dns_latency, ret_error);
	for (size_t i = 0; r == 0 && i < m->n_tcp; i++) {
		const struct history_tcp_row *x = &m->tcp[i];
		const uint64_t v[] = { x->ended[STORE_END_CLOSED],
				       x->ended[STORE_END_RESET_SENT],
				       x->ended[STORE_END_RESET_RECEIVED],
				       x->ended[STORE_END_TIMEOUT],
				       x->bytes_sent,
				       x->bytes_received,
				       x->segs_out,
				       x->end_retransmits,
				       x->retransmits,
				       x->resets_sent,
				       x->resets_received };

		sqlite3_bind_int64(tc, 1, (int64_t)m->t);
		bind_name(h, tc, 2, x->process, &r, ret_error);
		bind_name(h, tc, 3, x->unit, &r, ret_error);
		bind_name(h, tc, 4, x->destination ? x->destination : "", &r, ret_error);
		sqlite3_bind_int(tc, 5, x->direction);
		for (int k = 0; k < (int)(sizeof(v) / sizeof(v[0])); k++)
			sqlite3_bind_int64(tc, 6 + k, (int64_t)v[k]);
		if (r == 0)
			r = step_reset(h, tc, ret_error);
	}
	if (r == 0)
		r = write_hist(h, rt, m->t, m->rtt, m->n_rtt, ret_error);
	sqlite3_finalize(d);
	sqlite3_finalize(dl);
	sqlite3_finalize(tc);
	sqlite3_finalize(rt);
	return r;
}

static int write_rows(struct history *h, const struct history_minute *m, char **ret_error)
{
	sqlite3_stmt *c = NULL, *l = NULL, *d = NULL, *mi = NULL;
	int r = prepare(h, "INSERT INTO conn_minute VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9);", &c,
			ret_error);

	if (r == 0)
		r = prepare(h, "INSERT INTO latency_minute VALUES(?1,?2,?3,?4,?5,?6);", &l,
			    ret_error);
	if (r == 0)
		r = prepare(h, "INSERT INTO drop_minute VALUES(?1,?2,?3,?4,?5,?6);", &d, ret_error);
	if (r == 0)
		r = prepare(h,
			    "INSERT OR REPLACE INTO minutes(t,events,lost,unaccounted,written) "
			    "VALUES(?1,?2,?3,?4,?5);",
			    &mi, ret_error);
	for (size_t i = 0; r == 0 && i < m->n_conns; i++) {
		const struct history_conn_row *x = &m->conns[i];

		sqlite3_bind_int64(c, 1, (int64_t)m->t);
		bind_name(h, c, 2, x->process, &r, ret_error);
		bind_name(h, c, 3, x->unit, &r, ret_error);
		bind_name(h, c, 4, x->destination, &r, ret_error);
		sqlite3_bind_int(c, 5, x->protocol);
		sqlite3_bind_int(c, 6, x->outcome);
		sqlite3_bind_int(c, 7, x->direction);
		sqlite3_bind_int64(c, 8, (int64_t)x->count);
		sqlite3_bind_int64(c, 9, (int64_t)x->failed);
		if (r == 0)
			r = step_reset(h, c, ret_error);
	}
	if (r == 0)
		r = write_hist(h, l, m->t, m->latency, m->n_latency, ret_error);
	for (size_t i = 0; r == 0 && i < m->n_drops; i++) {
		const struct history_drop_row *x = &m->drops[i];

		sqlite3_bind_int64(d, 1, (int64_t)m->t);
		bind_name(h, d, 2, x->reason, &r, ret_error);
		sqlite3_bind_int(d, 3, x->protocol);
		bind_name(h, d, 4, x->process, &r, ret_error);
		bind_name(h, d, 5, x->unit, &r, ret_error);
		sqlite3_bind_int64(d, 6, (int64_t)x->count);
		if (r == 0)
			r = step_reset(h, d, ret_error);
	}
	if (r == 0)
		r = write_rows2(h, m, ret_error);
	if (r == 0) {
		sqlite3_bind_int64(mi, 1, (int64_t)m->t);
		sqlite3_bind_int64(mi, 2, (int64_t)m->events);
		sqlite3_bind_int64(mi, 3, (int64_t)m->lost);
		sqlite3_bind_int64(mi, 4, (int64_t)m->unaccounted);
		sqlite3_bind_int64(mi, 5, (int64_t)time(NULL));
		r = step_reset(h, mi, ret_error);
	}
	sqlite3_finalize(c);
	sqlite3_finalize(l);
	sqlite3_finalize(d);
	sqlite3_finalize(mi);
	return r;
}

/* A histogram table's hour from its minutes (latency_minute's shape). */
#define LAT_HOUR(min, hour)                                                                   \
	"WITH p AS (SELECT process, unit, row_number() OVER (ORDER BY sum(count) DESC) AS"    \
	" rk FROM " min " WHERE t>=?1 AND t<?2 GROUP BY process, unit)"                       \
	" INSERT INTO " hour " SELECT ?1, CASE WHEN p.rk<=?3 THEN m.process ELSE ?4"           \
	" END, CASE WHEN p.rk<=?3 THEN m.unit ELSE ?4 END, m.bucket, sum(m.count),"            \
	" sum(m.sum_us) FROM " min " m JOIN p ON p.process=m.process AND p.unit IS"            \
	" m.unit WHERE m.t>=?1 AND m.t<?2 GROUP BY 2,3,4;"

/* The hour starting at hour from its minutes, past max_keys keys per table summed as "other". */
static int rollup_hour(struct history *h, uint64_t hour, char **ret_error)
{
	static const char *const sql[] = {
		"INSERT INTO conn_hour SELECT ?1, CASE WHEN rk<=?3 THEN process ELSE ?4 END,"
		" CASE WHEN rk<=?3 THEN unit ELSE ?4 END, CASE WHEN rk<=?3 THEN destination ELSE"
		" ?4 END, protocol, outcome, direction, sum(c), sum(f) FROM (SELECT process, unit,"
		" destination, protocol, outcome, direction, sum(count) AS c, sum(failed) AS f,"
		" row_number() OVER (ORDER BY sum(count) DESC) AS rk FROM conn_minute WHERE t>=?1"
		" AND t<?2 GROUP BY process, unit, destination, protocol, outcome, direction)"
		" GROUP BY 2,3,4,5,6,7;",
		LAT_HOUR("latency_minute", "latency_hour"),
		"INSERT INTO drop_hour SELECT ?1, reason, protocol, CASE WHEN rk<=?3 THEN process"
		" ELSE ?4 END, CASE WHEN rk<=?3 THEN unit ELSE ?4 END, sum(c) FROM (SELECT reason,"
		" protocol, process, unit, sum(count) AS c, row_number() OVER (ORDER BY sum(count)"
		" DESC) AS rk FROM drop_minute WHERE t>=?1 AND t<?2 GROUP BY reason, protocol,"
		" process, unit) GROUP BY 2,3,4,5;",
		"INSERT INTO dns_hour SELECT ?1, CASE WHEN rk<=?3 THEN process ELSE ?4 END,"
		" CASE WHEN rk<=?3 THEN unit ELSE ?4 END, CASE WHEN rk<=?3 THEN name ELSE ?4 END,"
		" rcode, sum(c) FROM (SELECT process, unit, name, rcode, sum(count) AS c,"
		" row_number() OVER (ORDER BY sum(count) DESC) AS rk FROM dns_minute WHERE t>=?1"
		" AND t<?2 GROUP BY process, unit, name, rcode) GROUP BY 2,3,4,5;",
		LAT_HOUR("dns_latency_minute", "dns_latency_hour"),
		"INSERT INTO tcp_hour SELECT ?1, CASE WHEN rk<=?3 THEN process ELSE ?4 END,"
		" CASE WHEN rk<=?3 THEN unit ELSE ?4 END, CASE WHEN rk<=?3 THEN destination ELSE"
		" ?4 END, direction, sum(a), sum(b), sum(c), sum(d), sum(e), sum(f), sum(g),"
		" sum(h), sum(i), sum(j), sum(k) FROM (SELECT process, unit, destination,"
		" direction, sum(ended_closed) AS a, sum(ended_reset_sent) AS b,"
		" sum(ended_reset_received) AS c, sum(ended_timeout) AS d, sum(bytes_sent) AS e,"
		" sum(bytes_received) AS f, sum(segs_out) AS g, sum(end_retransmits) AS h,"
		" sum(retransmits) AS i, sum(resets_sent) AS j, sum(resets_received) AS k,"
		" row_number() OVER (ORDER BY sum(ended_closed+ended_reset_sent+"
		"ended_reset_received+ended_timeout+retransmits+resets_sent+resets_received) DESC)"
		" AS rk FROM tcp_minute WHERE t>=?1 AND t<?2 GROUP BY process, unit, destination,"
		" direction) GROUP BY 2,3,4,5;",
		LAT_HOUR("rtt_minute", "rtt_hour"),
		"INSERT OR REPLACE INTO hours(t, minutes) SELECT ?1, count(*) FROM minutes WHERE"
		" t>=?1 AND t<?2;",
	};
	int r = 0;

	for (size_t i = 0; r == 0 && i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *st;

		r = prepare(h, sql[i], &st, ret_error);
		if (r < 0)
			break;
		sqlite3_bind_int64(st, 1, (int64_t)hour);
		sqlite3_bind_int64(st, 2, (int64_t)hour + 3600);
		sqlite3_bind_int64(st, 3, h->o.max_keys ? h->o.max_keys : INT_MAX);
		sqlite3_bind_int64(st, 4, (int64_t)h->other_id);
		r = step_reset(h, st, ret_error);
		sqlite3_finalize(st);
	}
	return r;
}

/* Every hour before the current minute's hour that has minutes but no aggregate yet. */
static int rollup_hours(struct history *h, uint64_t t, char **ret_error)
{
	sqlite3_stmt *st;
	uint64_t hours[32];
	size_t n = 0;
	int r = prepare(h,
			"SELECT DISTINCT (t/3600)*3600 AS hr FROM minutes WHERE t<?1 AND hr NOT IN"
			" (SELECT t FROM hours) ORDER BY hr LIMIT 32;",
			&st, ret_error);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (int64_t)(t / 3600 * 3600));
	while (sqlite3_step(st) == SQLITE_ROW && n < 32)
		hours[n++] = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = rollup_hour(h, hours[i], ret_error);
	return r;
}

static uint64_t file_size(const char *path, const char *suffix)
{
	char *p = text_printf("%s%s", path, suffix);
	struct stat sb;
	uint64_t n = 0;

	if (p && stat(p, &sb) == 0)
		n = (uint64_t)sb.st_size;
	free(p);
	return n;
}

/* Bytes the data takes: pages in use (free pages are reused, then given back by
 * incremental_vacuum). The WAL is bounded on its own (journal_size_limit). */
static uint64_t used_bytes(struct history *h)
{
	int64_t pages = query_int(h, "PRAGMA page_count;", 0),
		freel = query_int(h, "PRAGMA freelist_count;", 0),
		psize = query_int(h, "PRAGMA page_size;", 4096);

	return (uint64_t)((pages - freel) * psize);
}

static int exec_t(struct history *h, const char *sql, uint64_t t, char **ret_error)
{
	sqlite3_stmt *st;
	int r = prepare(h, sql, &st, ret_error);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (int64_t)t);
	r = step_reset(h, st, ret_error);
	sqlite3_finalize(st);
	return r;
}

/* Every table of rows by minute and by hour (their names end in _minute and _hour). */
static const char *const tables[] = { "conn", "latency", "drop", "dns", "dns_latency", "tcp",
				      "rtt" };
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

static int delete_rows(struct history *h, const char *level, const char *op, uint64_t t,
		       char **ret_error)
{
	char sql[96];
	int r = 0;

	for (size_t i = 0; r == 0 && i < N_TABLES; i++) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s_%s WHERE t%s?1;", tables[i], level, op);
		r = exec_t(h, sql, t, ret_error);
	}
	return r;
}

static int delete_before(struct history *h, uint64_t t, bool minutes, bool hours, char **ret_error)
{
	int r = 0;

	if (minutes)
		r = delete_rows(h, "minute", "<", t, ret_error);
	if (r == 0 && minutes)
		r = exec_t(h, "DELETE FROM minutes WHERE t<?1;", t, ret_error);
	if (r == 0 && hours)
		r = delete_rows(h, "hour", "<", t, ret_error);
	if (r == 0 && hours)
		r = exec_t(h, "DELETE FROM hours WHERE t<?1;", t, ret_error);
	return r;
}

/* Retention, then size: the oldest minutes go first (their hours stay), then the oldest hours. */
static int enforce_bounds(struct history *h, uint64_t now, char **ret_error)
{
	int r = 0;

	if (h->o.retention_days)
		r = delete_before(h, now - (uint64_t)h->o.retention_days * 86400, true, true,
				  ret_error);
	for (int i = 0; r == 0 && h->o.max_size && i < 10000 && used_bytes(h) > h->o.max_size;
	     i++) {
		int64_t oldest_min = query_int(h, "SELECT min(t) FROM minutes;", -1),
			newest_hour = query_int(h, "SELECT max(t) FROM hours;", -1),
			oldest_hour = query_int(h, "SELECT min(t) FROM hours;", -1);

		if (oldest_min >= 0 && newest_hour >= 0 && oldest_min < newest_hour + 3600)
			r = delete_before(h, (uint64_t)oldest_min / 3600 * 3600 + 3600, true, false,
					  ret_error);
		else if (oldest_hour >= 0 && oldest_hour < newest_hour)
			r = delete_before(h, (uint64_t)oldest_hour + 3600, true, true, ret_error);
		else
			break; /* only the newest hour is left: keep it */
	}
	return r;
}

int history_write_minute(struct history *h, const struct history_minute *m, char **ret_error)
{
	int r = exec(h, "BEGIN IMMEDIATE;", ret_error);

	if (r < 0)
		return r;
	r = delete_rows(h, "minute", "=", m->t, ret_error);
	if (r == 0)
		r = write_rows(h, m, ret_error);
	if (r == 0)
		r = rollup_hours(h, m->t, ret_error);
	if (r == 0 && (h->writes % 10 == 0 || h->o.max_size))
		r = enforce_bounds(h, m->t + 60, ret_error);
	if (r == 0)
		r = exec(h, "COMMIT;", ret_error);
	if (r < 0) {
		sqlite3_exec(h->db, "ROLLBACK;", NULL, NULL, NULL);
		return r;
	}
	h->writes++;
	if (h->o.max_size && h->writes % 10 == 0) {
		sqlite3_exec(h->db, "PRAGMA incremental_vacuum;", NULL, NULL, NULL);
		sqlite3_wal_checkpoint_v2(h->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return 0;
}

uint64_t history_resume_point(struct history *h)
{
	int64_t t = query_int(h, "SELECT max(t) FROM minutes;", -1);

	return t < 0 ? 0 : (uint64_t)t + 60;
}

int history_info(struct history *h, struct history_info *ret)
{
	int64_t oldest = query_int(h, "SELECT min(t) FROM minutes;", -1),
		oldest_h = query_int(h, "SELECT min(t) FROM hours;", -1),
		newest = query_int(h, "SELECT max(t) FROM minutes;", -1);

	memset(ret, 0, sizeof(*ret));
	if (oldest_h >= 0 && (oldest < 0 || oldest_h < oldest))
		oldest = oldest_h;
	ret->oldest = oldest < 0 ? 0 : (uint64_t)oldest;
	ret->newest = newest < 0 ? 0 : (uint64_t)newest;
	ret->minutes = (uint64_t)query_int(h, "SELECT count(*) FROM minutes;", 0);
	ret->hours = (uint64_t)query_int(h, "SELECT count(*) FROM hours;", 0);
	ret->updated = (uint64_t)query_int(h, "SELECT max(written) FROM minutes;", 0);
	ret->size = file_size(h->path, "");
	ret->wal_size = file_size(h->path, "-wal");
	return 0;
}

/* ---- reading ---- */

/* A new entry (names are unique in the database: no lookup needed). */
static int tops_append(struct history_tops *t, const char *name, uint64_t count, uint64_t failed)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct history_top *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n].name = strdup(name);
	if (!t->v[t->n].name)
		return -ENOMEM;
	t->v[t->n].count = count;
	t->v[t->n].tag = 0;
	t->v[t->n++].failed = failed;
	return 0;
}

int history_tops_add(struct history_tops *t, const char *name, uint64_t count, uint64_t failed)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].name, name)) {
			t->v[i].count += count;
			t->v[i].failed += failed;
			return 0;
		}
	return tops_append(t, name, count, failed);
}

static int top_cmp(const void *a, const void *b)
{
	const struct history_top *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

void history_tops_sort(struct history_tops *t)
{
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), top_cmp);
}

void history_tops_free(struct history_tops *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

void history_conn_stats_free(struct history_conn_stats *st)
{
	history_tops_free(&st->processes);
	history_tops_free(&st->destinations);
	history_tops_free(&st->refused);
	history_tops_free(&st->unreachable);
}

void history_drop_stats_free(struct history_drop_stats *st)
{
	history_tops_free(&st->reasons);
	history_tops_free(&st->processes);
}

double history_percentile_ms(const uint64_t b[HISTORY_N_BUCKETS], double q)
{
	uint64_t total = 0, seen = 0;
	double rank;

	for (int i = 0; i < HISTORY_N_BUCKETS; i++)
		total += b[i];
	if (!total)
		return 0;
	rank = q * (double)total;
	for (int i = 0; i < HISTORY_N_BUCKETS; i++) {
		double lo = i ? (double)history_bucket_us[i - 1] : 0, hi;

		if (!b[i] || (double)(seen + b[i]) < rank) {
			seen += b[i];
			continue;
		}
		if (i == HISTORY_N_BUCKETS - 1)
			return lo / 1000.0;
		hi = (double)history_bucket_us[i];
		return (lo + (hi - lo) * (rank - (double)seen) / (double)b[i]) / 1000.0;
	}
	return (double)history_bucket_us[HISTORY_N_BUCKETS - 2] / 1000.0;
}

/* Per-id sums while a query runs; names are looked up once at the end. */
struct idsum {
	int64_t id;
	uint64_t count, failed;
	int tag;
};
struct idsums {
	struct idsum *v;
	size_t n, cap; /* open addressing, cap a power of two */
};

static size_t idsum_slot(int64_t id, size_t cap)
{
	uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;

	return (size_t)(x ^ (x >> 31)) & (cap - 1);
}

static int idsums_add_tag(struct idsums *s, int64_t id, uint64_t count, uint64_t failed,
			  const int *tag);

static int idsums_add(struct idsums *s, int64_t id, uint64_t count, uint64_t failed)
{
	return idsums_add_tag(s, id, count, failed, NULL);
}

/* Adds to id's sums; a tag, when given, replaces the entry's (the latest row wins). */
static int idsums_add_tag(struct idsums *s, int64_t id, uint64_t count, uint64_t failed,
			  const int *tag)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct idsum *v = calloc(cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		for (size_t j = 0; j < s->cap; j++) {
			if (!s->v[j].id)
				continue;
			for (i = idsum_slot(s->v[j].id, cap); v[i].id; i = (i + 1) & (cap - 1))
				;
			v[i] = s->v[j];
		}
		free(s->v);
		s->v = v;
		s->cap = cap;
	}
	for (i = idsum_slot(id, s->cap); s->v[i].id && s->v[i].id != id; i = (i + 1) & (s->cap - 1))
		;
	if (!s->v[i].id) {
		s->v[i].id = id;
		s->n++;
	}
	s->v[i].count += count;
	s->v[i].failed += failed;
	if (tag)
		s->v[i].tag = *tag;
	return 0;
}

static int idsum_cmp(const void *a, const void *b)
{
	const struct idsum *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Moves the HISTORY_TOPS_MAX largest sums into named tops (ids without a name are skipped). */
static int idsums_to_tops(struct history *h, struct idsums *s, struct history_tops *t)
{
	sqlite3_stmt *st;
	size_t n = 0;
	int r = 0;

	if (sqlite3_prepare_v2(h->db, "SELECT name FROM names WHERE id=?1;", -1, &st, NULL) !=
	    SQLITE_OK) {
		free(s->v);
		memset(s, 0, sizeof(*s));
		return -EIO;
	}
	for (size_t i = 0; i < s->cap; i++) /* compact, then the largest first */
		if (s->v[i].id)
			s->v[n++] = s->v[i];
	if (n)
		qsort(s->v, n, sizeof(*s->v), idsum_cmp);
	for (size_t i = 0; r == 0 && i < n && i < HISTORY_TOPS_MAX; i++) {
		sqlite3_bind_int64(st, 1, s->v[i].id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			r = tops_append(t, (const char *)sqlite3_column_text(st, 0), s->v[i].count,
					s->v[i].failed);
			if (r == 0)
				t->v[t->n - 1].tag = s->v[i].tag;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	free(s->v);
	memset(s, 0, sizeof(*s));
	return r;
}

/* The window's pieces: [a, b) from table level (60: minutes, 3600: hours). */
struct span {
	uint64_t a, b;
	unsigned level;
};

/* Whole aggregated hours inside [since, until) come from the hour tables, the rest from minutes.
 * Returns the number of spans (at most max). */
static size_t plan(struct history *h, uint64_t since, uint64_t until, struct span *v, size_t max)
{
	uint64_t hs = (since + 3599) / 3600 * 3600, he = until / 3600 * 3600, cur = since;
	sqlite3_stmt *st;
	size_t n = 0;

	if (hs < he &&
	    sqlite3_prepare_v2(h->db, "SELECT t FROM hours WHERE t>=?1 AND t<?2 ORDER BY t;", -1,
			       &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)hs);
		sqlite3_bind_int64(st, 2, (int64_t)he);
		while (sqlite3_step(st) == SQLITE_ROW && n + 2 < max) {
			uint64_t t = (uint64_t)sqlite3_column_int64(st, 0);

			if (t > cur)
				v[n++] = (struct span){ cur, t, 60 };
			if (n && v[n - 1].level == 3600 && v[n - 1].b == t)
				v[n - 1].b = t + 3600;
			else
				v[n++] = (struct span){ t, t + 3600, 3600 };
			cur = t + 3600;
		}
		sqlite3_finalize(st);
	}
	if (cur < until && n < max)
		v[n++] = (struct span){ cur, until, 60 };
	return n;
}

/* The ids a unit filter matches ("nginx" also matches "nginx.service"); -1 when unknown. */
static void unit_ids(struct history *h, const char *unit, int64_t ids[2])
{
	sqlite3_stmt *st;

	ids[0] = ids[1] = -1;
	if (sqlite3_prepare_v2(h->db, "SELECT id FROM names WHERE name=?1 OR name=?1||'.service'",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
	for (int i = 0; i < 2 && sqlite3_step(st) == SQLITE_ROW; i++)
		ids[i] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
}

static int64_t process_id(struct history *h, const char *process)
{
	sqlite3_stmt *st;
	int64_t id = -1;
	char comm[16] = { 0 };

	/* as the kernel truncates */
	memcpy(comm, process, strnlen(process, sizeof(comm) - 1));
	if (sqlite3_prepare_v2(h->db, "SELECT id FROM names WHERE name=?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, comm, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

struct filter_ids {
	int64_t process; /* -2: no filter */
	int64_t units[2];
	bool unit;
};

static void filter_ids(struct history *h, const struct history_query *q, struct filter_ids *f)
{
	f->process = q->process ? process_id(h, q->process) : -2;
	f->unit = q->unit != NULL;
	if (f->unit)
		unit_ids(h, q->unit, f->units);
}

#define FILTER_SQL " AND (?4=-2 OR process=?4) AND (?5=0 OR unit=?6 OR unit=?7)"
/* A direction filter (?8: 0 any, 1 outbound, 2 inbound), for the tables with a direction. */
#define DIR_SQL " AND (?8=0 OR direction=?8-1)"

static void bind_filter(sqlite3_stmt *st, const struct filter_ids *f)
{
	sqlite3_bind_int64(st, 4, f->process);
	sqlite3_bind_int(st, 5, f->unit);
	sqlite3_bind_int64(st, 6, f->units[0]);
	sqlite3_bind_int64(st, 7, f->units[1]);
}

/* Minutes present in [since, until): the covered window, both ends 0 when none. */
static void covered(struct history *h, uint64_t since, uint64_t until, uint64_t *a, uint64_t *b)
{
	sqlite3_stmt *st;

	*a = *b = 0;
	if (sqlite3_prepare_v2(h->db,
			       "SELECT min(t), max(t) FROM (SELECT t FROM minutes WHERE t>=?1 AND "
			       "t<?2 UNION ALL SELECT t FROM hours WHERE t>=?1 AND t<?2);",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, (int64_t)since);
	sqlite3_bind_int64(st, 2, (int64_t)until);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*a = (uint64_t)sqlite3_column_int64(st, 0);
		*b = (uint64_t)sqlite3_column_int64(st, 1) + 60;
		if (*b > until)
			*b = until;
	}
	sqlite3_finalize(st);
	/* an hour aggregate covers its whole hour */
	if (*b && *b < until) {
		sqlite3_stmt *s2;

		if (sqlite3_prepare_v2(h->db, "SELECT max(t) FROM hours WHERE t>=?1 AND t<?2;", -1,
				       &s2, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(s2, 1, (int64_t)since);
			sqlite3_bind_int64(s2, 2, (int64_t)until);
			if (sqlite3_step(s2) == SQLITE_ROW &&
			    sqlite3_column_type(s2, 0) != SQLITE_NULL) {
				uint64_t e = (uint64_t)sqlite3_column_int64(s2, 0) + 3600;

				if (e > *b)
					*b = e < until ? e : until;
			}
			sqlite3_finalize(s2);
		}
	}
}

/* The ?8 of DIR_SQL for a STORE_DIR_* filter. */
static int history_dir(uint8_t direction)
{
	return direction == STORE_DIR_OUT ? 1 : direction == STORE_DIR_IN ? 2 : 0;
}

static void align(const struct history_query *q, uint64_t *since, uint64_t *until)
{
	*since = q->since / 60 * 60;
	*until = (q->until + 59) / 60 * 60;
}

int history_conn_stats(struct history *h, const struct history_query *q,
		       struct history_conn_stats *ret, char **ret_error)
{
	static const char *const conn_sql[2] = {
		"SELECT process, destination, protocol, outcome, count, failed, direction FROM"
		" conn_minute WHERE t>=?1 AND t<?2" FILTER_SQL DIR_SQL,
		"SELECT process, destination, protocol, outcome, count, failed, direction FROM"
		" conn_hour WHERE t>=?1 AND t<?2" FILTER_SQL DIR_SQL,
	};
	static const char *const lat_sql[2] = {
		"SELECT bucket, sum(count), sum(sum_us) FROM latency_minute WHERE t>=?1 AND "
		"t<?2" FILTER_SQL " GROUP BY bucket",
		"SELECT bucket, sum(count), sum(sum_us) FROM latency_hour WHERE t>=?1 AND "
		"t<?2" FILTER_SQL " GROUP BY bucket",
	};
	struct idsums procs = { 0 }, dests = { 0 }, refused = { 0 }, unreach = { 0 };
	struct span spans[512];
	struct filter_ids f;
	sqlite3_stmt *cs[2] = { 0 }, *ls[2] = { 0 };
	uint64_t since, until;
	size_t n;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	align(q, &since, &until);
	covered(h, since, until, &ret->covered_since, &ret->covered_until);
	ret->granularity = 60;
	sqlite3_exec(h->db, "BEGIN;", NULL, NULL, NULL); /* one snapshot, one lock */
	filter_ids(h, q, &f);
	n = plan(h, since, until, spans, sizeof(spans) / sizeof(spans[0]));
	for (int i = 0; r == 0 && i < 2; i++) {
		r = prepare(h, conn_sql[i], &cs[i], ret_error);
		if (r == 0)
			r = prepare(h, lat_sql[i], &ls[i], ret_error);
	}
	for (size_t k = 0; r == 0 && k < n; k++) {
		int lv = spans[k].level == 3600;
		sqlite3_stmt *st = cs[lv];
		int rc;

		if (lv)
			ret->granularity = 3600;
		sqlite3_bind_int64(st, 1, (int64_t)spans[k].a);
		sqlite3_bind_int64(st, 2, (int64_t)spans[k].b);
		bind_filter(st, &f);
		sqlite3_bind_int(st, 8, history_dir(q->direction));
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t proc = sqlite3_column_int64(st, 0),
				dst = sqlite3_column_int64(st, 1);
			int proto = sqlite3_column_int(st, 2) & 0xff,
			    outcome = sqlite3_column_int(st, 3);
			uint64_t c = (uint64_t)sqlite3_column_int64(st, 4),
				 fl = (uint64_t)sqlite3_column_int64(st, 5);

			if (outcome < 0 || outcome >= STORE_N_OUTCOMES)
				outcome = 6; /* "error": a row this version does not know */
			ret->total += c;
			ret->failed += fl;
			ret->by_proto[proto] += c;
			ret->by_outcome[outcome] += c;
			ret->by_direction[sqlite3_column_int(st, 6) == HISTORY_DIR_INBOUND] += c;
			r = idsums_add(&procs, proc, c, fl);
			if (!q->detail)
				continue;
			if (r == 0)
				r = idsums_add(&dests, dst, c, fl);
			if (r == 0 && outcome == 2 && fl)
				r = idsums_add(&refused, dst, fl, fl);
			if (r == 0 && (outcome == 3 || outcome == 4) && fl)
				r = idsums_add(&unreach, dst, fl, fl);
		}
		sqlite3_reset(st);
		/* handshake latency is an outbound connect's: none for accepted connections */
		if (q->direction == STORE_DIR_IN)
			continue;
		st = ls[lv];
		sqlite3_bind_int64(st, 1, (int64_t)spans[k].a);
		sqlite3_bind_int64(st, 2, (int64_t)spans[k].b);
		bind_filter(st, &f);
		while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
			int b = sqlite3_column_int(st, 0);

			if (b >= 0 && b < HISTORY_N_BUCKETS)
				ret->buckets[b] += (uint64_t)sqlite3_column_int64(st, 1);
			ret->sum_us += (uint64_t)sqlite3_column_int64(st, 2);
		}
		sqlite3_reset(st);
	}
	for (int i = 0; i < 2; i++) {
		sqlite3_finalize(cs[i]);
		sqlite3_finalize(ls[i]);
	}
	if (r == 0)
		r = idsums_to_tops(h, &procs, &ret->processes);
	if (r == 0)
		r = idsums_to_tops(h, &dests, &ret->destinations);
	if (r == 0)
		r = idsums_to_tops(h, &refused, &ret->refused);
	if (r == 0)
		r = idsums_to_tops(h, &unreach, &ret->unreachable);
	sqlite3_exec(h->db, "COMMIT;", NULL, NULL, NULL);
	free(procs.v);
	free(dests.v);
	free(refused.v);
	free(unreach.v);
	if (r < 0) {
		if (!*ret_error)
			*ret_error = text_printf("history %s: %s", h->path, strerror(-r));
		history_conn_stats_free(ret);
	}
	return r;
}

int history_drop_stats(struct history *h, const struct history_query *q,
		       struct history_drop_stats *ret, char **ret_error)
{
	static const char *const sql[2] = {
		"SELECT reason, protocol, process, count FROM drop_minute WHERE t>=?1 AND "
		"t<?2" FILTER_SQL,
		"SELECT reason, protocol, process, count FROM drop_hour WHERE t>=?1 AND "
		"t<?2" FILTER_SQL,
	};
	struct idsums reasons = { 0 }, procs = { 0 };
	struct span spans[512];
	struct filter_ids f;
	sqlite3_stmt *ds[2] = { 0 };
	uint64_t since, until;
	size_t n;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	align(q, &since, &until);
	covered(h, since, until, &ret->covered_since, &ret->covered_until);
	ret->granularity = 60;
	sqlite3_exec(h->db, "BEGIN;", NULL, NULL, NULL); /* one snapshot, one lock */
	filter_ids(h, q, &f);
	n = plan(h, since, until, spans, sizeof(spans) / sizeof(spans[0]));
	for (int i = 0; r == 0 && i < 2; i++)
		r = prepare(h, sql[i], &ds[i], ret_error);
	for (size_t k = 0; r == 0 && k < n; k++) {
		sqlite3_stmt *st = ds[spans[k].level == 3600];

		if (spans[k].level == 3600)
			ret->granularity = 3600;
		sqlite3_bind_int64(st, 1, (int64_t)spans[k].a);
		sqlite3_bind_int64(st, 2, (int64_t)spans[k].b);
		bind_filter(st, &f);
		while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
			uint64_t c = (uint64_t)sqlite3_column_int64(st, 3);

			ret->total += c;
			ret->by_proto[sqlite3_column_int(st, 1) & 0xff] += c;
			r = idsums_add(&reasons, sqlite3_column_int64(st, 0), c, 0);
			if (r == 0 && sqlite3_column_type(st, 2) != SQLITE_NULL) {
				ret->attributed += c;
				r = idsums_add(&procs, sqlite3_column_int64(st, 2), c, 0);
			}
		}
		sqlite3_reset(st);
	}
	for (int i = 0; i < 2; i++)
		sqlite3_finalize(ds[i]);
	if (r == 0)
		r = idsums_to_tops(h, &reasons, &ret->reasons);
	if (r == 0)
		r = idsums_to_tops(h, &procs, &ret->processes);
	sqlite3_exec(h->db, "COMMIT;", NULL, NULL, NULL);
	free(reasons.v);
	free(procs.v);
	if (r < 0) {
		if (!*ret_error)
			*ret_error = text_printf("history %s: %s", h->path, strerror(-r));
		history_drop_stats_free(ret);
	}
	return r;
}

static int need_schema2(struct history *h, const char *what, char **ret_error)
{
	if (h->schema >= 2)
		return 0;
	*ret_error = text_printf("the history %s (schema %d, from an older recorder) keeps no %s "
				 "counters",
				 h->path, h->schema, what);
	return -ENODATA;
}

/* The SQL of each series, minutes and hours: process name, key name, count, failed. */
#define SUMS_CONN(table, dir)                                                              \
	"SELECT p.name, d.name, sum(count), sum(failed) FROM " table " JOIN names p ON "   \
	"p.id=process JOIN names d ON d.id=destination WHERE t>=?1 AND t<?2 AND direction=" \
	dir FILTER_SQL " GROUP BY process, destination"
#define SUMS_DROP(table)                                                                    \
	"SELECT p.name, r.name, sum(count), 0 FROM " table " LEFT JOIN names p ON "         \
	"p.id=process JOIN names r ON r.id=reason WHERE t>=?1 AND t<?2" FILTER_SQL " GROUP " \
	"BY process, reason"
/* Schema 2: retransmitted segments as seen (not only those of connections that ended), by remote
 * end; DNS lookups by name, failed when their rcode is not NOERROR (-1: unanswered). */
#define SUMS_RETRANS(table)                                                                   \
	"SELECT p.name, d.name, sum(retransmits), 0 FROM " table " LEFT JOIN names p ON "     \
	"p.id=process JOIN names d ON d.id=destination WHERE t>=?1 AND t<?2" FILTER_SQL       \
	" GROUP BY process, destination"
#define SUMS_DNS(table)                                                                       \
	"SELECT p.name, n.name, sum(count), sum(CASE WHEN rcode<>0 THEN count ELSE 0 END) FROM " \
	table " x LEFT JOIN names p ON p.id=x.process JOIN names n ON n.id=x.name WHERE t>=?1 "  \
	"AND t<?2" FILTER_SQL " GROUP BY x.process, x.name"
static const char *const sums_sql[HISTORY_N_SERIES][2] = {
	[HISTORY_SERIES_OUTBOUND] = { SUMS_CONN("conn_minute", "0"), SUMS_CONN("conn_hour", "0") },
	[HISTORY_SERIES_INBOUND] = { SUMS_CONN("conn_minute", "1"), SUMS_CONN("conn_hour", "1") },
	[HISTORY_SERIES_DROPS] = { SUMS_DROP("drop_minute"), SUMS_DROP("drop_hour") },
	[HISTORY_SERIES_RETRANSMITS] = { SUMS_RETRANS("tcp_minute"), SUMS_RETRANS("tcp_hour") },
	[HISTORY_SERIES_DNS] = { SUMS_DNS("dns_minute"), SUMS_DNS("dns_hour") },
};

int history_sums(struct history *h, const struct history_query *q, enum history_series what,
		 history_sum_fn fn, void *arg, uint64_t *ret_since, uint64_t *ret_until,
		 char **ret_error)
{
	struct span spans[512];
	struct filter_ids f;
	sqlite3_stmt *st[2] = { 0 };
	uint64_t since, until;
	size_t n;
	int r = 0;

	if ((unsigned)what >= HISTORY_N_SERIES)
		return -EINVAL;
	if (what >= HISTORY_SERIES_RETRANSMITS &&
	    (r = need_schema2(h, what == HISTORY_SERIES_DNS ? "DNS" : "retransmit", ret_error)) < 0)
		return r;
	align(q, &since, &until);
	covered(h, since, until, ret_since, ret_until);
	sqlite3_exec(h->db, "BEGIN;", NULL, NULL, NULL); /* one snapshot, one lock */
	filter_ids(h, q, &f);
	n = plan(h, since, until, spans, sizeof(spans) / sizeof(spans[0]));
	for (int i = 0; r == 0 && i < 2; i++)
		r = prepare(h, sums_sql[what][i], &st[i], ret_error);
	for (size_t k = 0; r == 0 && k < n; k++) {
		sqlite3_stmt *s = st[spans[k].level == 3600];
		int rc = SQLITE_DONE;

		sqlite3_bind_int64(s, 1, (int64_t)spans[k].a);
		sqlite3_bind_int64(s, 2, (int64_t)spans[k].b);
		bind_filter(s, &f);
		while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
			r = fn(arg, (const char *)sqlite3_column_text(s, 0),
			       (const char *)sqlite3_column_text(s, 1),
			       (uint64_t)sqlite3_column_int64(s, 2),
			       (uint64_t)sqlite3_column_int64(s, 3));
		if (r == 0 && rc != SQLITE_DONE)
			r = sql_error(h, rc, "reading the history", ret_error);
		sqlite3_reset(s);
	}
	for (int i = 0; i < 2; i++)
		sqlite3_finalize(st[i]);
	sqlite3_exec(h->db, "COMMIT;", NULL, NULL, NULL);
	if (r < 0 && !*ret_error)
		*ret_error = text_printf("history %s: %s", h->path, strerror(-r));
	return r;
}

/* ---- DNS and TCP quality (schema 2) ---- */

/* Histogram rows of [a, b) into buckets and sum. */
static int read_hist(struct history *h, sqlite3_stmt *st, const struct span *sp,
		     const struct filter_ids *f, uint64_t *buckets, uint64_t *sum_us)
{
	sqlite3_bind_int64(st, 1, (int64_t)sp->a);
	sqlite3_bind_int64(st, 2, (int64_t)sp->b);
	bind_filter(st, f);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int b = sqlite3_column_int(st, 0);

		if (b >= 0 && b < HISTORY_N_BUCKETS)
			buckets[b] += (uint64_t)sqlite3_column_int64(st, 1);
		*sum_us += (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	(void)h;
	return 0;
}

#define HIST_SQL(table)                                                                  \
	"SELECT bucket, sum(count), sum(sum_us) FROM " table " WHERE t>=?1 AND t<?2" FILTER_SQL \
	" GROUP BY bucket"
/* A DNS name filter: the name or a name below it, as the store's (case-insensitive). */
#define NAME_SQL                                                                               \
	" AND (?8 IS NULL OR name IN (SELECT id FROM names WHERE lower(name)=lower(?8) OR"     \
	" lower(substr(name,-length(?8)-1))='.'||lower(?8)))"

void history_dns_stats_free(struct history_dns_stats *st)
{
	history_tops_free(&st->names);
	history_tops_free(&st->processes);
	history_tops_free(&st->failing);
}

int history_dns_stats(struct history *h, const struct history_query *q,
		      struct history_dns_stats *ret, char **ret_error)
{
	static const char *const sql[2] = {
		"SELECT process, name, rcode, count FROM dns_minute WHERE t>=?1 AND t<?2" FILTER_SQL
		    NAME_SQL " ORDER BY t",
		"SELECT process, name, rcode, count FROM dns_hour WHERE t>=?1 AND t<?2" FILTER_SQL
		    NAME_SQL " ORDER BY t",
	};
	static const char *const lat_sql[2] = { HIST_SQL("dns_latency_minute"),
						HIST_SQL("dns_latency_hour") };
	struct idsums names = { 0 }, procs = { 0 }, failing = { 0 };
	struct span spans[512];
	struct filter_ids f;
	sqlite3_stmt *ds[2] = { 0 }, *ls[2] = { 0 };
	uint64_t since, until;
	size_t n;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = need_schema2(h, "DNS", ret_error);
	if (r < 0)
		return r;
	align(q, &since, &until);
	covered(h, since, until, &ret->covered_since, &ret->covered_until);
	ret->granularity = 60;
	ret->latency_filtered_out = q->name != NULL;
	sqlite3_exec(h->db, "BEGIN;", NULL, NULL, NULL);
	filter_ids(h, q, &f);
	n = plan(h, since, until, spans, sizeof(spans) / sizeof(spans[0]));
	for (int i = 0; r == 0 && i < 2; i++) {
		r = prepare(h, sql[i], &ds[i], ret_error);
		if (r == 0)
			r = prepare(h, lat_sql[i], &ls[i], ret_error);
	}
	for (size_t k = 0; r == 0 && k < n; k++) {
		int lv = spans[k].level == 3600;
		sqlite3_stmt *st = ds[lv];

		if (lv)
			ret->granularity = 3600;
		sqlite3_bind_int64(st, 1, (int64_t)spans[k].a);
		sqlite3_bind_int64(st, 2, (int64_t)spans[k].b);
		bind_filter(st, &f);
		if (q->name)
			sqlite3_bind_text(st, 8, q->name, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 8);
		while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
			int64_t name = sqlite3_column_int64(st, 1);
			int rcode = sqlite3_column_int(st, 2);
			uint64_t c = (uint64_t)sqlite3_column_int64(st, 3);
			uint64_t fl = rcode != 0 ? c : 0;

			ret->total += c;
			if (rcode < 0) {
				ret->unanswered += c;
				rcode = -1;
			} else {
				ret->by_rcode[rcode & 0xfff] += c;
				ret->failed += fl;
			}
			r = idsums_add(&names, name, c, fl);
			if (r == 0 && sqlite3_column_type(st, 0) != SQLITE_NULL)
				r = idsums_add(&procs, sqlite3_column_int64(st, 0), c, fl);
			if (r == 0 && fl)
				r = idsums_add_tag(&failing, name, fl, fl, &rcode);
		}
		sqlite3_reset(st);
		if (r == 0 && !q->name)
			r = read_hist(h, ls[lv], &spans[k], &f, ret->buckets, &ret->sum_us);
	}
	for (int i = 0; i < 2; i++) {
		sqlite3_finalize(ds[i]);
		sqlite3_finalize(ls[i]);
	}
	if (r == 0)
		r = idsums_to_tops(h, &names, &ret->names);
	if (r == 0)
		r = idsums_to_tops(h, &procs, &ret->processes);
	if (r == 0)
		r = idsums_to_tops(h, &failing, &ret->failing);
	sqlite3_exec(h->db, "COMMIT;", NULL, NULL, NULL);
	free(names.v);
	free(procs.v);
	free(failing.v);
	if (r < 0) {
		if (!*ret_error)
			*ret_error = text_printf("history %s: %s", h->path, strerror(-r));
		history_dns_stats_free(ret);
	}
	return r;
}

/* TCP quality sums per name id (open addressing, as idsums). */
struct tcpacc {
	int64_t id;
	uint64_t v[6]; /* connections, retransmits, resets sent, received, bytes sent, received */
};
struct tcpaccs {
	struct tcpacc *v;
	size_t n, cap;
};

static int tcpaccs_add(struct tcpaccs *s, int64_t id, const uint64_t v[6])
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct tcpacc *nv = calloc(cap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		for (size_t j = 0; j < s->cap; j++) {
			if (!s->v[j].id)
				continue;
			for (i = idsum_slot(s->v[j].id, cap); nv[i].id; i = (i + 1) & (cap - 1))
				;
			nv[i] = s->v[j];
		}
		free(s->v);
		s->v = nv;
		s->cap = cap;
	}
	for (i = idsum_slot(id, s->cap); s->v[i].id && s->v[i].id != id; i = (i + 1) & (s->cap - 1))
		;
	if (!s->v[i].id) {
		s->v[i].id = id;
		s->n++;
	}
	for (int k = 0; k < 6; k++)
		s->v[i].v[k] += v[k];
	return 0;
}

/* Worse first: retransmits, then resets, then connections. */
static int tcpacc_cmp(const void *a, const void *b)
{
	const struct tcpacc *x = a, *y = b;
	uint64_t rx = x->v[2] + x->v[3], ry = y->v[2] + y->v[3];

	if (x->v[1] != y->v[1])
		return x->v[1] < y->v[1] ? 1 : -1;
	if (rx != ry)
		return rx < ry ? 1 : -1;
	if (x->v[0] != y->v[0])
		return x->v[0] < y->v[0] ? 1 : -1;
	return (x->id > y->id) - (x->id < y->id);
}

/* The HISTORY_TOPS_MAX worst entries, named. */
static int tcpaccs_to_entries(struct history *h, struct tcpaccs *s, struct history_tcp_entry **ret,
			      size_t *ret_n)
{
	sqlite3_stmt *st;
	size_t n = 0;
	int r = 0;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < s->cap; i++)
		if (s->v[i].id)
			s->v[n++] = s->v[i];
	if (!n)
		return 0;
	qsort(s->v, n, sizeof(*s->v), tcpacc_cmp);
	if (n > HISTORY_TOPS_MAX)
		n = HISTORY_TOPS_MAX;
	*ret = calloc(n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	if (sqlite3_prepare_v2(h->db, "SELECT name FROM names WHERE id=?1;", -1, &st, NULL) !=
	    SQLITE_OK)
		return -EIO;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct history_tcp_entry *e = &(*ret)[*ret_n];

		sqlite3_bind_int64(st, 1, s->v[i].id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			e->name = strdup((const char *)sqlite3_column_text(st, 0));
			if (!e->name)
				r = -ENOMEM;
			e->connections = s->v[i].v[0];
			e->retransmits = s->v[i].v[1];
			e->resets_sent = s->v[i].v[2];
			e->resets_received = s->v[i].v[3];
			e->bytes_sent = s->v[i].v[4];
			e->bytes_received = s->v[i].v[5];
			if (r == 0)
				(*ret_n)++;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return r;
}

void history_tcp_stats_free(struct history_tcp_stats *st)
{
	for (size_t i = 0; i < st->n_processes; i++)
		free(st->processes[i].name);
	for (size_t i = 0; i < st->n_destinations; i++)
		free(st->destinations[i].name);
	free(st->processes);
	free(st->destinations);
	st->processes = st->destinations = NULL;
	st->n_processes = st->n_destinations = 0;
}

int history_tcp_stats(struct history *h, const struct history_query *q,
		      struct history_tcp_stats *ret, char **ret_error)
{
#define TCP_SELECT                                                                              \
	"SELECT process, destination, ended_closed, ended_reset_sent, ended_reset_received,"    \
	" ended_timeout, bytes_sent, bytes_received, segs_out, end_retransmits, retransmits,"   \
	" resets_sent, resets_received FROM "
	static const char *const sql[2] = {
		TCP_SELECT "tcp_minute WHERE t>=?1 AND t<?2" FILTER_SQL DIR_SQL,
		TCP_SELECT "tcp_hour WHERE t>=?1 AND t<?2" FILTER_SQL DIR_SQL,
	};
	static const char *const rtt_sql[2] = { HIST_SQL("rtt_minute"), HIST_SQL("rtt_hour") };
	struct tcpaccs procs = { 0 }, dests = { 0 };
	struct span spans[512];
	struct filter_ids f;
	sqlite3_stmt *ts[2] = { 0 }, *rs[2] = { 0 };
	uint64_t since, until;
	int dir = history_dir(q->direction);
	size_t n;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = need_schema2(h, "TCP quality", ret_error);
	if (r < 0)
		return r;
	align(q, &since, &until);
	covered(h, since, until, &ret->covered_since, &ret->covered_until);
	ret->granularity = 60;
	sqlite3_exec(h->db, "BEGIN;", NULL, NULL, NULL);
	filter_ids(h, q, &f);
	n = plan(h, since, until, spans, sizeof(spans) / sizeof(spans[0]));
	for (int i = 0; r == 0 && i < 2; i++) {
		r = prepare(h, sql[i], &ts[i], ret_error);
		if (r == 0)
			r = prepare(h, rtt_sql[i], &rs[i], ret_error);
	}
	for (size_t k = 0; r == 0 && k < n; k++) {
		int lv = spans[k].level == 3600;
		sqlite3_stmt *st = ts[lv];

		if (lv)
			ret->granularity = 3600;
		sqlite3_bind_int64(st, 1, (int64_t)spans[k].a);
		sqlite3_bind_int64(st, 2, (int64_t)spans[k].b);
		bind_filter(st, &f);
		sqlite3_bind_int(st, 8, dir);
		while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
			uint64_t c[11], ended, v[6];

			for (int i = 0; i < 11; i++)
				c[i] = (uint64_t)sqlite3_column_int64(st, 2 + i);
			ended = c[0] + c[1] + c[2] + c[3];
			for (int e = STORE_END_CLOSED; e <= STORE_END_TIMEOUT; e++)
				ret->by_end[e] += c[e - STORE_END_CLOSED];
			ret->ended += ended;
			ret->bytes_sent += c[4];
			ret->bytes_received += c[5];
			ret->segs_out += c[6];
			ret->end_retransmits += c[7];
			ret->retransmits += c[8];
			ret->resets_sent += c[9];
			ret->resets_received += c[10];
			v[0] = ended;
			v[1] = c[8];
			v[2] = c[9];
			v[3] = c[10];
			v[4] = c[4];
			v[5] = c[5];
			if (sqlite3_column_type(st, 0) != SQLITE_NULL)
				r = tcpaccs_add(&procs, sqlite3_column_int64(st, 0), v);
			if (r == 0)
				r = tcpaccs_add(&dests, sqlite3_column_int64(st, 1), v);
		}
		sqlite3_reset(st);
		/* RTT is kept by process and unit: not with a direction filter */
		if (r == 0 && !q->direction)
			r = read_hist(h, rs[lv], &spans[k], &f, ret->rtt_buckets, &ret->rtt_sum_us);
	}
	for (int i = 0; i < 2; i++) {
		sqlite3_finalize(ts[i]);
		sqlite3_finalize(rs[i]);
	}
	if (r == 0)
		r = tcpaccs_to_entries(h, &procs, &ret->processes, &ret->n_processes);
	if (r == 0)
		r = tcpaccs_to_entries(h, &dests, &ret->destinations, &ret->n_destinations);
	sqlite3_exec(h->db, "COMMIT;", NULL, NULL, NULL);
	free(procs.v);
	free(dests.v);
	if (r < 0) {
		if (!*ret_error)
			*ret_error = text_printf("history %s: %s", h->path, strerror(-r));
		history_tcp_stats_free(ret);
	}
	return r;
}
