/* The history database: per-minute rollups of connections, TCP handshake latency, packet drops,
 * DNS queries and TCP quality in SQLite (WAL, one transaction per minute), hourly aggregates for long windows, bounded by age
 * and size. The recorder writes it (history_open_rw); tools read it (history_open_ro). The schema
 * is documented in docs/history.md. Library code: it does not print. */
#ifndef NETSPY_HISTORY_H
#define NETSPY_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/store.h"

#define HISTORY_DEFAULT_PATH "/var/lib/netspy/history.db"
/* 2: DNS (dns_*) and TCP quality (tcp_*, rtt_*) tables; a version 1 file is migrated when the
 * recorder opens it. */
#define HISTORY_SCHEMA_VERSION 2
/* TCP handshake latency buckets (upper bounds in microseconds; the last one is +Inf), the same as
 * the Prometheus histogram's le values. */
#define HISTORY_N_BUCKETS STORE_LATENCY_BUCKETS
#define history_bucket_us store_latency_bounds_us
#define history_bucket_of store_latency_bucket

#define HISTORY_DIR_OUTBOUND 0
#define HISTORY_DIR_INBOUND 1
#define HISTORY_OTHER "other" /* name of the rows past the key cap */

struct history;

/* One minute's rows, as the recorder hands them over (strings owned by the caller). */
struct history_conn_row {
	const char *process, *unit, *destination; /* unit may be NULL */
	uint8_t protocol, outcome, direction;
	uint64_t count, failed;
};
struct history_latency_row {
	const char *process, *unit;
	uint64_t buckets[HISTORY_N_BUCKETS]; /* not cumulative */
	uint64_t sum_us;
};
struct history_drop_row {
	const char *reason, *process, *unit; /* process and unit may be NULL */
	uint8_t protocol;
	uint64_t count;
};
struct history_dns_row {
	const char *process, *unit, *name; /* process and unit may be NULL */
	int rcode;			   /* -1: unanswered */
	uint64_t count;
};
struct history_tcp_row {
	const char *process, *unit, *destination; /* process and unit may be NULL */
	uint8_t direction;
	uint64_t ended[STORE_N_ENDS]; /* connections that ended, by enum store_end (0 unused) */
	uint64_t bytes_sent, bytes_received, segs_out, end_retransmits; /* of those */
	uint64_t retransmits, resets_sent, resets_received;		/* segments, resets */
};
struct history_minute {
	uint64_t t; /* start, seconds since the epoch, a multiple of 60 */
	uint64_t events, lost, unaccounted;
	struct history_conn_row *conns;
	size_t n_conns;
	struct history_latency_row *latency;
	size_t n_latency;
	struct history_drop_row *drops;
	size_t n_drops;
	struct history_dns_row *dns;
	size_t n_dns;
	struct history_latency_row *dns_latency; /* query to response */
	size_t n_dns_latency;
	struct history_tcp_row *tcp;
	size_t n_tcp;
	struct history_latency_row *rtt; /* smoothed RTT at the connections' ends */
	size_t n_rtt;
};

struct history_rw_opts {
	unsigned retention_days; /* 0: keep forever */
	uint64_t max_size;	 /* bytes, 0: unbounded */
	unsigned max_keys;	 /* per minute and hour, per table (rows past it: "other") */
};

/* Opens (creating) the database for writing. A file that fails quick_check or is not a database
 * is renamed to PATH.corrupt-TIMESTAMP and replaced by a new one: *ret_moved (malloc'd) then
 * names where it went. 0 or -errno with *ret_error. */
int history_open_rw(const char *path, const struct history_rw_opts *o, struct history **ret,
		    char **ret_moved, char **ret_error);
/* Opens an existing database read-only: -ENOENT when there is none. */
int history_open_ro(const char *path, struct history **ret, char **ret_error);
void history_close(struct history *h);
/* The path tools read: flag if given, else $NETSPY_HISTORY, else the default. */
const char *history_path(const char *flag);

/* Stores one minute (one transaction), rolls up the hour when the minute completes it, and
 * enforces retention and size. 0 or -errno with *ret_error. */
int history_write_minute(struct history *h, const struct history_minute *m, char **ret_error);
/* End of the newest minute stored (seconds), 0 when none. */
uint64_t history_resume_point(struct history *h);

struct history_info {
	uint64_t oldest, newest; /* minute starts (s), 0 when empty */
	uint64_t minutes;	 /* minutes recorded */
	uint64_t hours;		 /* hourly aggregates */
	uint64_t size;		 /* bytes of the database file */
	uint64_t wal_size;	 /* bytes of its write-ahead log */
	uint64_t updated;	 /* when the recorder last wrote (s), 0 unknown */
};
int history_info(struct history *h, struct history_info *ret);

/* A window [since, until) in seconds, minute-aligned by the query; process/unit filters as the
 * store's (a pid cannot be answered from history). */
struct history_query {
	uint64_t since, until;
	const char *process, *unit;
	bool detail;	  /* destinations, refused and unreachable too (analyze) */
	const char *name; /* DNS: this name or below it, NULL: any */
	uint8_t direction; /* connections, TCP quality: STORE_DIR_*, 0: any */
};
/* Top lists carry at most this many entries (the largest), by_reason too. */
#define HISTORY_TOPS_MAX 256

