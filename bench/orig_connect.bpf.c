// SPDX-License-Identifier: GPL-2.0-only
/* The original netspy's kernel side, rebuilt as a benchmark baseline: a syscall tracepoint on
 * connect() that copies the destination from user memory and submits every event to a ring
 * buffer with a wakeup each time. netspy replaced it with cgroup hooks and batched reads. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct orig_event {
	__u32 pid;
	__u32 uid;
	__u64 ts_ns;
	char comm[16];
	__u8 addr[28]; /* sockaddr_in6 is the largest we care about */
	__u32 addrlen;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} orig_events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_connect")
int orig_sys_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	struct orig_event *e = bpf_ringbuf_reserve(&orig_events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->addrlen = (__u32)ctx->args[2];
	if (bpf_probe_read_user(e->addr, sizeof(e->addr), (const void *)ctx->args[1]))
		__builtin_memset(e->addr, 0, sizeof(e->addr));
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}
