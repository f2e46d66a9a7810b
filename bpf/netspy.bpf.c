// SPDX-License-Identifier: GPL-2.0-only
/* netspy's kernel side: connection attempts (cgroup sock_addr hooks), TCP connect outcomes
 * (inet_sock_set_state) and packet drops with the kernel's reason (kfree_skb). Records go to
 * per-CPU rings netspyd maps (see struct netspy_ring_ctl), claimed without a lock; DNS messages
 * (longer records), the folded counts spilled during a flood and the wakeups go to one ring
 * buffer. Every record that does not fit is counted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "netspy.h"

/* Macros, not enums, in the kernel: vmlinux.h cannot carry them. IPPROTO_*, TCP_* (states) and
 * SOCK_STREAM come from vmlinux.h; errno values from the uapi header, which defines nothing else.
 */
#include <asm-generic/errno.h>

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

char LICENSE[] SEC("license") = "GPL";

/* Linux 6.2+. Weak: on older kernels libbpf leaves it unresolved, and netspyd loads the programs
 * that do not call it (see the attach table in collectord/probes.c). */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* Set by netspyd before load. */
const volatile __u64 wakeup_bytes = 1 << 20;	 /* wake the reader once this much is queued */
const volatile bool kfree_skb_has_rx_sk = false; /* kernel passes the receiving socket */
const volatile __u32 ignore_tgid = 0;		 /* netspyd itself */
const volatile __u32 conn_ring_order = 3;	 /* log2 of the ring slots per CPU */
const volatile bool retransmit_has_err = false;	 /* tcp_retransmit_skb passes its result */
const volatile bool known_sockets_only = false;	 /* TCP lifecycle: only sockets with an owner */
/* Flood folding (bpf/netspy.h), written by netspyd through its mapping of .bss once it knows the
 * kernel's HZ: events per CPU per rate window above which identical events are folded (0: never),
 * the window's length, and the epoch of folded counts. */
volatile __u32 flood_window_events;
volatile __u64 flood_window_jiffies;
volatile __u32 fold_epoch;
/* Set by netspyd when it cannot read the hash (a kernel that refuses map syscalls to a process
 * without capabilities): spills then go to the ring buffer at once. */
volatile __u32 fold_no_hash;
struct netspy_fold_cpu fold_cpu[NETSPY_FOLD_KINDS][NETSPY_FOLD_CPUS];

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by netspyd */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETSPY_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The per-CPU rings: (number of CPUs << conn_ring_order) slots, sized by netspyd. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netspy_event);
} conn_ring SEC(".maps");

/* Their positions, one entry per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netspy_ring_ctl);
} conn_ctl SEC(".maps");

/* TCP ports bound in a network namespace -> the process that bound them. Accepted sockets pass
 * neither the connect nor the bind hooks: when one completes its handshake it inherits the owner
 * of its port, so that drops on a server's connections name the server. */
struct bound_port {
	__u64 netns_cookie;
	__u16 port;
	__u16 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct bound_port);
	__type(value, struct netspy_owner);
} bound_ports SEC(".maps");

/* Per CPU, the socket whose owner this CPU recorded last: a socket connecting again and again (a
 * UDP client) skips the owners map. It also names the connect this thread is inside, with its
 * destination: the route lookup that follows the hook in the same syscall, on the same CPU,
 * finds it here (route_failed()). */
struct owner_hint {
	__u64 cookie;
	__u32 tid;
	__u8 proto;  /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family; /* 0: no connect to report a route failure for */
	__u16 dport; /* host order */
	__u32 daddr[4];
	/* The UDP connect whose flow tuple was recorded last (udp_flow_seen()): its socket and
	 * destination, so that a socket connecting again and again to one place records it once. */
	__u64 flow_cookie;
	__u32 flow_daddr;
	__u16 flow_dport;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct owner_hint);
} owner_hints SEC(".maps");

/* Socket cookie -> the process that connected, bound or accepted it: a table of OWNER_SLOTS slots
 * indexed by the cookie's low bits, each holding the cookie it is for. A hash map would take a
 * lock with interrupts off at every insert (two for an LRU map), the dearest part of a short
 * connection; a slot is written with plain stores. The kernel hands cookies out in increasing
 * order (in batches per CPU), so the socket whose entry a new one replaces is about OWNER_SLOTS
 * cookies older: the table forgets the oldest sockets first, as the LRU map it replaced did. A
 * socket whose entry was replaced loses its owner (its later events go unattributed and are
 * counted so), never gets another's: every reader compares the cookie. */
#define OWNER_SLOTS 65536

struct owner_slot {
	__u64 cookie; /* 0: empty, or being rewritten */
	struct netspy_owner o;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OWNER_SLOTS);
	__type(key, __u32);
	__type(value, struct owner_slot);
} owners SEC(".maps");

/* A connection's flow tuple, as its packets carry it, -> its socket. A packet that crosses
 * loopback or a veth into another namespace loses its socket (skb->sk is NULL where it is
 * dropped): its flow still names the socket that sent it. Recorded when a TCP connect sends its
 * SYN (and for UDP at the connect's route lookup), in the socket's owner entry, which the flow's
 * packets are checked against, and in this index: FLOW_SETS sets of FLOW_WAYS cookies, the set
 * chosen by a hash of the tuple, newest first. A flow is forgotten once FLOW_WAYS newer flows of
 * its set were recorded (about 65536 newer flows in all for an even chance), when its owner
 * entry is, or, rarely, when two CPUs record into its set at once; a flow the index names wrongly
 * fails the check. */
#define FLOW_SETS 16384
#define FLOW_WAYS 4

struct flow_set {
	__u64 cookie[FLOW_WAYS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_SETS);
	__type(key, __u32);
	__type(value, struct flow_set);
} flows SEC(".maps");

/* The owner entry of a socket, or NULL. */
static __always_inline struct netspy_owner *owner_get(__u64 cookie)
{
	__u32 idx = (__u32)cookie & (OWNER_SLOTS - 1);
	struct owner_slot *s = bpf_map_lookup_elem(&owners, &idx);

	return s && cookie && s->cookie == cookie ? &s->o : NULL;
}

/* Makes *o the owner entry of a socket (cookie != 0), replacing what its slot held. The cookie
 * is cleared while the entry is rewritten: a reader on another CPU finds no entry rather than
 * half of one. */
static __always_inline void owner_put(__u64 cookie, const struct netspy_owner *o)
{
	__u32 idx = (__u32)cookie & (OWNER_SLOTS - 1);
	struct owner_slot *s = bpf_map_lookup_elem(&owners, &idx);

	if (!s)
		return;
	*(volatile __u64 *)&s->cookie = 0;
	__builtin_memcpy(&s->o, o, sizeof(s->o));
	*(volatile __u64 *)&s->cookie = cookie;
}

/* The set of a flow tuple in the index: a multiplicative hash of the tuple's five words. */
static __always_inline __u32 flow_set_of(const struct netspy_flow *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = 0;

	for (int i = 0; i < (int)(sizeof(*k) / 8); i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return (__u32)(h >> 32) & (FLOW_SETS - 1);
}

/* Records the flow of a socket that has an owner entry (a flow without one could attribute
 * nothing). A subprogram: inlined, clang may turn the callers' context reads into pointer
 * arithmetic the verifier refuses. */
static __noinline void flow_put(const struct netspy_flow *k, __u64 cookie)
{
	struct netspy_owner *o = owner_get(cookie);
	__u32 idx = flow_set_of(k);
	struct flow_set *set;

	if (!o)
		return;
	__builtin_memcpy(&o->flow, k, sizeof(o->flow));
	set = bpf_map_lookup_elem(&flows, &idx);
	if (!set || set->cookie[0] == cookie)
		return;
	set->cookie[3] = set->cookie[2];
	set->cookie[2] = set->cookie[1];
	set->cookie[1] = set->cookie[0];
	set->cookie[0] = cookie;
}

static __always_inline bool flow_equal(const struct netspy_flow *a, const struct netspy_flow *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 d = 0;

	for (int i = 0; i < (int)(sizeof(*a) / 8); i++)
		d |= x[i] ^ y[i];
	return !d;
}

/* The cookie of the socket a flow tuple was recorded for (its owner entry has that flow), or 0. */
static __noinline __u64 flow_get(const struct netspy_flow *k)
{
	__u32 idx = flow_set_of(k);
	struct flow_set *set = bpf_map_lookup_elem(&flows, &idx);
	struct netspy_owner *o;
	__u64 cookie;

	if (!set)
		return 0;
	for (int i = 0; i < FLOW_WAYS; i++) {
		cookie = set->cookie[i];
		o = owner_get(cookie);
		if (o && flow_equal(&o->flow, k))
			return cookie;
	}
	return 0;
}

/* Folded counts of the current epoch, per CPU (bpf/netspy.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct netspy_fold_key);
	__type(value, struct netspy_fold_val);
} fold_hash SEC(".maps");

static __always_inline void count_n(__u32 which, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += n;
}

static __always_inline void count(__u32 which)
{
	count_n(which, 1);
}

/* Every record starts as zeroes, as a whole: a field added later can never carry bytes that an
 * earlier record left in a ring slot. The one place records are cleared. */
static __always_inline void record_init(struct netspy_event *e, __u8 type)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
}

/* Publishes a filled slot: every store to it must be visible before the commit word is. x86 keeps
 * stores in order (and the JIT emits them in program order); elsewhere an atomic exchange is a full
 * barrier. */
