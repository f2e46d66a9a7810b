/* The record the eBPF programs write to the ring buffer, shared by bpf/netspy.bpf.c and netspyd. */
#ifndef NETSPY_BPF_H
#define NETSPY_BPF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NETSPY_COMM_LEN_BPF 16

enum netspy_event_type {
	NETSPY_EV_CONNECT = 1,
	NETSPY_EV_TCP_OUTCOME = 2,
	NETSPY_EV_DROP = 3,
	NETSPY_EV_KICK = 4, /* struct netspy_kick: "drain the per-CPU rings", never an event */
	NETSPY_EV_DNS = 5,	      /* struct netspy_dns_record: a DNS message and its bytes */
	NETSPY_EV_TCP_ACCEPT = 6,     /* a server's connection completed its handshake */
	NETSPY_EV_TCP_END = 7,	      /* an established TCP connection reached CLOSE */
	NETSPY_EV_TCP_RETRANSMIT = 8, /* a TCP segment was retransmitted */
	NETSPY_EV_TCP_RESET = 9,      /* a TCP connection sent or received a reset */
	/* 10-11 reserved for flood folding */
	NETSPY_EV_MAX, /* one past the last: sizes per-type arrays */
};

/* Mirrors netspy.v1.Outcome. */
enum netspy_outcome {
	NETSPY_OUT_ESTABLISHED = 1,
	NETSPY_OUT_REFUSED = 2,
	NETSPY_OUT_TIMEOUT = 3,
	NETSPY_OUT_UNREACHABLE = 4,
	NETSPY_OUT_RESET = 5,
	NETSPY_OUT_ERROR = 6,
	NETSPY_OUT_ABORTED = 7,
};

/* Flags in netspy_event.flags. */
#define NETSPY_F_ATTRIBUTED 0x1 /* drop: pid/tid/comm name the socket's owner */
#define NETSPY_F_SRC_BOUND 0x2	/* connect: the socket had a local address */
#define NETSPY_F_JIFFIES_TS 0x4 /* ts_ns holds the kernel's jiffies (netspyd converts it) */
#define NETSPY_F_SYNC 0x8	/* outcome: the connect failed inside connect(), no packet left */
#define NETSPY_F_ABANDONED 0x10 /* outcome: its application closed it before any answer */
#define NETSPY_F_BY_FLOW 0x20	/* drop: attributed by the packet's flow tuple, not its socket */
#define NETSPY_F_INBOUND 0x40	/* end: an accepted connection; reset: received, not sent */
#define NETSPY_F_NO_START 0x80	/* end: its start was not seen (duration unknown) */

/* How a TCP connection ended (netspy_event.outcome of NETSPY_EV_TCP_END). Mirrors netspy.v1.TcpEnd.
 * A reset the socket sends as it closes (SO_LINGER 0, unread data) is sent after the CLOSE
 * transition: its NETSPY_EV_TCP_RESET event, with the same cookie, follows the end event. */
enum netspy_end {
	NETSPY_END_CLOSED = 1,
	NETSPY_END_RESET_SENT = 2,
	NETSPY_END_RESET_RECEIVED = 3,
	NETSPY_END_TIMEOUT = 4,
};
#define NETSPY_F_INGRESS 0x40	/* dns: received by the socket (else sent by it); flags are per type */

/* Counters in the per-CPU "counters" array. */
enum netspy_counter {
	NETSPY_CNT_LOST = 0,	   /* ring buffer full: event not delivered */
	NETSPY_CNT_CONNECT = 1,	   /* connect events produced */
	NETSPY_CNT_OUTCOME = 2,	   /* TCP outcome events produced */
	NETSPY_CNT_DROP = 3,	   /* drop events produced */
	NETSPY_CNT_OWNER_MISS = 4, /* drops whose socket owner was not known */
	NETSPY_CNT_DNS = 5,	   /* DNS messages produced */
	NETSPY_CNT_DNS_TRUNC = 6,  /* DNS messages longer than NETSPY_DNS_MAX: copied in part */
	NETSPY_CNT_FOLD_SPILL = 7, /* folded counts sent as a record at once (fold table full, or
				    * an epoch netspyd's flush owns) */
	NETSPY_CNT_ACCEPT = 8,	   /* inbound TCP connection events produced */
	NETSPY_CNT_TCP_END = 9,	   /* TCP connection end events produced */
	NETSPY_CNT_RETRANSMIT = 10, /* TCP retransmit events produced */
	NETSPY_CNT_RESET = 11,	   /* TCP reset events produced */
	NETSPY_CNT_MAX = 12,
};