struct history_top {
	char *name;
	uint64_t count, failed;
	int tag; /* DNS failing names: the latest failure's rcode (-1: unanswered) */
};
struct history_tops {
	struct history_top *v;
	size_t n, cap;
};
struct history_conn_stats {
	uint64_t covered_since, covered_until; /* minutes present in the window; 0 when none */
	unsigned granularity;		       /* 60 or 3600: the coarsest used */
	uint64_t total, failed;
	uint64_t by_proto[256];
	uint64_t by_outcome[STORE_N_OUTCOMES];
	uint64_t buckets[HISTORY_N_BUCKETS], sum_us;
	uint64_t by_direction[2]; /* HISTORY_DIR_* */
	/* the HISTORY_TOPS_MAX largest keys, largest first */
	struct history_tops processes, destinations, refused, unreachable;
};
struct history_drop_stats {
	uint64_t covered_since, covered_until;
	unsigned granularity;
	uint64_t total, attributed;
	uint64_t by_proto[256];
	struct history_tops reasons, processes;
};
struct history_dns_stats {
	uint64_t covered_since, covered_until;
	unsigned granularity;
	uint64_t total, failed, unanswered; /* failed: answered with an rcode other than NOERROR */
	uint64_t by_rcode[4096];	    /* answered */
	uint64_t buckets[HISTORY_N_BUCKETS], sum_us; /* latency; none with a name filter */
	bool latency_filtered_out;		     /* a name filter: latency not by name */
	/* names (failed: error rcode or unanswered), processes, failing names (count: failures,
	 * tag: the latest one's rcode) */
	struct history_tops names, processes, failing;
};
/* TCP quality from the minutes: connections are counted when they ended, signals when seen. */
struct history_tcp_entry {
	char *name;
	uint64_t connections, retransmits, resets_sent, resets_received, bytes_sent,
	    bytes_received;
};
struct history_tcp_stats {
	uint64_t covered_since, covered_until;
	unsigned granularity;
	uint64_t by_end[STORE_N_ENDS], ended;
	uint64_t bytes_sent, bytes_received, segs_out, end_retransmits;
	uint64_t retransmits, resets_sent, resets_received;
	uint64_t rtt_buckets[HISTORY_N_BUCKETS], rtt_sum_us;
	struct history_tcp_entry *processes, *destinations; /* every one, unsorted */
	size_t n_processes, n_destinations;
};
/* -ENODATA with *ret_error for a database older than schema 2 (no such counters). */
int history_dns_stats(struct history *h, const struct history_query *q,
		      struct history_dns_stats *ret, char **ret_error);
void history_dns_stats_free(struct history_dns_stats *st);
int history_tcp_stats(struct history *h, const struct history_query *q,
		      struct history_tcp_stats *ret, char **ret_error);
void history_tcp_stats_free(struct history_tcp_stats *st);
/* The schema version of an open database. */
int history_schema(const struct history *h);
int history_conn_stats(struct history *h, const struct history_query *q,
		       struct history_conn_stats *ret, char **ret_error);
void history_conn_stats_free(struct history_conn_stats *st);
int history_drop_stats(struct history *h, const struct history_query *q,
		       struct history_drop_stats *ret, char **ret_error);
void history_drop_stats_free(struct history_drop_stats *st);
/* Per-(process, key) sums of a window, for baselines (find_anomalies): what the history can
 * answer. A new rollup table joins as one more series (its SQL is one line in history.c). */
enum history_series {
	HISTORY_SERIES_OUTBOUND, /* connections made: key the destination (ip:port) */
	HISTORY_SERIES_INBOUND,	 /* connections accepted: key the local end (ip:port) */
	HISTORY_SERIES_DROPS,	 /* drops: key the reason; process NULL when not attributed */
	HISTORY_SERIES_RETRANSMITS, /* retransmitted segments: key the remote end (schema 2) */
	HISTORY_SERIES_DNS,	    /* DNS lookups: key the name, failed ones apart (schema 2) */
	HISTORY_N_SERIES,
};
typedef int (*history_sum_fn)(void *arg, const char *process, const char *key, uint64_t count,
			      uint64_t failed);
/* Calls fn for each (process, key) of the series in [q->since, q->until) (a key may come more
 * than once, once per span of minutes or hours: add them up); *ret_since and *ret_until are the
 * part of the window the history covers (0, 0: none). 0, fn's negative return, or -errno with
 * *ret_error. */
int history_sums(struct history *h, const struct history_query *q, enum history_series what,
		 history_sum_fn fn, void *arg, uint64_t *ret_since, uint64_t *ret_until,
		 char **ret_error);
/* Adds count/failed to name's entry (created when missing; a linear search: for merging a few
 * entries into a list). 0 or -ENOMEM. */
int history_tops_add(struct history_tops *t, const char *name, uint64_t count, uint64_t failed);
void history_tops_sort(struct history_tops *t); /* by count, then name */
void history_tops_free(struct history_tops *t);
/* A latency percentile (0-1) in ms from histogram buckets, interpolated inside the bucket. */
double history_percentile_ms(const uint64_t buckets[HISTORY_N_BUCKETS], double q);

#endif