static __always_inline void commit_slot(struct netspy_event *e, __u32 value)
{
#if defined(__TARGET_ARCH_x86)
	asm volatile("" ::: "memory");
	*(volatile __u32 *)&e->commit = value;
#else
	__sync_lock_test_and_set(&e->commit, value);
#endif
}

/* Wakes netspyd through the shared ring buffer. */
static __always_inline void kick(void)
{
	struct netspy_kick k = { .type = NETSPY_EV_KICK };

	bpf_ringbuf_output(&events, &k, sizeof(k), BPF_RB_FORCE_WAKEUP);
}

/* Claims this CPU's next ring slot, or counts the record lost. *filled is the number of slots in
 * use once this one is. A program that interrupted this one on its CPU (softirq over a syscall,
 * hardirq over softirq) between its reading the head and claiming it has claimed that slot and
 * moved the head on: the claim is tried again, up to three levels of nesting deep. */
static __always_inline struct netspy_event *claim_slot(__u64 *pos, __u64 *filled)
{
	__u32 cpu = bpf_get_smp_processor_id(), idx;
	__u64 slots = 1ull << conn_ring_order, h, t;
	struct netspy_ring_ctl *ctl;
	struct netspy_event *e;

	ctl = bpf_map_lookup_elem(&conn_ctl, &cpu);
	if (!ctl) { /* a CPU beyond those netspyd sized the rings for: cannot happen */
		count(NETSPY_CNT_LOST);
		return NULL;
	}
	for (int i = 0; i < 3; i++) {
		h = ctl->head;
		t = *(volatile __u64 *)&ctl->tail;
		if (h - t >= slots)
			break;
		idx = (cpu << conn_ring_order) | ((__u32)h & (__u32)(slots - 1));
		e = bpf_map_lookup_elem(&conn_ring, &idx);
		if (!e)
			break;
		if (__sync_val_compare_and_swap(&ctl->head, h, h + 1) == h) {
			*pos = h;
			*filled = h + 1 - t;
			return e;
		}
	}
	count(NETSPY_CNT_LOST);
	return NULL;
}

/* A record in this CPU's ring: claimed and cleared, with its type. */
static __always_inline struct netspy_event *ring_reserve(__u8 type, __u64 *pos, __u64 *filled)
{
	struct netspy_event *e = claim_slot(pos, filled);

	if (e)
		record_init(e, type);
	return e;
}

/* Publishes a ring record and counts it. Wakes netspyd at every quarter of a ring (a quarter, a
 * half, three quarters): a ring that refilled past a quarter while netspyd was still reading it
 * must wake it again, not wait for the drain timer. The timer drains the last partial quarter. */
static __always_inline void ring_submit(struct netspy_event *e, __u64 pos, __u64 filled,
					__u32 counter)
{
	commit_slot(e, (__u32)pos + 1);
	count(counter);
	if (!(filled & (((1ull << conn_ring_order) >> 2) - 1)))
		kick();
}

static __always_inline __u8 failure_outcome(int err)
{
	return err == ENETUNREACH || err == EHOSTUNREACH ? NETSPY_OUT_UNREACHABLE
							 : NETSPY_OUT_ERROR;
}

/* A TCP connect that never sent its SYN (it is still pending and its socket never reached
 * SYN_SENT) failed inside connect(): with the errno a route lookup left, or an unknown one (a
 * firewall or LSM verdict, ...). Reported from the owner entry, which keeps its destination. */
static __always_inline void emit_sync_failure(__u64 cookie, struct netspy_owner *o, __u64 now)
{
	struct netspy_event *e;
	__u64 pos, filled;
	__u64 start = o->connect_ts_ns;

	o->connect_ts_ns = 0;
	e = ring_reserve(NETSPY_EV_TCP_OUTCOME, &pos, &filled);
	if (!e)
		return;
	e->family = o->family;
	e->ip_proto = IPPROTO_TCP;
	e->sock_type = SOCK_STREAM;
	e->flags = NETSPY_F_SYNC;
	e->ts_ns = now;
	e->cookie = cookie;
	e->pid = o->pid;
	e->tid = o->tid;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	e->dport = o->dport;
	__builtin_memcpy(e->daddr, o->daddr, sizeof(e->daddr));
	e->tcp.err = o->sync_err;
	e->outcome = failure_outcome(o->sync_err);
	if (start <= now)
		e->tcp.latency_ns = now - start;
	ring_submit(e, pos, filled, NETSPY_CNT_OUTCOME);
}

/* The destination a connect asks for, as 4 words (an IPv4 address in the first). */
static __always_inline void connect_daddr(struct bpf_sock_addr *ctx, __u8 family, __u32 d[4])
{
	if (family == AF_INET) {
		d[0] = ctx->user_ip4;
		d[1] = d[2] = d[3] = 0;
	} else {
		d[0] = ctx->user_ip6[0];
		d[1] = ctx->user_ip6[1];
		d[2] = ctx->user_ip6[2];
		d[3] = ctx->user_ip6[3];
	}
}

/* The connect hook runs on every connect of the machine: the comm is read straight from the
 * task (two loads) rather than through bpf_get_current_comm(), which copies it byte by byte. */
static __always_inline void copy_current_comm(char *dst, struct task_struct *task)
{
	__u64 *d = (__u64 *)dst;
	const __u64 *src = (const __u64 *)task->comm;

	d[0] = src[0];
	d[1] = src[1];
}

static __always_inline void remember_owner(__u64 cookie, bool new_cookie, __u32 tgid, __u32 tid,
					   __u8 flags)
{
	struct netspy_owner *o, fresh = {};

	o = new_cookie ? NULL : owner_get(cookie);
	if (o && o->tid == tid) {
		o->flags |= flags;
		return;
	}
	fresh.pid = tgid;
	fresh.tid = tid;
	fresh.flags = flags;
	bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
	owner_put(cookie, &fresh);
}

/* A TCP connect: its owner, its start (the handshake latency is measured from it) and its
 * destination (for a failure reported before the socket has one). A previous connect of the same
 * socket still pending without a SYN failed inside its syscall: reported now. A socket whose
 * cookie was made just now has no entry (every entry is keyed by a cookie netspy had made): the
 * lookup, a miss in a large table on every new socket, is skipped. */
static __always_inline void remember_tcp_connect(struct task_struct *task, __u64 cookie,
						 bool new_cookie, __u32 tgid, __u32 tid, __u64 now,
						 __u8 family, const __u32 d[4], __u16 dport)
{
	struct netspy_owner *o, fresh = {};

	o = new_cookie ? NULL : owner_get(cookie);
	if (o && o->tid == tid) {
		if (o->connect_ts_ns && !(o->flags & NETSPY_OWNER_SYN_SENT))
			emit_sync_failure(cookie, o, now);
		o->connect_ts_ns = now;
		o->flags = 0;
		o->sync_err = 0;
		o->family = family;
		o->dport = dport;
		__builtin_memcpy(o->daddr, d, 16);
		return;
	}
	fresh.pid = tgid;
	fresh.tid = tid;
	fresh.connect_ts_ns = now;
	fresh.family = family;
	fresh.dport = dport;
	__builtin_memcpy(fresh.daddr, d, 16);
	copy_current_comm(fresh.comm, task);
	owner_put(cookie, &fresh);
}

/* Points this CPU's hint at the connect under way (see struct owner_hint). A UDP socket that
 * connects again from the same thread on the same CPU already has its owner recorded: the hint
 * saves the table lookup. (If a newer socket's entry replaced it meanwhile, the socket's drops go
 * unattributed until another socket's connect on this CPU replaces the hint.) */
static __always_inline void remember_connect_hint(__u64 cookie, bool new_cookie, __u32 tgid,
						  __u32 tid, __u8 proto, __u8 family,
						  const __u32 d[4], __u16 dport)
{
	__u32 zero = 0;
	struct owner_hint *hint = bpf_map_lookup_elem(&owner_hints, &zero);

	if (!hint) {
		if (proto != IPPROTO_TCP)
			remember_owner(cookie, new_cookie, tgid, tid, NETSPY_OWNER_UDP_CONNECT);
		return;
	}
	/* Plain stores to a line this CPU already holds: cheaper than comparing first. */
	hint->proto = proto;
	hint->family = family;
	hint->dport = dport;
	hint->daddr[0] = d[0];
	hint->daddr[1] = d[1];
	hint->daddr[2] = d[2];
	hint->daddr[3] = d[3];
	if (hint->cookie == cookie && hint->tid == tid)
		return;
	if (proto != IPPROTO_TCP)
		remember_owner(cookie, new_cookie, tgid, tid, NETSPY_OWNER_UDP_CONNECT);
	hint->cookie = cookie;
	hint->tid = tid;
}

/* Helper calls are the dearest part of the connect hook (a call and a return each, ~15-20 ns on
 * CPUs whose return-stack mitigations make every return expensive): the task and the cookie are
 * read with plain loads where the kernel allows it. Reading the cookie needs the kernel's socket,
 * which only the bpf_cast_to_kern_ctx kfunc (Linux 6.2) reaches; before it, the helper (and then
 * whether the cookie is new is not known). */
