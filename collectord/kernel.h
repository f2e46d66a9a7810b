/* What the running kernel offers netspy, probed from its BTF at start-up rather than guessed from
 * its version number (distributions backport features). Each feature names the upstream release
 * that brought it, so that a missing one is reported as "needs X, Linux N.M or newer". */
#ifndef NETSPYD_KERNEL_H
#define NETSPYD_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

struct btf;

enum kernel_feature {
	KERNEL_F_RINGBUF,      /* BPF ring buffer (5.8): TCP outcomes and drops */
	KERNEL_F_TASK_BTF,     /* bpf_get_current_task_btf (5.11): the connect hooks */
	KERNEL_F_SYSCALL_PROG, /* BPF_PROG_TYPE_SYSCALL (5.14): the clock sample for UDP connects */
	KERNEL_F_DROP_REASON,  /* kfree_skb passes the drop reason (5.17): drop tracing */
	KERNEL_F_KERN_CTX, /* bpf_cast_to_kern_ctx, bpf_rdonly_cast (6.2): the connect hooks' fast path */
	KERNEL_F_RX_SK,	   /* kfree_skb passes the receiving socket (6.12): more drops attributed */
	KERNEL_F_MAX,
};

struct kernel_features {
	bool has[KERNEL_F_MAX];
};

/* Describes each feature: its key (for NETSPYD_TEST_HIDE_FEATURES), what it is, the release that
 * brought it, whether netspyd cannot run without it, and what is lost without an optional one. */
struct kernel_feature_info {
	const char *key;
	const char *what;
	const char *since;
	bool required;
	const char *without;
};

const struct kernel_feature_info *kernel_feature_info(enum kernel_feature f);

/* The minimum kernel: every required feature is there from this release on. */
#define KERNEL_MIN_VERSION "5.14"

/* Probes btf (the running kernel's) into ret. `hide` is a comma-separated list of feature keys to
 * report missing even when present (tests and benchmarks force the old paths with it; NULL:
 * none). */
void kernel_probe(const struct btf *btf, const char *hide, struct kernel_features *ret);
/* The first required feature ret lacks, or KERNEL_F_MAX when none is missing. */
enum kernel_feature kernel_missing_required(const struct kernel_features *f);
/* Writes "key, key, ..." of the features present (present true) or missing into buf. */
void kernel_features_list(const struct kernel_features *f, bool present, char *buf, size_t len);

#endif
