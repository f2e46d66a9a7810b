/* The analyzer's event store: a bounded, time-ordered in-memory history of connects (with their TCP
 * outcome merged in by socket cookie) and packet drops, with filters and the aggregations the
 * tools report. Records are compact (32 bytes): process names, endpoints, cgroups and drop
 * reasons are interned to small ids. Library code: it does not print. */
#ifndef NETSPY_STORE_H
#define NETSPY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cgroup.h"
#include "core/format.h"
#include "core/intern.h"
#include "netspy.pb-c.h"

/* Outcome values: 0-7 as netspy.v1.Outcome (0 = pending), then "sent" for non-TCP connects; their
 * names are fmt_outcome()'s. */
#define STORE_OUTCOME_PENDING 0
#define STORE_OUTCOME_SENT FMT_OUTCOME_SENT
#define STORE_N_OUTCOMES FMT_N_OUTCOMES
#define STORE_REASON_LEN 48
#define STORE_TOP_N 10
#define STORE_DEFAULT_CAPACITY (1u << 20)

struct store_endpoint {
	uint8_t family; /* AF_INET, AF_INET6, 0 = unknown */
	uint8_t pad;
	uint16_t port;
	uint8_t addr[16];
};

struct store_conn {
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t dst;	     /* endpoint id */
	uint32_t latency_us; /* connect() to outcome, 0 when unknown */
	uint16_t comm;	     /* process name id */
	uint16_t cgroup;     /* cgroup index */
	uint8_t proto;	     /* IPPROTO_* */
	uint8_t outcome;     /* STORE_OUTCOME_*, as the kernel reported it */
	uint8_t flags;	     /* STORE_CONN_* */
	uint8_t err;	     /* the outcome's errno (0: none or not known) */
};

#define STORE_CONN_SYNC 0x1	 /* failed inside connect(): no packet was sent */
#define STORE_CONN_ABANDONED 0x2 /* closed by its application before any answer */

/* Happy Eyeballs (RFC 8305): parallel attempts start at most 2 s apart (its largest attempt
 * delay); the one that loses is abandoned by design. */
#define STORE_HAPPY_EYEBALLS_NS 2000000000ull

struct store_drop {
	uint64_t ts_ns;
	uint32_t pid; /* 0 when not attributed */
	uint32_t src, dst;
	uint16_t reason;
	uint16_t comm;
	uint8_t proto;
	uint8_t attributed;
	uint8_t pad[2];
};

/* A power-of-two ring of fixed-size records addressed by absolute index: live records are
 * [head - count, head). */
struct store_ring {
	uint8_t *v;
	size_t elem, mask, max; /* max: capacity it may grow to */
	uint64_t head, count;
};

struct store_cgroup_info {
	uint64_t id;
	char *unit;	 /* NULL when unknown */
	char *container; /* NULL when none */
	bool resolved;
};

struct cookie_map {
	struct cookie_slot *slots;
	size_t n_slots, n, max;
};

struct store {
	struct store_ring conns, drops;
	struct intern comms, endpoints, cgroups, reasons;
	struct store_cgroup_info *cg;
	size_t cg_cap;
	struct cookie_map pending;  /* socket cookie -> connect record of a pending TCP connect */
	struct cookie_map udp_last; /* socket cookie -> a UDP socket's latest connect record */
	struct cgroup_names cgnames;
	uint64_t evicted;	  /* records pushed out by newer ones */
	uint64_t orphan_outcomes; /* TCP outcomes whose connect is not stored */
	uint64_t rebuilds;	  /* intern table rebuilds (store_compact) */
	uint64_t rebuilt_at;	  /* records stored (connects + drops) at the last rebuild */
};

struct store_filter {
	uint64_t since_ns;   /* 0: from the oldest */
	uint64_t until_ns;   /* 0: to the newest */
	uint32_t pid;	     /* 0: any */
	const char *process; /* NULL: any */
	const char *unit;    /* unit name or container id, NULL: any */
};

struct store_top {
	uint32_t key; /* endpoint or process name id */
	uint64_t count, failed;
};

/* TCP handshake latency histogram buckets: upper bounds in microseconds, the last one +Inf (the
 * history's and the Prometheus histogram's buckets too). */