static __always_inline __u64 socket_cookie(struct bpf_sock_addr *ctx, bool kern_ctx,
					   bool *new_cookie)
{
	struct bpf_sock_addr_kern *kctx;
	__u64 cookie;

	*new_cookie = false;
	if (!kern_ctx)
		return bpf_get_socket_cookie(ctx);
	kctx = bpf_cast_to_kern_ctx(ctx);
	cookie = kctx->sk->__sk_common.skc_cookie.counter;
	if (cookie)
		return cookie;
	/* No cookie yet: the helper makes one, and no owner entry can be keyed by it. */
	*new_cookie = true;
	return bpf_get_socket_cookie(ctx);
}

static __always_inline void emit_connect(struct bpf_sock_addr *ctx, __u8 family, bool kern_ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tgid = task->tgid, tid = task->pid;
	struct bpf_sock *sk = ctx->sk;
	struct netspy_event *e;
	__u64 cookie, now, pos, filled;
	__u32 d[4];
	__u16 dport;
	__u8 flags = 0;
	bool new_cookie;

	if (tgid == ignore_tgid)
		return;
	cookie = socket_cookie(ctx, kern_ctx, &new_cookie);
	dport = bpf_ntohs((__u16)ctx->user_port);
	connect_daddr(ctx, family, d);
	if (ctx->protocol == IPPROTO_TCP) {
		/* Nanoseconds: the handshake latency is measured from here. */
		now = bpf_ktime_get_boot_ns();
		remember_tcp_connect(task, cookie, new_cookie, tgid, tid, now, family, d, dport);
	} else {
		/* A UDP connect costs the kernel well under a microsecond, and a clock read (a
		 * helper call) would add a twentieth of that: the jiffies counter (one load) dates
		 * it to the clock tick, and netspyd converts it to time. */
		now = bpf_jiffies64();
		flags = NETSPY_F_JIFFIES_TS;
	}
	remember_connect_hint(cookie, new_cookie, tgid, tid, ctx->protocol, family, d, dport);

	e = ring_reserve(NETSPY_EV_CONNECT, &pos, &filled);
	if (!e)
		return;
	e->family = family;
	e->ip_proto = ctx->protocol;
	e->sock_type = ctx->type;
	e->pid = tgid;
	e->tid = tid;
	e->uid = task->cred->uid.val; /* bpf_get_current_uid_gid(), as loads */
	e->ts_ns = now;
	e->cookie = cookie;
	e->cgroup_id = task->cgroups->dfl_cgrp->kn->id; /* bpf_get_current_cgroup_id(), as loads */
	e->dport = dport;
	if (family == AF_INET) {
		__builtin_memcpy(e->daddr, d, 4);
		if (sk) {
			__u32 s = sk->src_ip4;

			__builtin_memcpy(e->saddr, &s, 4);
			e->sport = sk->src_port;
		}
	} else {
		__builtin_memcpy(e->daddr, d, 16);
		if (sk) {
			__u32 s[4] = { sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2],
				       sk->src_ip6[3] };

			__builtin_memcpy(e->saddr, s, 16);
			e->sport = sk->src_port;
		}
	}
	if (e->sport)
		flags |= NETSPY_F_SRC_BOUND;
	e->flags = flags;
	copy_current_comm(e->comm, task);
	ring_submit(e, pos, filled, NETSPY_CNT_CONNECT);
}

/* netspyd's clock sample (BPF_PROG_TEST_RUN), pairing jiffies with boot time. */
struct netspy_clock_sample clock_sample;

SEC("syscall")
int sample_clock(void *ctx)
{
	clock_sample.jiffies = bpf_jiffies64();
	clock_sample.boot_ns = bpf_ktime_get_boot_ns();
	return 0;
}

/* The verdict of the cgroup programs that ran before this one on this connect: 0, or the negative
 * errno connect() will return (-EPERM when one of them refused it). netspy's hooks sit on the
 * cgroup2 root, and a connect runs its cgroup's programs first and the root's last, so another
 * program's refusal (a firewall, a sandbox) is known here. With the 6.2 kfuncs the verdict is two
 * loads from the run context; before, the bpf_get_retval() helper (5.18); before that, unknown. */
static __always_inline int earlier_verdict(bool kern_ctx)
{
	struct bpf_cg_run_ctx *rc;

	if (kern_ctx) {
		rc = bpf_rdonly_cast(bpf_get_current_task_btf()->bpf_ctx,
				     bpf_core_type_id_kernel(struct bpf_cg_run_ctx));
		return rc->retval;
	}
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_retval))
		return bpf_get_retval();
	return 0;
}

static __always_inline void route_failed(__u8 family, const __u32 d[4], __u16 dport, int err,
					 bool final);

/* A connect that an earlier cgroup program refused fails inside the syscall with its errno: its
 * report goes the way of a failed route lookup, after the connect record is committed. */
static __always_inline void connect_hook(struct bpf_sock_addr *ctx, __u8 family, bool kern_ctx)
{
	__u32 d[4];
	int verdict;

	emit_connect(ctx, family, kern_ctx);
	verdict = earlier_verdict(kern_ctx);
	if (verdict < 0 && verdict >= -4095) {
		connect_daddr(ctx, family, d);
		route_failed(family, d, bpf_ntohs((__u16)ctx->user_port), -verdict, true);
	}
}

/* A cgroup hook must never change what the connect does: always allow (return 1). Two variants of
 * each: netspyd loads the first on kernels with bpf_cast_to_kern_ctx (6.2+), the _compat one
 * elsewhere. */
SEC("cgroup/connect4")
int cgroup_connect4(struct bpf_sock_addr *ctx)
{
	connect_hook(ctx, AF_INET, true);
	return 1;
}

SEC("cgroup/connect6")
int cgroup_connect6(struct bpf_sock_addr *ctx)
{
	connect_hook(ctx, AF_INET6, true);
	return 1;
}

SEC("cgroup/connect4")
int cgroup_connect4_compat(struct bpf_sock_addr *ctx)
{
	connect_hook(ctx, AF_INET, false);
	return 1;
}

SEC("cgroup/connect6")
int cgroup_connect6_compat(struct bpf_sock_addr *ctx)
{
	connect_hook(ctx, AF_INET6, false);
	return 1;
}

/* Servers bind instead of connect: remember who bound, so their drops can be attributed, and
 * who bound each TCP port, for the connections the server will accept on it. */
static __always_inline void note_bind(struct bpf_sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie(sk), pid_tgid = bpf_get_current_pid_tgid();
	struct bound_port key = {};
	struct netspy_owner o = {};

	remember_owner(cookie, false, pid_tgid >> 32, (__u32)pid_tgid, 0);
	if (sk->protocol != IPPROTO_TCP || !sk->src_port)
		return;
	key.netns_cookie = bpf_get_netns_cookie(sk);
	key.port = (__u16)sk->src_port;
	o.pid = pid_tgid >> 32;
	o.tid = (__u32)pid_tgid;
	o.cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o.comm, sizeof(o.comm));
	bpf_map_update_elem(&bound_ports, &key, &o, BPF_ANY);
}

SEC("cgroup/post_bind4")
int cgroup_post_bind4(struct bpf_sock *sk)
{
	note_bind(sk);
	return 1;
}

SEC("cgroup/post_bind6")
int cgroup_post_bind6(struct bpf_sock *sk)
{
	note_bind(sk);
	return 1;
}

/* A socket's flow tuple, from the common part every socket has (timewait and request sockets
 * too), with plain loads: the socket is a BTF pointer (a tp_btf argument, or a field of one), which
 * the kernel reads without a helper call. The local port of a socket already unhashed (a failed
 * connect reaching CLOSE, a reset sent by SO_LINGER 0) comes from inet_sport. Only inet sockets
 * have addresses worth reporting: false for the others (AF_UNIX, netlink...). */
