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
#include "core/procinfo.h"
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
	uint8_t outcome : 4; /* STORE_OUTCOME_*, as the kernel reported it */
	uint8_t flags : 4;   /* STORE_CONN_* (four bits: all taken) */
	uint16_t name;	     /* the name the process looked the destination up by (0: none) */
	uint32_t err : 8;    /* the outcome's errno (0: none or not known) */
	uint32_t life : 24;  /* with STORE_CONN_LIFE: its lifecycle record's absolute index mod 2^24 */
};
/* 32 bytes: the store's memory budget per event (tests/unit/store.c) counts on it. */
_Static_assert(sizeof(struct store_conn) == 32, "store_conn stays 32 bytes");

#define STORE_CONN_SYNC 0x1	 /* failed inside connect(): no packet was sent */
#define STORE_CONN_ABANDONED 0x2 /* closed by its application before any answer */
#define STORE_CONN_INBOUND 0x4	 /* accepted: dst is the local end, its life record the peer */
#define STORE_CONN_LIFE 0x8	 /* it has a lifecycle record (life) */

/* How a TCP connection ended, as netspy.v1.TcpEndKind; 0 while it is open. */
enum store_end {
	STORE_END_OPEN = 0,
	STORE_END_CLOSED = 1,
	STORE_END_RESET_SENT = 2,
	STORE_END_RESET_RECEIVED = 3,
	STORE_END_TIMEOUT = 4,
	STORE_N_ENDS,
};

/* A TCP connection's life: made when an inbound connection is accepted or any connection ends. */
struct store_life {
	uint64_t conn; /* absolute index of its connect record */
	uint64_t bytes_sent, bytes_received;
	uint32_t retrans, segs_out;
	uint32_t rtt_us;      /* smoothed RTT at the end, 0 when unknown */
	uint32_t duration_ms; /* UINT32_MAX: not known */
	uint32_t peer;	      /* endpoint id of the remote end */
	uint8_t end;	      /* enum store_end */
	uint8_t ended;	      /* its end was seen */
	uint8_t pad[2];
};

/* A retransmission or a reset; during a flood, several identical ones folded into one record. */
struct store_signal {
	uint64_t ts_ns;
	uint32_t pid; /* 0 when the owner is not known */
	uint32_t peer; /* endpoint id of the remote end */
	uint16_t comm;
	uint16_t local_port;
	uint8_t kind; /* STORE_SIG_* */
	uint8_t inbound;
	uint16_t segs;	/* retransmits: segments each retransmission carried */
	uint32_t count; /* retransmissions or resets this record stands for, at least 1 */
};
_Static_assert(sizeof(struct store_signal) == 32, "store_signal stays 32 bytes");

/* Where a TCP connection's end is: its connect record, in the order the ends arrived (the
 * recorder rolls a connection's totals up at its end). */
struct store_end_ref {
	uint64_t ts_ns; /* the end */
	uint64_t conn;	/* absolute index of its connect record */
};

#define STORE_SIG_RETRANSMIT 1
#define STORE_SIG_RESET_SENT 2
#define STORE_SIG_RESET_RECEIVED 3

/* What a signal counts for, folded or not: every total (the tools, the recorder's rollups and
 * metrics) reads it through these. */
static inline uint64_t store_signal_count(const struct store_signal *g)
{
	return g->count ? g->count : 1;
}

/* Retransmitted segments of a retransmit record (0 for a reset). */
static inline uint64_t store_signal_segments(const struct store_signal *g)
{
	return g->kind == STORE_SIG_RETRANSMIT ? store_signal_count(g) * g->segs : 0;
}

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
	uint32_t count; /* drops this record stands for (folded during a flood), at least 1 */
	uint32_t name; /* a name looked up for the remote address (0: none) */
};

/* A DNS query of a process (the client side), with its response once one arrived. */
#define STORE_DNS_ANSWERS 8
struct store_dns {
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t name;	     /* the name asked (names table) */
	uint32_t server;     /* endpoint id: the server's address and port */
	uint32_t latency_us; /* query to response */
	uint16_t comm, cgroup;
	uint16_t qtype;
	uint16_t id;	 /* the message id */
	uint16_t lport;	 /* the client's port */
	uint16_t rcode;	 /* valid when STORE_DNS_ANSWERED */
	uint8_t proto;	 /* IPPROTO_UDP / IPPROTO_TCP */
	uint8_t flags;	 /* STORE_DNS_* */
	uint8_t n_answers; /* kept in answers[] */
	uint8_t pad;
	uint32_t answers[STORE_DNS_ANSWERS]; /* names table ids of the answers' text */
};