/* Addresses are in network byte order, ports in host byte order. For AF_INET only the first four
 * bytes of an address are used. */
struct netspy_event {
	__u8 type;	/* enum netspy_event_type */
	__u8 family;	/* AF_INET / AF_INET6, 0 for a drop that was neither */
	__u8 ip_proto;	/* IPPROTO_TCP / IPPROTO_UDP / ... */
	__u8 sock_type; /* SOCK_STREAM / SOCK_DGRAM (connect events) */
	__u8 flags;
	__u8 outcome; /* enum netspy_outcome (TCP outcome events) */
	__u16 sport;
	__u16 dport;
	__u16 pad;
	__u32 pid;
	__u32 tid;
	union {
		__u32 uid;
		__u32 life_segs_out; /* TCP end: segments sent, retransmissions included */
	};
	union {
		__u32 netns;
		__u32 life_duration_ms; /* TCP end */
	};
	__u32 commit; /* per-CPU rings: slot position + 1 once the record is complete */
	__u64 ts_ns;  /* bpf_ktime_get_boot_ns(), or jiffies with NETSPY_F_JIFFIES_TS */
	__u64 cookie;
	__u64 cgroup_id;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[NETSPY_COMM_LEN_BPF];
	union {
		/* Outcome of a connect: TCP (SYN_SENT -> ESTABLISHED / CLOSE), or a TCP or UDP
		 * connect that failed inside the syscall (NETSPY_F_SYNC). */
		struct {
			__s32 err;	  /* positive errno, 0 when none or not known */
			__u8 syn_retrans; /* SYN retransmissions before an abandoned connect */
			__u8 pad2[3];
			__u64 latency_ns;
		} tcp;
		struct {
			__u32 reason;
			__u32 ifindex;
			__u64 location;
			__u32 count; /* drops this record stands for: 0 or 1 = one, more: folded */
			__u32 pad3;
		} drop;
		/* The end of an established TCP connection (NETSPY_EV_TCP_END); how it ended is in
		 * outcome (enum netspy_end), its direction in flags (NETSPY_F_INBOUND), its sent
		 * segments and duration (connect() or handshake to CLOSE) in life_segs_out and
		 * life_duration_ms: the record stays 128 bytes. */
		struct {
			__u64 bytes_sent;     /* payload bytes the peer acknowledged */
			__u64 bytes_received; /* payload bytes received */
			__u32 retrans;	      /* total_retrans: segments retransmitted */
			__u32 srtt_us;	      /* smoothed RTT */
		} life;
		/* A retransmit or a reset (NETSPY_EV_TCP_RETRANSMIT, NETSPY_EV_TCP_RESET). */
		struct {
			__u64 pad4[2];
			__u32 segs;  /* retransmits: segments each retransmission carried */
			__u32 count; /* events this record stands for: 0 or 1 = one, more: folded */
		} sig;
		/* A DNS message (UDP or TCP, port 53): the addresses and ports are the packet's,
		 * NETSPY_F_INGRESS says which way it went, NETSPY_F_ATTRIBUTED whether pid, tid
		 * and comm name the socket's owner. */
		struct {
			__u16 len;     /* payload bytes in the packet (UDP payload, TCP segment) */
			__u16 cap_len; /* bytes copied into the record, at most NETSPY_DNS_MAX */
			__u32 pad3;
			__u64 ref;     /* netspyd: where its backlog keeps the bytes (0: gone) */
		} dns;
	};
};

/* Bytes of a DNS message copied from the packet: the question and the answers of an ordinary
 * response (the classic UDP limit); a longer message is copied in part and counted as truncated.
 * A power of two (the program bounds the copy with a mask). */
#define NETSPY_DNS_MAX 512

/* What the DNS hooks write to the shared ring buffer: the event, then dns.cap_len bytes of the
 * message as it was on the wire (for TCP, the segment's payload with its length prefixes). */
