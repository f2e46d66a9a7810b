# What netspyd does with the kernel it finds: the programs it loads are the ones this kernel's
# features call for (the fast connect path with bpf_cast_to_kern_ctx, the _compat one without),
# the fallback path counts exactly, and a kernel without BTF or without a required feature is
# refused with a message naming the missing feature and the release that has it. Runs on the
# host and on every kernel of the matrix (tests/kernels/list).
. "$(dirname "$0")/lib.sh"
require_root

# run_refused ENV-ASSIGNMENT...: runs netspyd, which must give up at start-up (killed after 5 s
# otherwise), with its log in $T/refused.log; returns its exit status.
run_refused() {
	env "$@" "$NETSPYD" --socket "$T/refused.sock" --log-target console >"$T/refused.log" 2>&1 &
	local pid=$! i
	for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
	kill $pid 2>/dev/null
	wait $pid
}
ensure_group

# ---- a kernel below the minimum ------------------------------------------------------------------
# What this kernel lacks of what netspyd requires, read from its BTF with bpftool (independently
# of netspyd's own probe), in netspyd's order of checks: the first one missing is the one named.
btf_dump=$T/btf.txt
bpftool btf dump file /sys/kernel/btf/vmlinux >"$btf_dump" 2>/dev/null
missing=
for req in "BPF_MAP_TYPE_RINGBUF|the BPF ring buffer (BPF_MAP_TYPE_RINGBUF), which arrived in Linux 5.8" \
	"BPF_FUNC_get_current_task_btf|the bpf_get_current_task_btf helper, which arrived in Linux 5.11" \
	"BPF_PROG_TYPE_SYSCALL|BPF syscall programs (BPF_PROG_TYPE_SYSCALL), which arrived in Linux 5.14"; do
	grep -q "'${req%%|*}' val=" "$btf_dump" || { missing=${req#*|}; break; }
done
if [ ! -s "$btf_dump" ] || [ -n "$missing" ]; then
	run_refused
	rc=$?
	check_eq "kernel $(uname -r) is below the minimum: netspyd exits with status 2" 2 "$rc"
	if [ ! -s "$btf_dump" ]; then
		check "the message says the kernel has no BTF" grep -q \
			"error: this kernel provides no BTF type information" "$T/refused.log"
	else
		check "the message names what the kernel lacks and the release that has it: $missing" \
			grep -qF "error: this kernel lacks $missing: netspyd needs Linux 5.14 or newer" \
			"$T/refused.log"
	fi
	check "and does not guess about BTF" eval '! grep -q "built with BTF?" "$T/refused.log"'
	exit 0
fi

# ---- the programs this kernel calls for ------------------------------------------------------------
# The programs with a fast path and a fallback (the connects', the socket release's), sorted.
ctx_progs() { grep -E '^cgroup_(connect|sock_release)' | sort | tr '\n' ' ' | sed 's/ $//'; }
if bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | grep -q "^\[[0-9]*\] FUNC 'bpf_cast_to_kern_ctx'"; then
	connect_progs="cgroup_connect4 cgroup_connect6 cgroup_sock_release"
else
	connect_progs="cgroup_connect4_compat cgroup_connect6_compat cgroup_sock_release_compat"
fi
start_daemon || exit 1
check_eq "the connect and socket release programs suit this kernel ($(uname -r))" "$connect_progs" \
	"$(prog_names_of "$DAEMON_PID" | ctx_progs)"
if [ "${connect_progs#*compat}" != "$connect_progs" ]; then
	check "netspyd says the kernel lacks bpf_cast_to_kern_ctx (Linux 6.2)" \
		grep -q "lacks the bpf_cast_to_kern_ctx and bpf_rdonly_cast kfuncs (Linux 6.2 or newer)" \
		"$T/netspyd.log"
fi
check "netspyd logs the kernel's BPF features" grep -q "BPF features: ringbuf, task_btf, syscall_prog" \
	"$T/netspyd.log"
stop_daemon

# ---- the fallback path, forced on a kernel that has the fast one ---------------------------------
export NETSPYD_TEST_HIDE_FEATURES=kern_ctx
start_daemon || exit 1
unset NETSPYD_TEST_HIDE_FEATURES
check_eq "without bpf_cast_to_kern_ctx the _compat connect and socket release programs are loaded" \
	"cgroup_connect4_compat cgroup_connect6_compat cgroup_sock_release_compat" \
	"$(prog_names_of "$DAEMON_PID" | ctx_progs)"
dump_start "$T/compat.json" comm nsk-compat
gen=$(unique_gen nsk-compat)
"$gen" tcp-local 127.0.0.1 3 >/dev/null
"$gen" udp ::1 9 2 >/dev/null
dump_stop "$T/compat.json"
check_eq "fallback path: 3 TCP connects and 3 established outcomes, 2 UDP IPv6 connects, all with cookies" \
	"3 3 2" "$(python3 - "$T/compat.json" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ev = [e for e in ev if e.get("kind") != "subscribed" and e.get("cookie", 0) > 0]
print(sum(e["kind"] == "connect" and e["protocol"] == "TCP" for e in ev),
      sum(e["kind"] == "tcp_outcome" and e["outcome"] == "established" for e in ev),
      sum(e["kind"] == "connect" and e["protocol"] == "UDP" and e["family"] == "IPv6" for e in ev))
PY
)"
stop_daemon

# ---- drops need drop reasons (Linux 5.17) ------------------------------------------------------
export NETSPYD_TEST_HIDE_FEATURES=drop_reason
start_daemon || exit 1
unset NETSPYD_TEST_HIDE_FEATURES
check "without drop reasons netspyd warns that drops are not traced, naming Linux 5.17" \
	grep -q "warning: this kernel lacks drop reasons in the kfree_skb tracepoint (Linux 5.17 or newer): packet drops are not traced" \
	"$T/netspyd.log"
check "and loads no kfree_skb program" eval '! prog_names_of "$DAEMON_PID" | grep -q kfree_skb'
stop_daemon

# ---- refused kernels -----------------------------------------------------------------------------
run_refused NETSPYD_TEST_HIDE_FEATURES=syscall_prog
check_eq "a kernel without a required feature: exit status 2" 2 "$?"
check "the message names the feature and the release that has it" grep -q \
	"error: this kernel lacks BPF syscall programs (BPF_PROG_TYPE_SYSCALL), which arrived in Linux 5.14: netspyd needs Linux 5.14 or newer" \
	"$T/refused.log"

# A kernel without BTF, for real as far as libbpf can tell: /sys/kernel/btf hidden by an empty
# mount in a private mount namespace.
unshare --mount sh -c 'mount -t tmpfs none /sys/kernel/btf && exec "$0" --socket "$1" --log-target console' \
	"$NETSPYD" "$T/nobtf.sock" >"$T/nobtf.log" 2>&1
check_eq "a kernel without BTF: exit status 2" 2 "$?"
check "the message says the kernel has no BTF and which kernel option and release provide it" grep -q \
	"error: this kernel provides no BTF type information (/sys/kernel/btf/vmlinux is missing or unreadable): netspyd needs a kernel built with CONFIG_DEBUG_INFO_BTF=y, which provides it since Linux 5.4" \
	"$T/nobtf.log"
check "and does not guess (no 'is this kernel built with BTF?')" eval '! grep -q "built with BTF?" "$T/nobtf.log"'
