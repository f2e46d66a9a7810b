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

/* The rest of netspyd's hooks, for the "all" set. */
SEC("cgroup/connect6")
int empty_connect6(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/post_bind4")
int empty_post_bind4(struct bpf_sock *sk)
{
	return 1;
}

SEC("cgroup/post_bind6")
int empty_post_bind6(struct bpf_sock *sk)
{
	return 1;
}

SEC("cgroup/sock_release")
int empty_sock_release(struct bpf_sock *sk)
{
	return 1;
}

SEC("sockops")
int empty_sockops(struct bpf_sock_ops *skops)
{
	return 1;
}

SEC("cgroup_skb/egress")
int empty_skb_egress(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/ingress")
int empty_skb_ingress(struct __sk_buff *skb)
{
	return 1;
}

SEC("tp_btf/inet_sock_set_state")
int empty_inet_sock_set_state(__u64 *ctx)
{
	return 0;
}

SEC("tp_btf/fib6_table_lookup")
int empty_fib6_table_lookup(__u64 *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int empty_tcp_retransmit_skb(__u64 *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int empty_tcp_send_reset(__u64 *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int empty_tcp_receive_reset(__u64 *ctx)
{
	return 0;
}