struct netspy_dns_record {
	struct netspy_event e;
	__u8 data[NETSPY_DNS_MAX];
};

/* ---- flood folding ----
 * When one CPU sees more than flood_threshold events a second (measured over a window of
 * flood_window_jiffies), identical events are folded: the program counts them in a one-entry
 * per-CPU cache (struct netspy_fold_cpu, in .bss, which netspyd maps), spills a replaced entry
 * into the per-CPU hash "fold_hash", and netspyd turns both into records with a count once their
 * epoch (fold_epoch, bumped by netspyd every interval) is two behind. Nothing is evicted: a spill
 * the hash cannot take goes to the ring buffer at once as a record with its count. The key names
 * the event type: drops, TCP retransmits and TCP resets fold the same way, each kind with its own
 * rate window and cache on every CPU (fold_cpu[kind][cpu]), so that one kind's flood neither
 * starts folding for another nor makes their keys evict each other from the cache. */
#define NETSPY_FOLD_CPUS 512

/* The kinds of events that fold: the first index of fold_cpu. */
enum netspy_fold_kind {
	NETSPY_FOLD_DROP = 0,
	NETSPY_FOLD_RETRANSMIT = 1,
	NETSPY_FOLD_RESET = 2,
	NETSPY_FOLD_KINDS = 3,
};

#define NETSPY_FOLD_GEN_SHIFT 40 /* netspy_fold_cpu.word: generation << 40 | count */
#define NETSPY_FOLD_COUNT_MASK ((1ull << NETSPY_FOLD_GEN_SHIFT) - 1)