static __always_inline bool sock_tuple(const struct sock *sk, __u8 *family, __u16 *sport,
				       __u16 *dport, __u8 *saddr, __u8 *daddr)
{
	__u16 f = sk->__sk_common.skc_family;

	if (f != AF_INET && f != AF_INET6)
		return false;
	*family = (__u8)f;
	*dport = bpf_ntohs(sk->__sk_common.skc_dport);
	*sport = sk->__sk_common.skc_num;
	if (!*sport)
		*sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	if (f == AF_INET) {
		__u32 s = sk->__sk_common.skc_rcv_saddr, d = sk->__sk_common.skc_daddr;

		__builtin_memcpy(saddr, &s, 4);
		__builtin_memcpy(daddr, &d, 4);
	} else {
		__builtin_memcpy(saddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(daddr, &sk->__sk_common.skc_v6_daddr, 16);
	}
	return true;
}

static __always_inline void copy_sock_tuple(struct netspy_event *e, const struct sock *sk)
{
	if (!sock_tuple(sk, &e->family, &e->sport, &e->dport, e->saddr, e->daddr)) {
		e->family = 0;
		return;
	}
	e->ip_proto = (__u8)sk->sk_protocol;
}

static __always_inline __u8 outcome_of(int newstate, int err)
{
	if (newstate == TCP_ESTABLISHED)
		return NETSPY_OUT_ESTABLISHED;
	switch (err) {
	case 0:
		return NETSPY_OUT_ABORTED;
	case ECONNREFUSED:
		return NETSPY_OUT_REFUSED;
	case ETIMEDOUT:
		return NETSPY_OUT_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return NETSPY_OUT_UNREACHABLE;
	case ECONNRESET:
		return NETSPY_OUT_RESET;
	default:
		return NETSPY_OUT_ERROR;
	}
}

/* A server's new connection (SYN_RECV -> ESTABLISHED) takes the owner of the port it was accepted
 * on, as recorded when the server bound it, and is reported as an inbound connection. Its owner
 * entry also keeps its start and direction for its end. A port bound before netspyd started has
 * no owner: the connection is still reported, unattributed. */
static __always_inline void accepted(const struct sock *sk)
{
	struct bound_port key = {};
	struct netspy_owner *o, fresh = {};
	struct netspy_event *e;
	__u64 pos, filled;
	__u64 cookie, now = bpf_ktime_get_boot_ns();

	key.netns_cookie = sk->__sk_common.skc_net.net->net_cookie;
	key.port = sk->__sk_common.skc_num;
	o = bpf_map_lookup_elem(&bound_ports, &key);
	if (o)
		fresh = *o;
	else if (known_sockets_only)
		return;
	fresh.connect_ts_ns = 0;
	fresh.flags = NETSPY_OWNER_INBOUND;
	fresh.start_ts_ns = now;
	cookie = bpf_get_socket_cookie((void *)sk);
	owner_put(cookie, &fresh);

	e = ring_reserve(NETSPY_EV_TCP_ACCEPT, &pos, &filled);
	if (!e)
		return;
	e->sock_type = SOCK_STREAM;
	e->flags = NETSPY_F_INBOUND;
	e->ts_ns = now;
	e->cookie = cookie;
	copy_sock_tuple(e, sk);
	e->pid = fresh.pid;
	e->tid = fresh.tid;
	e->cgroup_id = fresh.cgroup_id;
	__builtin_memcpy(e->comm, fresh.comm, sizeof(e->comm));
	ring_submit(e, pos, filled, NETSPY_CNT_ACCEPT);
}

/* The states an established connection passes through before CLOSE. */
static __always_inline bool was_established(int state)
{
	return state == TCP_ESTABLISHED || state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 ||
	       state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING;
}

/* An established connection reaches CLOSE: its totals from tcp_sock, its owner, start and
 * direction from the owners entry. A reset received sets sk_err (ECONNRESET, or EPIPE in
 * CLOSE_WAIT) before the transition, a timeout ETIMEDOUT (or the ICMP error it kept); a reset
 * this socket sends as it closes follows the transition (see enum netspy_end). */
/* Payload bytes: bytes_acked and bytes_received count sequence space, which holds a FIN (and, for
 * the connecting side, its SYN) besides the data. A FIN was received when SOCK_DONE is set (only
 * tcp_fin() sets it); ours was acknowledged when we sent one (a state past ESTABLISHED on our
 * side) and snd_una reached write_seq. An established outbound connection's SYN was acknowledged:
 * the connecting side's snd_una starts at its ISN, the accepting side's one past it. */
static __always_inline void payload_bytes(struct netspy_event *e, const struct tcp_sock *tp,
					  int oldstate, bool inbound)
{
	__u64 acked = tp->bytes_acked, received = tp->bytes_received;
	unsigned long flags = tp->inet_conn.icsk_inet.sk.__sk_common.skc_flags;
	bool fin_sent = oldstate == TCP_FIN_WAIT1 || oldstate == TCP_FIN_WAIT2 ||
			oldstate == TCP_CLOSING || oldstate == TCP_LAST_ACK;

	if (!inbound && acked)
		acked--;
	if (fin_sent && acked && tp->snd_una == tp->write_seq)
		acked--;
	if (received && (flags & (1ul << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
		received--;
	e->life.bytes_sent = acked;
	e->life.bytes_received = received;
}

static __always_inline void connection_end(const struct sock *sk, int oldstate)
{
	/* One helper call gives the TCP socket's own fields as plain loads. */
	const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	struct netspy_owner *o;
	struct netspy_event *e;
	__u64 pos, filled;
	__u64 cookie, now = bpf_ktime_get_boot_ns();
	bool inbound = false;
	int err;

	if (!tp)
		return; /* not a full TCP socket: cannot happen on this transition */
	cookie = sk->__sk_common.skc_cookie.counter;
	o = cookie ? owner_get(cookie) : NULL;
	if (!o && known_sockets_only)
		return;
	e = ring_reserve(NETSPY_EV_TCP_END, &pos, &filled);
	if (!e)
		return;
	e->sock_type = SOCK_STREAM;
	e->ts_ns = now;
	e->cookie = cookie;
	copy_sock_tuple(e, sk);
	e->life.retrans = tp->total_retrans;
	e->life.srtt_us = tp->srtt_us >> 3;
	e->life_segs_out = tp->segs_out;
	err = sk->sk_err;
	e->outcome = NETSPY_END_CLOSED;
	if (err == ECONNRESET || err == EPIPE)
		e->outcome = NETSPY_END_RESET_RECEIVED;
	else if (err)
		e->outcome = NETSPY_END_TIMEOUT;
	if (o) {
		e->pid = o->pid;
		e->tid = o->tid;
		__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
		inbound = o->flags & NETSPY_OWNER_INBOUND;
		if (inbound)
			e->flags |= NETSPY_F_INBOUND;
		if (o->flags & NETSPY_OWNER_RESET_RECV)
			e->outcome = NETSPY_END_RESET_RECEIVED;
		if (o->start_ts_ns && o->start_ts_ns <= now)
			e->life_duration_ms = (__u32)((now - o->start_ts_ns) / 1000000);
		else
			e->flags |= NETSPY_F_NO_START;
		o->start_ts_ns = 0;
	} else {
		e->flags |= NETSPY_F_NO_START;
	}
	payload_bytes(e, tp, oldstate, inbound);
	ring_submit(e, pos, filled, NETSPY_CNT_TCP_END);
}

/* The initial retransmission timeout (TCP_TIMEOUT_INIT): a connect that waited this long got
 * no answer in the time the kernel itself allows one. */
#define SYN_RTO_INIT_NS 1000000000ull

/* SYN_SENT -> CLOSE without an error: the kernel did not give up, so either no SYN ever left
 * (the connect failed inside the syscall after SYN_SENT, e.g. no free local port) or its
 * application closed it first. An abandoned connect that was retransmitted or waited the initial
 * RTO got no answer: a timeout, unreachable if an ICMP error came meanwhile. One shorter than
 * that stays aborted (Happy Eyeballs cancels the slower of two attempts by design). */
static __always_inline void closed_without_error(struct netspy_event *e, const struct sock *sk,
						 __u64 waited_ns)
{
	const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	int soft;

	if (!tp)
		return;
	if (!tp->retrans_stamp) {
		e->flags |= NETSPY_F_SYNC;
		e->outcome = NETSPY_OUT_ERROR;
		if (!e->sport)
			e->tcp.err = EADDRNOTAVAIL;
		return;
	}
	e->flags |= NETSPY_F_ABANDONED;
	e->tcp.syn_retrans = tp->inet_conn.icsk_retransmits;
	soft = sk->sk_err_soft;
	if (soft) {
		e->tcp.err = soft;
		e->outcome = failure_outcome(soft);
	} else if (e->tcp.syn_retrans || waited_ns >= SYN_RTO_INIT_NS) {
		e->outcome = NETSPY_OUT_TIMEOUT;
	}
}

/* The socket sends its SYN: the pending connect got past the syscall's failures. */
static __always_inline void syn_sent(const struct sock *sk)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;
	struct netspy_owner *o = cookie ? owner_get(cookie) : NULL;

	if (o)
		o->flags |= NETSPY_OWNER_SYN_SENT;
}

/* A TCP connect resolves when the socket leaves SYN_SENT: to ESTABLISHED on success, to CLOSE
 * with sk_err set (refused, timed out, unreachable) on failure, or without it when abandoned.
 * This fires for blocking and non-blocking connects alike, usually in softirq context: the owner
 * comes from the map. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	struct netspy_owner *o;
	struct netspy_event *e;
	__u64 pos, filled;
	__u64 now, cookie, waited = 0;

	/* Most transitions of a connection (the closing handshake's, a child socket's creation) are
	 * none of those below: they return on the states alone, before any load. The tests are
	 * repeated below rather than kept in booleans: clang materializes such booleans, which
	 * adds instructions to this filter, and it runs at every state change of every socket. */
	if (!(oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) &&
	    !(oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) &&
	    !(newstate == TCP_CLOSE && was_established(oldstate)) &&
	    !(oldstate == TCP_SYN_SENT && (newstate == TCP_ESTABLISHED || newstate == TCP_CLOSE)))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		accepted(sk);
		return 0;
	}
	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) {
		syn_sent(sk);
		return 0;
	}
	if (newstate == TCP_CLOSE && was_established(oldstate)) {
		connection_end(sk, oldstate);
		return 0;
	}
	/* Left: SYN_SENT -> ESTABLISHED or CLOSE. */
	now = bpf_ktime_get_boot_ns();
	cookie = sk->__sk_common.skc_cookie.counter;
	o = cookie ? owner_get(cookie) : NULL;
	if (!o && known_sockets_only) /* not a connect of the cgroup netspyd watches */
		return 0;

	e = ring_reserve(NETSPY_EV_TCP_OUTCOME, &pos, &filled);
	if (!e)
		return 0;
	e->ip_proto = IPPROTO_TCP;
	e->sock_type = SOCK_STREAM;
	e->ts_ns = now;
	e->cookie = cookie;
	copy_sock_tuple(e, sk);
	e->tcp.err = newstate == TCP_ESTABLISHED ? 0 : sk->sk_err;
	e->outcome = outcome_of(newstate, e->tcp.err);
	if (o) {
		e->pid = o->pid;
		e->tid = o->tid;
		__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
		if (o->connect_ts_ns && o->connect_ts_ns <= now)
			waited = e->tcp.latency_ns = now - o->connect_ts_ns;
		/* The connection's duration counts from connect(). */
		if (newstate == TCP_ESTABLISHED)
			o->start_ts_ns = o->connect_ts_ns ? o->connect_ts_ns : now;
		o->connect_ts_ns = 0;
	}
	if (e->outcome == NETSPY_OUT_ABORTED)
		closed_without_error(e, sk, waited);
	ring_submit(e, pos, filled, NETSPY_CNT_OUTCOME);
	return 0;
}

