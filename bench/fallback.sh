#!/usr/bin/env bash
# What the connect hooks' fallback path costs: kernels before 6.2 lack the bpf_cast_to_kern_ctx
# kfunc, and netspyd loads cgroup_connect4/6_compat there, which read the socket cookie through
# the bpf_get_socket_cookie helper. On this (newer) kernel both paths load:
# NETSPYD_TEST_HIDE_FEATURES=kern_ctx forces the fallback. REPS alternated pairs (fast, fallback)
# of a UDP connect storm pinned to one core, rate per second of the storm's own CPU time; then the
# kernel's own accounting (bpf_stats) of each path's cgroup/connect4 program, REPS storms each.
# Run as root from the top of the tree after `make bench-build` (bench/run.sh runs it).
# Knobs: BENCH_SECONDS (one storm, default 2), BENCH_REPS (pairs, default 5), BENCH_CPU (default 1).
set -u
. bench/lib.sh

# start PATH: netspyd with the fast (fast) or the fallback (fallback) connect programs
start() {
	local hide=
	[ "$1" = fallback ] && hide=kern_ctx
	bench_daemon_start "$BUILD/netspyd" NETSPYD_TEST_HIDE_FEATURES=$hide
}
stop() { bench_daemon_stop; }
# storm PATH: one storm under netspyd on PATH; appends its CPU-time rate to $T/PATH
storm() {
	start "$1"
	taskset -c "$CPU" "$BUILD/tests/storm" connect "$SECS" nsfallback >"$T/storm.out"
	field cpu_rate "$T/storm.out" >>"$T/$1"
	stop
}
# cost PATH: ns per run of that path's connect4 program, from the kernel's accounting
cost() {
	start "$1"
	bench_with_stats taskset -c "$CPU" "$BUILD/tests/storm" connect "$SECS" nsfallback >/dev/null
	bench_prog_costs "$DPID" 0 | awk '$1 ~ /cgroup_connect4/ { print $2 }'
	stop
}

for ((i = 0; i < REPS; i++)); do
	if ((i % 2 == 0)); then storm fast; storm fallback; else storm fallback; storm fast; fi
	paste -d' ' <(tail -1 "$T/fast") <(tail -1 "$T/fallback") | awk '{ printf "%.4f\n", $2 / $1 }' >>"$T/ratio"
done
for ((i = 0; i < REPS; i++)); do
	if ((i % 2 == 0)); then cost fast >>"$T/ns.fast"; cost fallback >>"$T/ns.fallback"
	else cost fallback >>"$T/ns.fallback"; cost fast >>"$T/ns.fast"; fi
done
fast_ns=$(median <"$T/ns.fast")
fb_ns=$(median <"$T/ns.fallback")
echo "| path | connects/s per CPU second (median of $REPS) | ratio to the fast path (median of pairs) | connect4 program, ns per run (bpf_stats, median of $REPS storms) |"
echo "| --- | --- | --- | --- |"
echo "| fast: bpf_cast_to_kern_ctx (Linux 6.2+) | $(median <"$T/fast") | 1 | $fast_ns |"
echo "| fallback: bpf_get_socket_cookie (before 6.2) | $(median <"$T/fallback") | $(median <"$T/ratio") (pairs: $(tr '\n' ' ' <"$T/ratio")) | $fb_ns |"