struct netspy_fold_key {
	__u64 cookie;
	__u32 epoch;
	__u32 reason; /* drops: the drop reason; retransmits: segments each carried; resets: 1 when
		       * received, 0 when sent */
	__u32 ifindex;
	__u32 netns;
	__u8 type; /* enum netspy_event_type */
	__u8 family;
	__u8 ip_proto;
	__u8 pad;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct netspy_fold_val {
	__u64 count;
	__u64 first_ns; /* boot time of the first event folded */
	__u32 pid;
	__u32 tid;
	char comm[NETSPY_COMM_LEN_BPF];
	__u8 flags; /* NETSPY_F_* of the record it becomes */
	__u8 pad[7];
};

struct netspy_fold_cpu {
	/* The cache: count of key's events (low bits) and a generation the program bumps each
	 * time it replaces key, so that netspyd can take the count with a compare-and-swap. */
	__u64 word;
	__u64 win_start; /* jiffies: start of the rate window */
	__u32 win_n;	 /* events in the rate window */
	__u32 last_n;	 /* events in the last complete window */
	__u32 flood;	 /* 1 while this CPU folds */
	/* 1 when the fold hash refused this CPU an entry (full) in this rate window: until the next
	 * window a spill that finds no entry goes out as a record without trying to add one. */
	__u32 hash_full;
	struct netspy_fold_key key;
	struct netspy_fold_val val; /* val.count unused: the count is in word */
} __attribute__((aligned(64)));

/* The record n folded events of key k become (n capped at the count's range): the program's
 * spill and netspyd's flush build it alike. e is zeroed already. */
static inline __attribute__((always_inline)) void
netspy_fold_fill(struct netspy_event *e, const struct netspy_fold_key *k,
		 const struct netspy_fold_val *v, __u64 n)
{
	__u32 count = n > 0xffffffffull ? 0xffffffffu : (__u32)n;

	e->type = k->type;
	e->ts_ns = v->first_ns;
	e->family = k->family;
	e->ip_proto = k->ip_proto;
	e->sport = k->sport;
	e->dport = k->dport;
	e->netns = k->netns;
	e->cookie = k->cookie;
	__builtin_memcpy(e->saddr, k->saddr, 16);
	__builtin_memcpy(e->daddr, k->daddr, 16);
	e->pid = v->pid;
	e->tid = v->tid;
	e->flags = v->flags;
	__builtin_memcpy(e->comm, v->comm, sizeof(e->comm));
	if (k->type == NETSPY_EV_DROP) {
		e->drop.reason = k->reason;
		e->drop.ifindex = k->ifindex;
		e->drop.count = count;
		return;
	}
	/* A TCP retransmit or reset. */
	e->sock_type = 1; /* SOCK_STREAM */
	e->sig.count = count;
	if (k->type == NETSPY_EV_TCP_RETRANSMIT)
		e->sig.segs = k->reason;
	else if (k->reason)
		e->flags |= NETSPY_F_INBOUND;
}

/* The count field of a record of a kind that folds (0 in a record that was not folded). */
static inline __attribute__((always_inline)) __u32
netspy_event_fold_count(const struct netspy_event *e)
{
	if (e->type == NETSPY_EV_DROP)
		return e->drop.count;
	if (e->type == NETSPY_EV_TCP_RETRANSMIT || e->type == NETSPY_EV_TCP_RESET)
		return e->sig.count;
	return 0;
}

/* How many events a record stands for: its count when folded, else 1. Every total counts a
 * record so. */
static inline __attribute__((always_inline)) __u32 netspy_event_count(const struct netspy_event *e)
{
	__u32 n = netspy_event_fold_count(e);

	return n ? n : 1;
}

/* Records (all but DNS messages) do not go through the shared ring buffer, whose reservation takes
 * a lock with interrupts off: each CPU has its own ring of netspy_event slots in the mmapable array
 * "conn_ring" (slots [cpu << order, (cpu + 1) << order)), whose positions live in "conn_ctl". The
 * BPF programs on that CPU are the only producers (a program claims a slot with a
 * compare-and-swap on head, so one interrupted or preempted by another on the same CPU cannot
 * share a slot), netspyd the only consumer. A slot is
 * complete when its commit word equals its position + 1. head and tail sit on separate cache lines:
 * the kernel writes one, netspyd the other. */
struct netspy_ring_ctl {
	__u64 head; /* positions claimed by the kernel */
	__u64 pad1[7];
	__u64 tail; /* positions netspyd has consumed */
	__u64 pad2[7];
};

/* Written to the shared ring buffer, with a forced wakeup, when a CPU's ring is a quarter
 * full: it only wakes netspyd, which then drains every ring. */
struct netspy_kick {
	__u8 type; /* NETSPY_EV_KICK */
	__u8 pad[7];
};

/* A jiffies count and the boot time it was read at, taken on demand by netspyd (the "sample_clock"
 * program): how netspyd turns the jiffies of UDP connects into time. */
struct netspy_clock_sample {
	__u64 jiffies;
	__u64 boot_ns;
};

/* netspy_owner.flags */
#define NETSPY_OWNER_SYN_SENT 0x1    /* the pending TCP connect reached SYN_SENT */
#define NETSPY_OWNER_UDP_CONNECT 0x2 /* a UDP socket that connect() was called on */
#define NETSPY_OWNER_REPORTED 0x4    /* a UDP connect's failure was reported already */
#define NETSPY_OWNER_INBOUND 0x8     /* an accepted TCP connection */
#define NETSPY_OWNER_RESET_RECV 0x10 /* the connection received a reset */

/* A flow tuple as a connection's packets carry it (sport/saddr the socket's own side). */
struct netspy_flow {
	__u8 family; /* 0: none recorded */
	__u8 proto;
	__u16 sport; /* host order */
	__u16 dport;
	__u16 pad;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* What netspyd knows about a socket's owner, keyed by socket cookie. */
struct netspy_owner {
	__u64 connect_ts_ns; /* start of the latest TCP connect, 0 when none pending */
	__u32 pid;
	__u32 tid;
	char comm[NETSPY_COMM_LEN_BPF];
	__u8 flags;	/* NETSPY_OWNER_* about the pending connect */
	__u8 family;	/* of the pending connect's destination */
	__u16 dport;	/* host order */
	__s32 sync_err; /* errno of a route lookup that failed for it (policy routing), or 0 */
	__u8 daddr[16]; /* the pending connect's destination */
	__u64 start_ts_ns; /* the established connection's start (connect() or handshake), or 0 */
	__u64 cgroup_id;   /* bound_ports entries: the cgroup of the process that bound the port */
	struct netspy_flow flow; /* the socket's flow, once recorded (see "flows") */
};

#endif