/* A connect whose route lookup failed, in the connecting thread: the hint names the connect under
 * way if it is this thread's and goes to this destination (a lookup for anything else, an
 * unconnected sendto() or a forwarded packet, does not match). `final` when no other routing rule
 * can still find a route (no policy routing in the namespace): reported at once, with its errno;
 * otherwise the errno is kept for the report of a TCP connect that never sends its SYN. */
static __always_inline void route_failed(__u8 family, const __u32 d[4], __u16 dport, int err,
					 bool final)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct netspy_owner *o;
	struct owner_hint *hint;
	struct netspy_event *e;
	__u64 pos, filled;
	__u32 zero = 0;
	__u64 cookie, now;
	__u8 proto;

	hint = bpf_map_lookup_elem(&owner_hints, &zero);
	if (!hint || hint->tid != (__u32)task->pid || hint->family != family ||
	    hint->dport != dport || hint->daddr[0] != d[0] || hint->daddr[1] != d[1] ||
	    hint->daddr[2] != d[2] || hint->daddr[3] != d[3])
		return;
	cookie = hint->cookie;
	proto = hint->proto;
	o = owner_get(cookie);
	if (!final) {
		if (o && proto == IPPROTO_TCP)
			o->sync_err = err;
		return;
	}
	hint->family = 0; /* one report per connect, however many lookups it makes */
	now = bpf_ktime_get_boot_ns();
	if (proto == IPPROTO_TCP && o) {
		o->sync_err = err;
		emit_sync_failure(cookie, o, now);
		return;
	}
	if (o)
		o->flags |= NETSPY_OWNER_REPORTED;
	e = ring_reserve(NETSPY_EV_TCP_OUTCOME, &pos, &filled);
	if (!e)
		return;
	e->family = family;
	e->ip_proto = proto;
	e->sock_type = proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
	e->flags = NETSPY_F_SYNC;
	e->ts_ns = now;
	e->cookie = cookie;
	e->pid = task->tgid;
	e->tid = task->pid;
	copy_current_comm(e->comm, task);
	e->dport = dport;
	__builtin_memcpy(e->daddr, d, 16);
	e->tcp.err = err;
	e->outcome = failure_outcome(err);
	ring_submit(e, pos, filled, NETSPY_CNT_OUTCOME);
}

/* A route lookup that succeeded, in the connecting thread, for the UDP connect under way on this
 * CPU (the hint's): the lookup made once the socket has its local port and address gives the
 * flow tuple, recorded once per socket and destination, so that its packets that lose their
 * socket on the way (loopback, a veth into a local namespace) are still attributed, as TCP's are
 * (sockops). Every other lookup of the machine returns after a few loads from this CPU's hint.
 * Addresses and ports are read with plain loads (tp_btf arguments are BTF pointers). */
static __noinline void record_udp_flow(struct owner_hint *hint, __u32 family, const __u32 *saddr,
					__u32 sport)
{
	struct netspy_flow key = {};
	__u64 cookie = hint->cookie;

	key.family = (__u8)family;
	key.proto = IPPROTO_UDP;
	key.sport = (__u16)sport;
	key.dport = hint->dport;
	if (family == AF_INET) {
		__builtin_memcpy(key.saddr, saddr, 4);
		__builtin_memcpy(key.daddr, hint->daddr, 4);
	} else {
		/* IPv6 looks the route up once, before it picks the source address of an unbound
		 * socket: such a flow is recorded with the unspecified source (flow_owner()). */
		__builtin_memcpy(key.saddr, saddr, 16);
		__builtin_memcpy(key.daddr, hint->daddr, 16);
	}
	flow_put(&key, cookie);
	hint->flow_cookie = cookie;
	hint->flow_daddr = hint->daddr[0];
	hint->flow_dport = hint->dport;
}

static __always_inline void udp_flow_seen(__u8 family, const __u32 *daddr, const __u32 *saddr,
					  __be16 dport, __be16 sport)
{
	struct owner_hint *hint;
	__u32 zero = 0, d0;

	hint = bpf_map_lookup_elem(&owner_hints, &zero);
	if (!hint || hint->proto != IPPROTO_UDP || hint->family != family)
		return;
	d0 = daddr[0];
	if (hint->flow_cookie == hint->cookie && hint->flow_daddr == d0 &&
	    hint->flow_dport == hint->dport)
		return;
	if (!sport || hint->dport != bpf_ntohs(dport) || hint->daddr[0] != d0 ||
	    hint->tid != (__u32)bpf_get_current_task_btf()->pid)
		return;
	if (family == AF_INET && !saddr[0])
		return; /* the lookup that picks the source comes next */
	record_udp_flow(hint, family, saddr, bpf_ntohs(sport));
}

/* IPv4 route lookups. err is the lookup's: -EAGAIN is "no route in this table", final (the
 * connect fails with ENETUNREACH) unless policy routing may try another table; an unreachable,
 * prohibit or blackhole route fails the connect with EHOSTUNREACH, EACCES or EINVAL. Every lookup
 * of the machine passes here: those that succeed cost one test. */
SEC("tp_btf/fib_table_lookup")
int BPF_PROG(tp_fib_table_lookup, u32 tb_id, const struct flowi4 *flp,
	     const struct fib_nh_common *nhc, int err)
{
	struct task_struct *task;
	__u32 d[4] = {};
	bool final = true;

	if (!err) {
		udp_flow_seen(AF_INET, &flp->daddr, &flp->saddr, flp->uli.ports.dport,
			      flp->uli.ports.sport);
		return 0;
	}
	if (err < -4095)
		return 0;
	if (err == -EAGAIN) {
		task = bpf_get_current_task_btf();
		if (BPF_CORE_READ(task, nsproxy, net_ns, ipv4.fib_has_custom_rules))
			final = false;
		err = -ENETUNREACH;
	}
	d[0] = BPF_CORE_READ(flp, daddr);
	route_failed(AF_INET, d, bpf_ntohs(BPF_CORE_READ(flp, uli.ports.dport)), -err, final);
	return 0;
}

#define RT6_TABLE_LOCAL 255

/* IPv6 route lookups, per table: the result's route type says why there is none (the null entry:
 * no route at all). The local table, looked up first for every address, is not the answer. */
SEC("tp_btf/fib6_table_lookup")
int BPF_PROG(tp_fib6_table_lookup, const struct net *net, const struct fib6_result *res,
	     struct fib6_table *table, const struct flowi6 *flp)
{
	__u8 type = res->fib6_type;
	__u32 d[4];
	int err;

	if (type == RTN_UNREACHABLE)
		err = BPF_CORE_READ(res, f6i) == BPF_CORE_READ(net, ipv6.fib6_null_entry)
			  ? ENETUNREACH
			  : EHOSTUNREACH;
	else if (type == RTN_PROHIBIT)
		err = EACCES;
	else if (type == RTN_BLACKHOLE)
		err = EINVAL;
	else {
		udp_flow_seen(AF_INET6, flp->daddr.in6_u.u6_addr32, flp->saddr.in6_u.u6_addr32,
			      flp->uli.ports.dport, flp->uli.ports.sport);
		return 0;
	}
	if (table && BPF_CORE_READ(table, tb6_id) == RT6_TABLE_LOCAL)
		return 0;
	BPF_CORE_READ_INTO(&d, flp, daddr.in6_u.u6_addr32);
	route_failed(AF_INET6, d, bpf_ntohs(BPF_CORE_READ(flp, uli.ports.dport)), err,
		     !BPF_CORE_READ(net, ipv6.fib6_has_custom_rules));
	return 0;
}

/* A UDP socket that connect() was called on closes unconnected: its connect failed inside the
 * syscall for a reason no route lookup gave (a firewall or cgroup program's verdict, a broadcast
 * address without SO_BROADCAST...): "error", errno not known, merged into its latest connect. (A
 * failed reconnect leaves the old association in place, and a connect(AF_UNSPEC) does not pass
 * the hook: those read as they did.) */
static __always_inline void udp_release(struct bpf_sock *sk, __u64 cookie, struct netspy_owner *o)
{
	struct netspy_event *e;
	__u64 pos, filled;

	o->flags |= NETSPY_OWNER_REPORTED;
	e = ring_reserve(NETSPY_EV_TCP_OUTCOME, &pos, &filled);
	if (!e)
		return;
	e->family = (__u8)sk->family;
	e->ip_proto = IPPROTO_UDP;
	e->sock_type = SOCK_DGRAM;
	e->flags = NETSPY_F_SYNC;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cookie = cookie;
	e->pid = o->pid;
	e->tid = o->tid;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	e->outcome = NETSPY_OUT_ERROR;
	ring_submit(e, pos, filled, NETSPY_CNT_OUTCOME);
}