#define STORE_DNS_ANSWERED 0x1 /* a response matched it */
#define STORE_DNS_CUT 0x2      /* the response was longer than the bytes copied */
#define STORE_DNS_MORE 0x4     /* more answers than answers[] holds */
/* A query without a response after this long is unanswered (glibc's resolver retries at 5 s). */
#define STORE_DNS_TIMEOUT_NS 5000000000ull
/* An answer with TTL 0 still names the connect that follows it at once. */
#define STORE_DNS_MIN_TTL_NS 1000000000ull
#define STORE_NAME_LEN 256

/* Address -> the name it was looked up by (see store_dns.c). */
struct ipname_slot {
	uint8_t family;
	uint8_t pad[3];
	uint32_t pid; /* 0: any process */
	uint8_t addr[16];
	uint32_t name;
	uint32_t pad2;
	uint64_t expires_ns;
};

struct ipname_map {
	struct ipname_slot *slots;
	size_t n_slots; /* power of two */
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
	struct store_ring conns, drops, lives, signals, dns;
	struct store_ring ends; /* struct store_end_ref, not counted as events */
	struct intern comms, endpoints, cgroups, reasons;
	struct intern names; /* DNS names and answers' text, STORE_NAME_LEN bytes; id 0 = none */
	struct cookie_map dns_pending; /* a query's (client port, id, server) -> its record */
	struct ipname_map ipnames;
	uint64_t dns_unparsed;	       /* DNS messages the parser could not read */
	uint64_t dns_orphan_responses; /* responses to queries not stored */
	struct store_cgroup_info *cg;
	size_t cg_cap;
	struct cookie_map pending;  /* socket cookie -> connect record of a pending TCP connect */
	struct cookie_map udp_last; /* socket cookie -> a UDP socket's latest connect record */
	struct cookie_map open;	    /* socket cookie -> connect record of an established TCP one */
	struct cookie_map ended;    /* socket cookie -> connect record of one that just ended */
	struct cgroup_names cgnames;
	struct procinfo_cache procs; /* exe, cmdline, ppid of the processes seen */
	bool resolve_procs;	     /* read them at the first event of a process (analyzer) */
	uint64_t evicted;	    /* records pushed out by newer ones */
	uint64_t evicted_newest_ns; /* the newest of them: every record after it is held */
	uint64_t orphan_outcomes;   /* TCP outcomes whose connect is not stored */
	uint64_t rebuilds;	    /* intern table rebuilds (store_compact) */
	uint64_t rebuilt_at;	    /* records stored at the last rebuild */
};

struct store_filter {
	uint64_t since_ns;   /* 0: from the oldest */
	uint64_t until_ns;   /* 0: to the newest */
	uint32_t pid;	     /* 0: any */
	const char *process; /* NULL: any */
	const char *unit;    /* unit name or container id, NULL: any */
	/* The remote side: an address ("140.82.112.3", "::1") or a name, which matches the
	 * destinations looked up by it or by a name below it ("github.com": "api.github.com");
	 * NULL: any. For DNS queries: the server's address. */
	const char *dest;
	uint16_t port;	/* the remote port (drops: either port); 0: any */
	uint8_t proto;	/* IPPROTO_TCP / IPPROTO_UDP; 0: any */
	const char *name; /* DNS queries: this name or below it; NULL: any */
	uint8_t direction;  /* STORE_DIR_*: 0 any */
	bool outcome_set;   /* outcome is a filter */
	int outcome;	    /* connects: the verdict's outcome (store_conn_verdict) */
	const char *reason; /* drops: reason name, NULL: any */
};

#define STORE_DIR_ANY 0
#define STORE_DIR_OUT 1
#define STORE_DIR_IN 2

struct store_top {
	uint32_t key; /* endpoint or process name id */
	uint32_t name; /* destinations: the name of the latest connect to it (0: none) */
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
	uint64_t inbound;		  /* of total: accepted connections */
	uint64_t by_end[STORE_N_ENDS];	  /* established TCP connections by how they ended */
	uint64_t bytes_sent, bytes_received, retransmits; /* of those that ended */
	/* Filled when asked for (STORE_STATS_DETAIL). */
	struct store_top processes[STORE_TOP_N], destinations[STORE_TOP_N];
	struct store_top refused[STORE_TOP_N], unreachable[STORE_TOP_N];
	size_t n_processes, n_destinations, n_refused, n_unreachable;
};

