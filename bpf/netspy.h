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

/* Counters in the per-CPU "counters" array. */
enum netspy_counter {
	NETSPY_CNT_LOST = 0,	   /* ring buffer full: event not delivered */
	NETSPY_CNT_CONNECT = 1,	   /* connect events produced */
	NETSPY_CNT_OUTCOME = 2,	   /* TCP outcome events produced */
	NETSPY_CNT_DROP = 3,	   /* drop events produced */
	NETSPY_CNT_OWNER_MISS = 4, /* drops whose socket owner was not known */
	NETSPY_CNT_MAX = 8,
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
	__u32 uid;
	__u32 netns;
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() */
	__u64 cookie;
	__u64 cgroup_id;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[NETSPY_COMM_LEN_BPF];
	union {
		struct {
			__s32 err;
			__u32 pad2;
			__u64 latency_ns;
		} tcp;
		struct {
			__u32 reason;
			__u32 ifindex;
			__u64 location;
		} drop;
	};
};

/* What netspyd knows about a socket's owner, keyed by socket cookie. */
struct netspy_owner {
	__u64 connect_ts_ns; /* start of the latest TCP connect, 0 when none pending */
	__u32 pid;
	__u32 tid;
	char comm[NETSPY_COMM_LEN_BPF];
};

#endif
