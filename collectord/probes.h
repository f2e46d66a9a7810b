/* Loading and attaching netspy's eBPF programs, and reading what they produce. */
#ifndef NETSPYD_PROBES_H
#define NETSPYD_PROBES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel.h"
#include "netspy.h"

struct netspy_bpf;
struct ring_buffer;
struct btf;
struct bpf_link;

/* Called for every record drained from the kernel, in time order across the CPUs' rings (so every
 * TCP outcome after its connect). */
/* A NETSPY_EV_DNS event is the head of a struct netspy_dns_record: its bytes follow it. */
typedef void (*probes_event_fn)(void *ctx, const struct netspy_event *ev);

struct probes_opts {
	/* Kernel buffer budget, a power of two of at least two pages: half for the per-CPU rings
	 * (every record but DNS messages; see probes_conn_slots()), half for the shared ring buffer
	 * (DNS messages, with their bytes). */
	size_t ringbuf_bytes;
	size_t wakeup_bytes;	   /* queued bytes that make the kernel wake netspyd */
	const char *cgroup_root;   /* NULL: find the cgroup2 mount */
	bool drops;		   /* attach kfree_skb (when the kernel passes drop reasons) */
	bool dns;		   /* attach the DNS hooks (cgroup_skb ingress and egress) */
	const char *hide_features; /* kernel_probe()'s `hide`: NULL, or for tests */
	unsigned flood_threshold;  /* events per second per CPU before folding, 0: never */
	probes_event_fn on_event;
	void *ctx;
};

struct probes {
	struct netspy_bpf *skel;
	struct ring_buffer *rb;
	struct btf *btf;
	struct bpf_link **links;	 /* one per attached program of the attach table */
	struct kernel_features features; /* what the running kernel offers */
	bool drops;			 /* drops are traced */
	bool dns;			 /* DNS messages are traced */
	/* The per-CPU rings (struct netspy_ring_ctl in bpf/netspy.h), mapped from the kernel. */
	struct netspy_event *conn_ring;
	struct netspy_ring_ctl *conn_ctl;
	size_t conn_ring_len, conn_ctl_len;
	uint32_t conn_order; /* log2 of the slots per CPU */
	/* Clock samples (jiffies, boot time) for dating UDP connects: the first one taken and the
	 * latest. */
	struct netspy_clock_sample clk0, clk;
	bool clk_fresh; /* clk was sampled during this drain */
	size_t n_links;
	int cgroup_fd;
	int ncpus;
	char cgroup_path[PATH_MAX];
	char *error; /* what failed, until probes_init hands it over */
	unsigned hz;	 /* the kernel's clock tick rate, measured at start */
	/* Flood folding: what netspyd last saw of each CPU's rate window. */
	uint64_t *fold_seen;
	uint64_t folded_records; /* records made from folded counts by the flush */
	/* When the last epochs began (boot clock), by epoch & 3: what a pending count dates from. */
	struct {
		uint32_t epoch;
		uint64_t start_ns;
	} fold_epochs[4];
	probes_event_fn on_event;
	void *ctx;
};

/* Checks the kernel (BTF, then the features of collectord/kernel.h), then opens, loads and
 * attaches every program the attach table wants on this kernel. Returns 0 or -errno with
 * *ret_error (malloc'd, to free; NULL when out of memory) describing the step that failed
 * (-EOPNOTSUPP: the kernel lacks a required feature, named there); p is always safe to pass to
 * probes_fini(). */
int probes_init(struct probes *p, const struct probes_opts *o, char **ret_error);
/* Detaches everything (links are closed, so nothing stays attached). Accepts a zeroed struct. */
void probes_fini(struct probes *p);
/* Slots per CPU in the per-CPU rings for a budget of ringbuf_bytes: the largest power of two that
 * fits half the budget over all CPUs, at least 8. */
uint32_t probes_conn_slots(size_t ringbuf_bytes, int ncpus);
/* Bytes of the shared ring buffer for a budget of ringbuf_bytes. */
size_t probes_shared_ring_bytes(size_t ringbuf_bytes);
/* fd that becomes readable when the kernel asks to be drained. */
int probes_fd(const struct probes *p);
/* Drains every queued record into on_event: the ring buffer's DNS messages first, then the CPUs'
 * rings merged in time order. A connect is complete in its ring before the handshake it starts
 * can produce an outcome, and its time is earlier, so no outcome (or later event of the
 * connection) comes before its connect. Returns the number drained or -errno. */
int probes_drain(struct probes *p);
/* The boot time of a jiffies count, from the clock samples: accurate to a clock tick. */
uint64_t probes_jiffies_to_boot_ns(const struct netspy_clock_sample *first,
				   const struct netspy_clock_sample *latest, uint64_t jiffies);
/* Flood folding: advances the epoch and turns every folded count at least two epochs old into a
 * record with its count (through on_event). Returns records made or -errno. */
int probes_fold_flush(struct probes *p);
/* Boot-clock start of the oldest fold epoch whose counts may not all have become records yet
 * (still in a CPU's cache or in the hash, or never flushed), 0 when nothing folded is pending:
 * totals from then on are not final. */
uint64_t probes_fold_pending_since(const struct probes *p);
/* CPUs folding right now, any kind (their window saw events since the previous call), the kinds
 * folding (bit 1 << enum netspy_fold_kind) and the events per second of each kind on them, as
 * their last complete windows measured it, all CPUs together. */
void probes_flood_state(struct probes *p, unsigned *ret_cpus, unsigned *ret_kinds,
			uint64_t ret_rate[NETSPY_FOLD_KINDS]);
/* Sums the per-CPU counters (enum netspy_counter) into out. */
int probes_counters(const struct probes *p, uint64_t out[NETSPY_CNT_MAX]);
/* The kernel BTF, for drop-reason names. */
/* The kernel's BTF (several MiB) is needed during setup only: frees it (probes_btf() then returns
 * NULL). */
void probes_release_btf(struct probes *p);
const struct btf *probes_btf(const struct probes *p);

/* Finds the cgroup2 mount point that covers every process (its root is "/"). 0 or -ENOENT. */
int probes_find_cgroup2(char *buf, size_t len);

#endif
