/* Loading and attaching netspy's eBPF programs, and reading what they produce. */
#ifndef NETSPYD_PROBES_H
#define NETSPYD_PROBES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netspy.h"

struct netspy_bpf;
struct ring_buffer;
struct btf;
struct bpf_link;

/* Called for every record drained from the ring buffer. */
typedef void (*probes_event_fn)(void *ctx, const struct netspy_event *ev);

struct probes_opts {
	size_t ringbuf_bytes;	 /* power of two, at least a page */
	size_t wakeup_bytes;	 /* queued bytes that make the kernel wake netspyd */
	const char *cgroup_root; /* NULL: find the cgroup2 mount */
	bool drops;		 /* attach kfree_skb */
	probes_event_fn on_event;
	void *ctx;
};

#define PROBES_MAX_LINKS 8

struct probes {
	struct netspy_bpf *skel;
	struct ring_buffer *rb;
	struct btf *btf;
	struct bpf_link *links[PROBES_MAX_LINKS];
	size_t n_links;
	int cgroup_fd;
	int ncpus;
	char cgroup_path[PATH_MAX];
	char error[256]; /* what failed, for the caller to log */
	probes_event_fn on_event;
	void *ctx;
};

/* Opens, loads and attaches everything. Returns 0 or -errno with p->error describing the step that
 * failed; p is always safe to pass to probes_fini(). */
int probes_init(struct probes *p, const struct probes_opts *o);
/* Detaches everything (links are closed, so nothing stays attached). Accepts a zeroed struct. */
void probes_fini(struct probes *p);
/* fd that becomes readable when the kernel asks to be drained. */
int probes_fd(const struct probes *p);
/* Drains every queued record into on_event. Returns the number drained or -errno. */
int probes_drain(struct probes *p);
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
