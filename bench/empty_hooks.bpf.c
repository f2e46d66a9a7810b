// SPDX-License-Identifier: GPL-2.0-only
/* The physical limit of the benchmarks: programs that do nothing, on the hooks netspy's drop and
 * connect programs use (tp_btf/kfree_skb, cgroup/connect4), on the route lookup tracepoint its
 * connect-failure program uses (tp_btf/fib_table_lookup), and on every other hook netspyd attaches
 * (the "all" set of bench/empty_loader). What remains is the kernel's cost of running any program
 * there. A benchmark baseline, not part of netspy. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* One empty program: cgroup programs return 1 (allow), tracing programs 0. */
#define EMPTY(sec, name, ctx_type, ret)                                                           \
	SEC(sec)                                                                                   \
	int name(ctx_type *ctx)                                                                    \
	{                                                                                          \
		return ret;                                                                        \
	}

EMPTY("tp_btf/kfree_skb", empty_kfree_skb, __u64, 0)
EMPTY("cgroup/connect4", empty_connect4, struct bpf_sock_addr, 1)
EMPTY("tp_btf/fib_table_lookup", empty_fib_table_lookup, __u64, 0)

/* The rest of netspyd's hooks, for the "all" set. */
EMPTY("cgroup/connect6", empty_connect6, struct bpf_sock_addr, 1)
EMPTY("cgroup/post_bind4", empty_post_bind4, struct bpf_sock, 1)
EMPTY("cgroup/post_bind6", empty_post_bind6, struct bpf_sock, 1)
EMPTY("cgroup/sock_release", empty_sock_release, struct bpf_sock, 1)
EMPTY("sockops", empty_sockops, struct bpf_sock_ops, 1)
EMPTY("cgroup_skb/egress", empty_skb_egress, struct __sk_buff, 1)
EMPTY("cgroup_skb/ingress", empty_skb_ingress, struct __sk_buff, 1)
EMPTY("tp_btf/inet_sock_set_state", empty_inet_sock_set_state, __u64, 0)
EMPTY("tp_btf/fib6_table_lookup", empty_fib6_table_lookup, __u64, 0)
EMPTY("tp_btf/tcp_retransmit_skb", empty_tcp_retransmit_skb, __u64, 0)
EMPTY("tp_btf/tcp_send_reset", empty_tcp_send_reset, __u64, 0)
EMPTY("tp_btf/tcp_receive_reset", empty_tcp_receive_reset, __u64, 0)