struct store_drop_stats {
	uint64_t total, attributed; /* drops, each record counted as its count */
	uint64_t by_proto[256];
	uint64_t *by_reason; /* indexed by reason id, n_reasons entries; free() it */
	size_t n_reasons;
	struct store_top processes[STORE_TOP_N];
	size_t n_processes;
};

#define STORE_STATS_DETAIL 0x1

/* TCP quality over the matching connections and signals of a window. */
struct store_quality_dest {
	uint32_t peer; /* endpoint id */
	uint64_t retransmits, resets, connections;
	uint32_t rtt_us; /* median smoothed RTT of its connections that ended, 0: none */
};

struct store_quality_proc {
	uint16_t comm;
	uint64_t connections, retransmits, resets_sent, resets_received, segs_out;
	uint64_t bytes_sent, bytes_received;
};

struct store_quality {
	uint64_t retransmits;	    /* segments the retransmit signals carried */
	uint64_t resets_sent, resets_received;
	uint64_t ended, open;	    /* TCP connections that ended / are still open */
	uint64_t ended_retrans, ended_segs_out; /* totals of those that ended */
	uint64_t bytes_sent, bytes_received;
	uint64_t rtt_count;
	double rtt_p50_ms, rtt_p90_ms, rtt_p99_ms;
	uint64_t rtt_buckets[STORE_LATENCY_BUCKETS]; /* for merging with the history's */
	struct store_quality_dest worst[STORE_TOP_N];
	size_t n_worst;
	struct store_quality_proc processes[STORE_TOP_N];
	size_t n_processes;
};

struct store_dns_stats {
	uint64_t total, failed, unanswered, pending;
	uint64_t by_rcode[4096]; /* by rcode, 12 bits with EDNS */
	uint64_t latency_count;
	double latency_p50_ms, latency_p90_ms, latency_p99_ms;
	uint64_t latency_buckets[STORE_LATENCY_BUCKETS]; /* for merging with the history's */
	struct store_top names[STORE_TOP_N];	 /* key: name id; failed: rcode not NOERROR */
	struct store_top processes[STORE_TOP_N]; /* key: comm id */
	struct store_top servers[STORE_TOP_N];	 /* key: endpoint id; failed: unanswered */
	uint64_t server_latency_us[STORE_TOP_N]; /* p90 of servers[i] */
	struct store_top failing[STORE_TOP_N];	 /* names that failed or went unanswered */
	int failing_rcode[STORE_TOP_N];		 /* failing[i]'s latest failure: rcode, or -1:
						  * unanswered */
	size_t n_names, n_processes, n_servers, n_failing;
};

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
/* DNS queries: counts, latency percentiles, top names, processes, servers and failing names,
 * as of now_ns (a query older than STORE_DNS_TIMEOUT_NS without response is unanswered). */
int store_dns_stats(struct store *s, const struct store_filter *f, uint64_t now_ns,
		    struct store_dns_stats *ret);
int store_list_dns(struct store *s, const struct store_filter *f, uint64_t *ret, size_t max,
		   size_t *ret_n, uint64_t *ret_total);
static inline const struct store_dns *store_dns_at(const struct store *s, uint64_t abs)
{
	return store_ring_at(&s->dns, abs);
}
/* A name or answer text of the names table ("" for id 0). */
const char *store_name(const struct store *s, uint32_t id);
/* The name addr (family AF_INET/AF_INET6) was looked up by at ts_ns: pid's own lookup first, then
 * any process's, within the answer's TTL. 0 when none. */
uint32_t store_ipname(const struct store *s, uint8_t family, const uint8_t *addr, uint32_t pid,
		      uint64_t ts_ns);

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
int store_quality(struct store *s, const struct store_filter *f, struct store_quality *ret);
/* The lifecycle record of connect record abs, NULL when it has none (yet). */
const struct store_life *store_conn_life(const struct store *s, uint64_t abs);
/* The remote end of connect record abs: its destination, or an inbound one's peer. */
uint32_t store_conn_remote(const struct store *s, uint64_t abs);
static inline const struct store_end_ref *store_end_at(const struct store *s, uint64_t abs)
{
	return store_ring_at(&s->ends, abs);
}
static inline const struct store_signal *store_signal_at(const struct store *s, uint64_t abs)
{
	return (const struct store_signal *)(s->signals.v + (abs & s->signals.mask) * s->signals.elem);
}
int store_list_signals(struct store *s, const struct store_filter *f, uint64_t *ret, size_t max,
		       size_t *ret_n, uint64_t *ret_total);
/* Bytes held by the store. */
size_t store_memory(const struct store *s);
size_t store_count(const struct store *s); /* records held: connects, drops, TCP signals */

#endif