/* A socket closes. A TCP connect still pending on it that never sent its SYN failed inside its
 * syscall (its route failure, if any, already said so): reported now, so that no connect stays
 * pending past its socket's life. One still in SYN_SENT is being abandoned: the SYN_SENT -> CLOSE
 * transition that follows reports it. A UDP socket left unconnected: see udp_release(). Runs for
 * every inet socket that closes: those in no such state return after one owners lookup at most. */
static __always_inline int sock_release(struct bpf_sock *sk, bool kern_ctx)
{
	struct netspy_owner *o;
	__u64 cookie;

	if (sk->protocol == IPPROTO_UDP && sk->state != BPF_TCP_ESTABLISHED &&
	    (sk->family == AF_INET || sk->family == AF_INET6)) {
		cookie = bpf_get_socket_cookie(sk);
		o = owner_get(cookie);
		if (o && (o->flags & (NETSPY_OWNER_UDP_CONNECT | NETSPY_OWNER_REPORTED)) ==
			     NETSPY_OWNER_UDP_CONNECT)
			udp_release(sk, cookie, o);
		return 1;
	}
	if (sk->protocol != IPPROTO_TCP || sk->state != BPF_TCP_CLOSE)
		return 1;
	/* Every TCP socket that closes: its cookie with a plain load where the kernel allows it (a
	 * socket without one was never netspy's, and has no entry). */
	if (kern_ctx)
		cookie = ((struct sock *)bpf_cast_to_kern_ctx(sk))->__sk_common.skc_cookie.counter;
	else
		cookie = bpf_get_socket_cookie(sk);
	o = owner_get(cookie);
	if (o && o->connect_ts_ns && !(o->flags & NETSPY_OWNER_SYN_SENT))
		emit_sync_failure(cookie, o, bpf_ktime_get_boot_ns());
	return 1;
}

/* Two variants, as for the connect hooks: netspyd loads the first on kernels with
 * bpf_cast_to_kern_ctx (6.2+), the _compat one elsewhere. */
SEC("cgroup/sock_release")
int cgroup_sock_release(struct bpf_sock *sk)
{
	return sock_release(sk, true);
}

SEC("cgroup/sock_release")
int cgroup_sock_release_compat(struct bpf_sock *sk)
{
	return sock_release(sk, false);
}

/* A TCP connect sends its SYN: the first moment its flow tuple is complete (the local port is
 * chosen after SYN_SENT). Runs at a handful of TCP events per connection, never per packet. */
SEC("sockops")
int sockops_tcp_connect(struct bpf_sock_ops *skops)
{
	struct netspy_flow key = {};
	__u64 cookie;

	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	key.family = (__u8)skops->family;
	key.proto = IPPROTO_TCP;
	key.sport = (__u16)skops->local_port;
	key.dport = (__u16)bpf_ntohl(skops->remote_port);
	if (key.family == AF_INET) {
		__u32 s = skops->local_ip4, d = skops->remote_ip4;

		__builtin_memcpy(key.saddr, &s, 4);
		__builtin_memcpy(key.daddr, &d, 4);
	} else if (key.family == AF_INET6) {
		__u32 s[4] = { skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2],
			       skops->local_ip6[3] };
		__u32 d[4] = { skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2],
			       skops->remote_ip6[3] };

		__builtin_memcpy(key.saddr, s, 16);
		__builtin_memcpy(key.daddr, d, 16);
	} else {
		return 1;
	}
	cookie = bpf_get_socket_cookie(skops);
	flow_put(&key, cookie);
	return 1;
}

static __always_inline bool is_drop(enum skb_drop_reason reason)
{
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_NOT_DROPPED_YET) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_NOT_DROPPED_YET))
		return false;
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return false;
	return true;
}

/* The socket of a local TCP connection whose packet this is, by its flow tuple: sent by it (the
 * tuple as is) or on its way to it (reversed). Paid only by drops whose socket is not known. */
static __always_inline bool flow_owner(const struct netspy_event *e, __u64 *ret_cookie)
{
	struct netspy_flow key = {};
	__u64 c;

	key.family = e->family;
	key.proto = e->ip_proto;
	key.sport = e->sport;
	key.dport = e->dport;
	__builtin_memcpy(key.saddr, e->saddr, 16);
	__builtin_memcpy(key.daddr, e->daddr, 16);
	c = flow_get(&key);
	if (!c) {
		key.sport = e->dport;
		key.dport = e->sport;
		__builtin_memcpy(key.saddr, e->daddr, 16);
		__builtin_memcpy(key.daddr, e->saddr, 16);
		c = flow_get(&key);
	}
	if (!c && key.proto == IPPROTO_UDP && key.family == AF_INET6) {
		/* A UDP socket's IPv6 flow recorded before its source address was chosen. */
		key.sport = e->sport;
		key.dport = e->dport;
		__builtin_memset(key.saddr, 0, 16);
		__builtin_memcpy(key.daddr, e->daddr, 16);
		c = flow_get(&key);
	}
	if (!c)
		return false;
	*ret_cookie = c;
	return true;
}

/* ---- flood folding (bpf/netspy.h) ---- */

/* Whether this CPU is over the flood threshold: counts the event into the CPU's rate window. */
static __always_inline bool flooding(struct netspy_fold_cpu *fc)
{
	__u64 now = bpf_jiffies64();

	if (now - fc->win_start >= flood_window_jiffies) {
		/* A window that ended long ago counts as quiet. */
		fc->last_n = now - fc->win_start < 2 * flood_window_jiffies ? fc->win_n : 0;
		fc->flood = fc->last_n > flood_window_events;
		fc->win_start = now;
		fc->win_n = 0;
		fc->hash_full = 0; /* netspyd may have emptied it meanwhile */
	}
	fc->win_n++;
	if (fc->win_n > flood_window_events)
		fc->flood = 1;
	return fc->flood;
}

/* This CPU's fold state for a kind of event when the CPU floods with it (the event is counted
 * into the kind's rate window), else NULL. */
static __always_inline struct netspy_fold_cpu *flood_state(__u32 kind)
{
	__u32 cpu;

	if (!flood_window_events)
		return NULL;
	cpu = bpf_get_smp_processor_id();
	if (cpu >= NETSPY_FOLD_CPUS || !flooding(&fold_cpu[kind][cpu]))
		return NULL;
	return &fold_cpu[kind][cpu];
}

static __always_inline bool fold_key_equal(const struct netspy_fold_key *a,
					   const struct netspy_fold_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 d = 0;

	/* Word compares, not memcmp(): clang may make a call of it. */
	for (int i = 0; i < (int)(sizeof(*a) / 8); i++)
		d |= x[i] ^ y[i];
	return !d;
}

/* A folded count that cannot wait for netspyd: one record with its count, now. */
static __always_inline void fold_emit(const struct netspy_fold_key *k,
				      const struct netspy_fold_val *v, __u64 n)
{
	__u64 pos, filled;
	struct netspy_event *e = ring_reserve(NETSPY_EV_DROP, &pos, &filled);

	if (!e) {
		/* Counted as one lost record; its other drops with it. */
		count_n(NETSPY_CNT_LOST, n - 1);
		return;
	}
	netspy_fold_fill(e, k, v, n);
	ring_submit(e, pos, filled, NETSPY_CNT_FOLD_SPILL);
}

/* Adds n events to this CPU's slot of a hash entry. An entry another CPU created has this CPU's
 * slot zeroed: the first count here also gives it the cache's owner and time (netspyd takes the
 * record's owner and time from the slot with the earliest first event). */
static __always_inline void fold_hash_add(struct netspy_fold_val *v, const struct netspy_fold_val *val,
					  __u64 n)
{
	if (!v->count) {
		*v = *val;
		v->count = 0;
	}
	v->count += n;
}

/* Moves n folded events of the cache's key into the hash (same epoch only: older epochs belong to
 * netspyd's flush, so they go out as a record at once; so does a spill the full hash refuses). A
 * flood of distinct events (every drop from another socket or source) fills the hash early in an
 * epoch: once it refused an entry, the CPU stops trying for the rest of its rate window, which
 * saves a failed insert (two interrupt-disabled sections) and a lookup per spill. */
static __always_inline void fold_spill(struct netspy_fold_cpu *fc, __u64 n, __u32 epoch)
{
	struct netspy_fold_key k = fc->key;
	struct netspy_fold_val *v;

	if (k.epoch == epoch && !fold_no_hash) {
		v = bpf_map_lookup_elem(&fold_hash, &k);
		if (v) {
			fold_hash_add(v, &fc->val, n);
			return;
		}
		if (!fc->hash_full) {
			struct netspy_fold_val nv = fc->val;

			nv.count = n;
			if (!bpf_map_update_elem(&fold_hash, &k, &nv, BPF_NOEXIST))
				return;
			v = bpf_map_lookup_elem(&fold_hash, &k); /* another CPU created it */
			if (v) {
				fold_hash_add(v, &fc->val, n);
				return;
			}
			fc->hash_full = 1;
		}
	}
	fold_emit(&fc->key, &fc->val, n);
}

/* A packet's flow tuple, from its own headers (skb fields with plain loads, the headers with one
 * read for an IPv4 packet and its ports). False when the packet is not (or not yet) IPv4/IPv6. */