#define STORE_LATENCY_BUCKETS 15
extern const uint64_t store_latency_bounds_us[STORE_LATENCY_BUCKETS];
size_t store_latency_bucket(uint64_t latency_us);

struct store_conn_stats {
	uint64_t total, failed;
	uint64_t latency_buckets[STORE_LATENCY_BUCKETS]; /* not cumulative */
	uint64_t by_proto[256];
	uint64_t by_outcome[STORE_N_OUTCOMES];
	uint64_t latency_count;
	double latency_p50_ms, latency_p90_ms, latency_p99_ms;
	/* Filled when asked for (STORE_STATS_DETAIL). */
	struct store_top processes[STORE_TOP_N], destinations[STORE_TOP_N];
	struct store_top refused[STORE_TOP_N], unreachable[STORE_TOP_N];
	size_t n_processes, n_destinations, n_refused, n_unreachable;
};

struct store_drop_stats {
	uint64_t total, attributed;
	uint64_t by_proto[256];
	uint64_t *by_reason; /* indexed by reason id, n_reasons entries; free() it */
	size_t n_reasons;
	struct store_top processes[STORE_TOP_N];
	size_t n_processes;
};

#define STORE_STATS_DETAIL 0x1

/* capacity: records kept of each kind (rounded up to a power of two). */
int store_init(struct store *s, size_t capacity, const char *cgroup_root);
void store_fini(struct store *s);
/* Adds one event from the daemon. 0, or -EINVAL for an event it cannot use, -ENOMEM. */
int store_add(struct store *s, const Netspy__V1__Event *ev);
/* Rebuilds the intern tables from the records still stored (store_add does it by itself when a
 * table is full); ids of stored records change. 0 or -ENOMEM (then nothing changed). */
int store_compact(struct store *s);

int store_conn_stats(struct store *s, const struct store_filter *f, unsigned flags,
		     struct store_conn_stats *ret);
int store_drop_stats(struct store *s, const struct store_filter *f, struct store_drop_stats *ret);
/* The newest (up to max) matching records' absolute indexes, newest first, in ret (max entries);
 * *ret_total is the number of matching records. */
int store_list_conns(struct store *s, const struct store_filter *f, uint64_t *ret, size_t max,
		     size_t *ret_n, uint64_t *ret_total);
int store_list_drops(struct store *s, const struct store_filter *f, uint64_t *ret, size_t max,
		     size_t *ret_n, uint64_t *ret_total);

static inline const void *store_ring_at(const struct store_ring *r, uint64_t abs)
{
	return r->v + (abs & r->mask) * r->elem;
}
static inline const struct store_conn *store_conn_at(const struct store *s, uint64_t abs)
{
	return store_ring_at(&s->conns, abs);
}
static inline const struct store_drop *store_drop_at(const struct store *s, uint64_t abs)
{
	return store_ring_at(&s->drops, abs);
}
/* The raw process name (up to 16 bytes, not NUL-terminated when 16 long: sanitize it). */
const uint8_t *store_comm(const struct store *s, uint16_t id, size_t *ret_len);
const struct store_endpoint *store_endpoint(const struct store *s, uint32_t id);
const char *store_reason(const struct store *s, uint16_t id);
/* Unit and container of a cgroup index, NULL when unknown / none. */
const struct store_cgroup_info *store_cgroup(struct store *s, uint16_t idx);
/* What a connect amounts to, the one place that decides it: its outcome as reported (*ret_failed:
 * whether it counts as a failure), except an abandoned attempt while a sibling attempt of the same
 * process to the same port succeeded within the Happy Eyeballs window: "aborted", not failed; and
 * a UDP connect that failed inside the syscall while such a sibling succeeded (getaddrinfo()'s
 * address sorting probes each address so) keeps its outcome but is not a failure. Every tool that
 * counts or lists failures asks this. */
int store_conn_verdict(const struct store *s, uint64_t abs, bool *ret_failed);
/* Bytes held by the store. */
size_t store_memory(const struct store *s);
size_t store_count(const struct store *s); /* records held, both kinds */

#endif
