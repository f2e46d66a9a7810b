// SPDX-License-Identifier: GPL-2.0-only
/* The physical limit of the flood and storm benchmarks: programs that do nothing, on the hooks
 * netspy's drop and connect programs use (tp_btf/kfree_skb, cgroup/connect4), and on the route
 * lookup tracepoint its connect-failure program uses (tp_btf/fib_table_lookup). What remains is
 * the kernel's cost of running any program there. A benchmark baseline, not part of netspy. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/kfree_skb")
int empty_kfree_skb(__u64 *ctx)
{
	return 0;
}

SEC("cgroup/connect4")
int empty_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("tp_btf/fib_table_lookup")
int empty_fib_table_lookup(__u64 *ctx)
{
	return 0;
}