static __always_inline bool packet_tuple(const struct sk_buff *skb, __u8 *family, __u8 *ip_proto,
					 __u16 *sport, __u16 *dport, __u8 *saddr, __u8 *daddr)
{
	unsigned char *head = skb->head;
	__u16 nh = skb->network_header, th = skb->transport_header;
	__u16 proto = bpf_ntohs(skb->protocol);
	__u16 ports[2];

	if (!head || nh == (__u16)~0U)
		return false;
	if (proto == ETH_P_IP) {
		struct {
			struct iphdr ip;
			__u16 ports[2];
		} h;

		if (bpf_probe_read_kernel(&h, sizeof(h), head + nh) || h.ip.version != 4)
			return false;
		*family = AF_INET;
		*ip_proto = h.ip.protocol;
		__builtin_memcpy(saddr, &h.ip.saddr, 4);
		__builtin_memcpy(daddr, &h.ip.daddr, 4);
		if (th == (__u16)~0U || th <= nh)
			th = nh + h.ip.ihl * 4;
		if (th == nh + sizeof(h.ip) &&
		    (h.ip.protocol == IPPROTO_TCP || h.ip.protocol == IPPROTO_UDP)) {
			*sport = bpf_ntohs(h.ports[0]);
			*dport = bpf_ntohs(h.ports[1]);
			return true;
		}
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) || ip6.version != 6)
			return false;
		*family = AF_INET6;
		*ip_proto = ip6.nexthdr;
		__builtin_memcpy(saddr, &ip6.saddr, 16);
		__builtin_memcpy(daddr, &ip6.daddr, 16);
		if (th == (__u16)~0U || th <= nh)
			th = nh + sizeof(ip6);
	} else {
		return false;
	}
	if ((*ip_proto == IPPROTO_TCP || *ip_proto == IPPROTO_UDP) &&
	    !bpf_probe_read_kernel(ports, sizeof(ports), head + th)) {
		*sport = bpf_ntohs(ports[0]);
		*dport = bpf_ntohs(ports[1]);
	}
	return true;
}

/* Folds one event of key k into this CPU's cache: a hit is one atomic add; a new key spills the
 * old one and resolves the new key's owner once. */
static __always_inline void fold(struct netspy_fold_cpu *fc, struct netspy_fold_key *k)
{
	struct netspy_owner *o;
	__u64 old, n, cookie;

	/* The hit, the path a flood takes: no helper call, one atomic add (netspyd counts what
	 * arrives folded, so there is no per-event counter to bump here). */
	if (fc->key.epoch == k->epoch && fold_key_equal(&fc->key, k) &&
	    (fc->word & NETSPY_FOLD_COUNT_MASK)) {
		__sync_fetch_and_add(&fc->word, 1);
		return;
	}
	/* Take the old count and start a new generation with a count of 0: netspyd's
	 * compare-and-swap of the old word fails from here on. */
	old = fc->word;
	old = __sync_lock_test_and_set(&fc->word, ((old >> NETSPY_FOLD_GEN_SHIFT) + 1)
						      << NETSPY_FOLD_GEN_SHIFT);
	n = old & NETSPY_FOLD_COUNT_MASK;
	if (n)
		fold_spill(fc, n, k->epoch);
	fc->key = *k;
	__builtin_memset(&fc->val, 0, sizeof(fc->val));
	fc->val.first_ns = bpf_ktime_get_boot_ns();
	cookie = k->cookie;
	o = cookie ? owner_get(cookie) : NULL;
	/* A drop's packet may have lost its socket on the way; a TCP signal names its own. */
	if (!o && k->type == NETSPY_EV_DROP &&
	    (k->ip_proto == IPPROTO_TCP || k->ip_proto == IPPROTO_UDP)) {
		struct netspy_event e = {};

		e.family = k->family;
		e.ip_proto = k->ip_proto;
		e.sport = k->sport;
		e.dport = k->dport;
		__builtin_memcpy(e.saddr, k->saddr, 16);
		__builtin_memcpy(e.daddr, k->daddr, 16);
		if (flow_owner(&e, &cookie)) {
			o = owner_get(cookie);
			if (o)
				fc->val.flags |= NETSPY_F_BY_FLOW;
		}
	}
	if (o) {
		fc->val.pid = o->pid;
		fc->val.tid = o->tid;
		__builtin_memcpy(fc->val.comm, o->comm, sizeof(fc->val.comm));
		fc->val.flags |= NETSPY_F_ATTRIBUTED;
	}
	/* The key is complete before its first count is visible. */
	__sync_fetch_and_add(&fc->word, 1);
}

static __always_inline void fold_drop(struct netspy_fold_cpu *fc, struct sk_buff *skb, __u32 reason)
{
	struct netspy_fold_key k = {};
	struct net_device *dev = skb->dev;
	struct sock *sk = skb->sk;

	k.type = NETSPY_EV_DROP;
	k.epoch = fold_epoch;
	k.reason = reason;
	if (dev) {
		k.ifindex = dev->ifindex;
		k.netns = dev->nd_net.net->ns.inum;
	} else {
		k.ifindex = skb->skb_iif;
	}
	packet_tuple(skb, &k.family, &k.ip_proto, &k.sport, &k.dport, k.saddr, k.daddr);
	if (sk) {
		k.cookie = sk->__sk_common.skc_cookie.counter;
		if (!k.netns)
			k.netns = sk->__sk_common.skc_net.net->ns.inum;
	}
	fold(fc, &k);
}

/* Drops happen in softirq context, where "current" is whoever was interrupted: the owner is
 * found through the packet's socket and the owners map, through its flow tuple for a local TCP
 * connection's packet that lost its socket on the way (loopback, a veth into a local namespace),
 * or not at all. */
SEC("tp_btf/kfree_skb")
int tp_kfree_skb(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	enum skb_drop_reason reason = (enum skb_drop_reason)ctx[2];
	struct netspy_fold_cpu *fc;
	struct net_device *dev;
	struct netspy_owner *o;
	struct netspy_event *e;
	__u64 pos, filled;
	struct sock *sk;
	__u64 cookie = 0;

	if (!is_drop(reason))
		return 0;
	fc = flood_state(NETSPY_FOLD_DROP);
	if (fc) {
		fold_drop(fc, skb, (__u32)reason);
		return 0;
	}
	sk = skb->sk;
	if (!sk && kfree_skb_has_rx_sk)
		sk = (struct sock *)ctx[3];

	e = ring_reserve(NETSPY_EV_DROP, &pos, &filled);
	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->drop.reason = (__u32)reason;
	e->drop.location = ctx[1];
	dev = skb->dev;
	e->drop.ifindex = dev ? dev->ifindex : skb->skb_iif;
	e->netns = dev ? dev->nd_net.net->ns.inum : 0;
	if (!packet_tuple(skb, &e->family, &e->ip_proto, &e->sport, &e->dport, e->saddr,
			  e->daddr) &&
	    sk)
		copy_sock_tuple(e, sk);
	if (sk) {
		if (!e->netns)
			e->netns = sk->__sk_common.skc_net.net->ns.inum;
		cookie = sk->__sk_common.skc_cookie.counter;
	}
	o = cookie ? owner_get(cookie) : NULL;
	if (!o && (e->ip_proto == IPPROTO_TCP || e->ip_proto == IPPROTO_UDP) &&
	    flow_owner(e, &cookie)) {
		o = owner_get(cookie);
		if (o)
			e->flags |= NETSPY_F_BY_FLOW;
	}
	e->cookie = cookie;
	if (o) {
		e->pid = o->pid;
		e->tid = o->tid;
		__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
		e->flags |= NETSPY_F_ATTRIBUTED;
	} else {
		count(NETSPY_CNT_OWNER_MISS);
	}
	ring_submit(e, pos, filled, NETSPY_CNT_DROP);
	return 0;
}

/* A TCP event of a socket (retransmit, reset): the socket's tuple and cookie, and its owner from
 * the owners map (these run in softirq or timer context, where "current" is not the owner).
 * Timewait and request sockets have the common part only, which is all this reads. Each program
 * checks its reservation right where it makes it: Linux 6.1's verifier loses track of a record
 * checked again after a helper returned it. */
static __always_inline struct netspy_owner *sock_owner(const struct sock *sk, __u64 *ret_cookie)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;

	*ret_cookie = cookie;
	return cookie ? owner_get(cookie) : NULL;
}

static __always_inline void sock_event_fill(struct netspy_event *e, const struct sock *sk,
					    __u64 cookie, const struct netspy_owner *o)
{
	e->sock_type = SOCK_STREAM;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cookie = cookie;
	copy_sock_tuple(e, sk);
	e->ip_proto = IPPROTO_TCP;
	if (o) {
		e->pid = o->pid;
		e->tid = o->tid;
		__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
		e->flags |= NETSPY_F_ATTRIBUTED;
	}
}

/* Folds a TCP signal of a socket: the key is the socket (cookie and tuple), its kind and its
 * discriminator (a retransmit's segments, a reset's direction). */
static __always_inline void fold_sock(struct netspy_fold_cpu *fc, const struct sock *sk, __u8 type,
				      __u32 reason)
{
	struct netspy_fold_key k = {};

	k.type = type;
	k.epoch = fold_epoch;
	k.reason = reason;
	k.ip_proto = IPPROTO_TCP;
	k.cookie = sk->__sk_common.skc_cookie.counter;
	sock_tuple(sk, &k.family, &k.sport, &k.dport, k.saddr, k.daddr);
	fold(fc, &k);
}

/* One record per retransmission (SYN retransmissions of a connect included), with the number of
 * segments it carried: the kernel retransmits a GSO packet of several segments at once, and counts
 * (total_retrans, TcpRetransSegs) segments. Kernels that also trace failed attempts pass the
 * result as a third argument: those sent nothing. During a flood of them on this CPU, identical
 * ones (same socket, same segments) are folded. */
