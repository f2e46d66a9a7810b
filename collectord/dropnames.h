/* Drop-reason names read from the running kernel's BTF: enum skb_drop_reason is not stable ABI,
 * so no table is compiled in. */
#ifndef NETSPYD_DROPNAMES_H
#define NETSPYD_DROPNAMES_H

#include <stdint.h>
#include <bpf/btf.h>

struct dropnames;

/* Indexes every "*_drop_reason" enum of btf. Returns 0 or -errno (-ENOENT: the kernel has no
 * enum skb_drop_reason). */
int dropnames_load(const struct btf *btf, struct dropnames **ret);
/* The kernel's name for a reason, without the SKB_DROP_REASON_ prefix ("NO_SOCKET"); for a value
 * the kernel does not name, "UNKNOWN_<value>" written into buf. */
const char *dropnames_get(const struct dropnames *d, uint32_t value, char *buf, size_t len);
size_t dropnames_count(const struct dropnames *d);
void dropnames_free(struct dropnames *d);

#endif