SEC("tp_btf/tcp_retransmit_skb")
int tp_tcp_retransmit_skb(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	const struct tcp_skb_cb *cb;
	struct netspy_fold_cpu *fc;
	struct netspy_owner *o;
	struct netspy_event *e;
	__u64 pos, filled;
	__u64 cookie;
	__u16 segs;

	if (!sk || !skb)
		return 0;
	if (retransmit_has_err && (int)ctx[2])
		return 0;
	cb = (const struct tcp_skb_cb *)&skb->cb[0];
	segs = BPF_CORE_READ(cb, tcp_gso_segs);
	if (!segs)
		segs = 1;
	if (known_sockets_only && !sock_owner(sk, &cookie))
		return 0;
	fc = flood_state(NETSPY_FOLD_RETRANSMIT);
	if (fc) {
		fold_sock(fc, sk, NETSPY_EV_TCP_RETRANSMIT, segs);
		return 0;
	}
	o = sock_owner(sk, &cookie);
	e = ring_reserve(NETSPY_EV_TCP_RETRANSMIT, &pos, &filled);
	if (!e)
		return 0;
	sock_event_fill(e, sk, cookie, o);
	e->sig.segs = segs;
	ring_submit(e, pos, filled, NETSPY_CNT_RETRANSMIT);
	return 0;
}

/* A reset sent by a socket: actively (it closes with unread data or SO_LINGER 0, or aborts) or in
 * answer to a segment. A reset answering a segment for no socket at all has no owner and no
 * connection: it is the refused connect the peer sees (and a NO_SOCKET drop here), not reported
 * again. During a flood of resets on this CPU, identical ones (same socket, same direction) are
 * folded, sent and received alike. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tp_tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	struct netspy_fold_cpu *fc;
	struct netspy_owner *o;
	struct netspy_event *e;
	__u64 pos, filled;
	__u64 cookie;

	if (!sk)
		return 0;
	if (known_sockets_only && !sock_owner(sk, &cookie))
		return 0;
	fc = flood_state(NETSPY_FOLD_RESET);
	if (fc) {
		fold_sock(fc, sk, NETSPY_EV_TCP_RESET, 0);
		return 0;
	}
	o = sock_owner(sk, &cookie);
	e = ring_reserve(NETSPY_EV_TCP_RESET, &pos, &filled);
	if (!e)
		return 0;
	sock_event_fill(e, sk, cookie, o);
	ring_submit(e, pos, filled, NETSPY_CNT_RESET);
	return 0;
}

/* A reset received by an established (or closing) connection; it closes the socket next. */
SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tp_tcp_receive_reset, struct sock *sk)
{
	struct netspy_fold_cpu *fc;
	struct netspy_owner *o;
	struct netspy_event *e;
	__u64 pos, filled;
	__u64 cookie;

	if (!sk)
		return 0;
	o = sock_owner(sk, &cookie);
	if (o)
		o->flags |= NETSPY_OWNER_RESET_RECV;
	else if (known_sockets_only)
		return 0;
	fc = flood_state(NETSPY_FOLD_RESET);
	if (fc) {
		fold_sock(fc, sk, NETSPY_EV_TCP_RESET, 1);
		return 0;
	}
	e = ring_reserve(NETSPY_EV_TCP_RESET, &pos, &filled);
	if (!e)
		return 0;
	sock_event_fill(e, sk, cookie, o);
	e->flags |= NETSPY_F_INBOUND;
	ring_submit(e, pos, filled, NETSPY_CNT_RESET);
	return 0;
}

/* ---- DNS ------------------------------------------------------------------------------------
 * Every packet of the machine's sockets passes cgroup_skb: the fast path reads the IP protocol and
 * one port straight from the packet (direct packet access, no helper call) and returns for
 * everything that is not DNS. Only the client side is taken: messages a socket sends to port 53
 * (queries) and receives from port 53 (responses); a local server's side of the same exchange is
 * not a lookup. The owner is the socket's, from the owners map the connect hooks (connected
 * sockets) and the bind hooks fill, or, for a UDP datagram a socket sends without connect(), the
 * sending task (a datagram leaves in its context); never the task that happens to run the
 * softirq. A cgroup skb program always lets the packet pass. */

#define DNS_PORT 53

/* The record is built in a per-CPU scratch map value and copied into the ring buffer whole:
 * Linux 6.1's verifier does not let bpf_skb_load_bytes() write into ring-buffer memory. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netspy_dns_record);
} dns_scratch SEC(".maps");

static __noinline int dns_capture(struct __sk_buff *skb, __u32 l4off, __u8 family, __u8 proto,
				  bool ingress)
{
	struct netspy_dns_record *r;
	struct netspy_event *e;
	struct netspy_owner *o;
	__u16 ports[2];
	__u32 off, len, cap, zero = 0;
	__u64 cookie, flags;
	__u8 b;

	if (proto == IPPROTO_UDP) {
		off = l4off + 8;
	} else {
		/* TCP: the data offset, in 32-bit words, is the high nibble of byte 12. */
		if (bpf_skb_load_bytes(skb, l4off + 12, &b, 1))
			return 1;
		off = l4off + (b >> 4) * 4;
	}
	if (skb->len <= off) /* no payload: a bare ACK, a SYN */
		return 1;
	len = skb->len - off;
	if (bpf_skb_load_bytes(skb, l4off, ports, sizeof(ports)))
		return 1;
	r = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!r)
		return 1;
	e = &r->e;
	record_init(e, NETSPY_EV_DNS);
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->family = family;
	e->ip_proto = proto;
	e->sport = bpf_ntohs(ports[0]);
	e->dport = bpf_ntohs(ports[1]);
	if (family == AF_INET) {
		bpf_skb_load_bytes(skb, 12, e->saddr, 4);
		bpf_skb_load_bytes(skb, 16, e->daddr, 4);
	} else {
		bpf_skb_load_bytes(skb, 8, e->saddr, 16);
		bpf_skb_load_bytes(skb, 24, e->daddr, 16);
	}
	e->flags = ingress ? NETSPY_F_INGRESS : 0;
	e->dns.len = len > 0xffff ? 0xffff : (__u16)len;
	cap = len < NETSPY_DNS_MAX ? len : NETSPY_DNS_MAX;
	if (len > NETSPY_DNS_MAX)
		count(NETSPY_CNT_DNS_TRUNC);
	/* cap is 1..NETSPY_DNS_MAX (len >= 1): the mask keeps it so and shows the verifier so on the
	 * register the call gets (a range check, clang may move to a copy: Linux 6.1 refuses). */
	cap = ((cap - 1) & (NETSPY_DNS_MAX - 1)) + 1;
	if (!bpf_skb_load_bytes(skb, off, r->data, cap))
		e->dns.cap_len = (__u16)cap;
	e->cgroup_id = bpf_skb_cgroup_id(skb);
	cookie = bpf_get_socket_cookie(skb);
	e->cookie = cookie;
	o = cookie ? owner_get(cookie) : NULL;
	if (o) {
		e->pid = o->pid;
		e->tid = o->tid;
		__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
		e->flags |= NETSPY_F_ATTRIBUTED;
	} else if (!ingress && proto == IPPROTO_UDP && cookie) {
		/* A socket that sends to port 53 without connect() (sendto(): dig, many resolver
		 * libraries) passed no hook of ours. A UDP datagram leaves in the context of the
		 * task that sends it: that task owns the socket, and is remembered for its
		 * responses. (TCP segments may leave from softirq: TCP sockets pass connect.) */
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct netspy_owner fresh = {};

		fresh.pid = BPF_CORE_READ(task, tgid);
		fresh.tid = BPF_CORE_READ(task, pid);
		BPF_CORE_READ_STR_INTO(&fresh.comm, task, comm);
		if (fresh.pid) {
			e->pid = fresh.pid;
			e->tid = fresh.tid;
			__builtin_memcpy(e->comm, fresh.comm, sizeof(e->comm));
			e->flags |= NETSPY_F_ATTRIBUTED;
			owner_put(cookie, &fresh);
		}
	}
	flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, r, sizeof(*r), flags)) {
		count(NETSPY_CNT_LOST);
		return 1;
	}
	count(NETSPY_CNT_DNS);
	return 1;
}

static __always_inline int dns_skb(struct __sk_buff *skb, bool ingress)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u32 l4off;
	__u16 *ports;
	__u8 proto, family;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end)
			return 1;
		proto = ip->protocol;
		l4off = ip->ihl * 4;
		family = AF_INET;
		/* A fragment after the first carries no ports. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return 1;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end)
			return 1;
		proto = ip6->nexthdr; /* extension headers are not followed */
		l4off = sizeof(*ip6);
		family = AF_INET6;
	} else {
		return 1;
	}
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return 1;
	l4off &= 0x3f;
	ports = data + l4off;
	if ((void *)(ports + 2) > end)
		return 1;
	/* Queries go out to port 53, responses come in from it. */
	if (ports[ingress ? 0 : 1] != bpf_htons(DNS_PORT))
		return 1;
	return dns_capture(skb, l4off, family, proto, ingress);
}

SEC("cgroup_skb/egress")
int cgroup_skb_dns_egress(struct __sk_buff *skb)
{
	return dns_skb(skb, false);
}

SEC("cgroup_skb/ingress")
int cgroup_skb_dns_ingress(struct __sk_buff *skb)
{
	return dns_skb(skb, true);
}
