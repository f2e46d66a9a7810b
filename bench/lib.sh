# What the benchmark scripts (bench/*.sh) share: the knobs, a private directory removed at exit
# (run.sh adds its own cleanup on top), the median of alternated runs and reading a key=value field
# of a tool's output, starting netspyd, building the netspyd to compare with, and the kernel's
# accounting of BPF programs. Source it first, from the top of the tree: . bench/lib.sh
# Knobs (environment): BENCH_SECONDS (one storm, default 2), BENCH_REPS (alternated runs per
# configuration, default 5), BENCH_CPU (core the storm is pinned to, default 1).
BUILD=${NETSPY_BUILD:-build}
SECS=${BENCH_SECONDS:-2}
REPS=${BENCH_REPS:-5}
CPU=${BENCH_CPU:-1}
T=$(mktemp -d /tmp/netspy-bench.XXXXXX)
SOCK=$T/netspyd.sock
# The netspyd a script started, stopped at exit.
DPID=
# The kernel's accounting of BPF programs (kernel.bpf_stats_enabled) makes every program run on
# the machine read the clock twice: left on (by a benchmark interrupted while it was on, or by
# another tool), it taxes every hooked workload and the ratios read low (0.72 instead of 0.78 of
# bare for short TCP connections on the reference host). It is off while the scripts measure
# rates, on only inside bench_with_stats, and put back as it was at exit.
BENCH_STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
if [ "$BENCH_STATS_WAS" != 0 ]; then
	echo "bench: kernel.bpf_stats_enabled was on: turned off for the measurements, restored at exit" >&2
	sysctl -q kernel.bpf_stats_enabled=0
fi

# The empty programs a script started (bench_empty_start), stopped at exit.
EPID=
# The cgroup2 root: netspyd's default attachment point, where the empty programs go too.
CGROOT=$(awk '$9 == "cgroup2" && $4 == "/" { print $5; exit }' /proc/self/mountinfo)

bench_cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$EPID" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	sysctl -q kernel.bpf_stats_enabled="$BENCH_STATS_WAS" 2>/dev/null
	rm -rf "$T"
}
trap bench_cleanup EXIT
getent group netspy >/dev/null || groupadd --system netspy

# median: the median of the numbers on stdin, one a line ("nan" when there are none).
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# field KEY FILE: the last KEY=NUMBER in FILE.
field() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" "$2" | tail -1; }

# bench_daemon_start NETSPYD [VAR=VALUE...]: starts that netspyd binary (with those variables in
# its environment) on $SOCK as $DPID and waits until it answers; exits when it does not start.
bench_daemon_start() {
	local bin=$1
	shift
	env "$@" "$bin" --socket "$SOCK" --log-target console >"$T/netspyd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do "$BUILD/netspyctl" --socket "$SOCK" status >/dev/null 2>&1 && return; sleep 0.1; done
	echo "netspyd ($bin $*) did not start: $(tail -3 "$T/netspyd.log")" >&2
	exit 1
}
bench_daemon_stop() { kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }

# bench_empty_start [fib|all]: starts bench/empty_loader (programs that do nothing: on kfree_skb
# and connect4; on fib_table_lookup alone; or on every hook netspyd attaches) as $EPID and waits
# until they are attached; exits when they are not.
bench_empty_start() {
	"$BUILD/bench/empty_loader" "$CGROOT" "$@" >"$T/empty.out" 2>&1 &
	EPID=$!
	for _ in $(seq 100); do grep -q '^ready' "$T/empty.out" && return; sleep 0.1; done
	echo "empty programs ($*) did not start: $(cat "$T/empty.out")" >&2
	exit 1
}
bench_empty_stop() { kill "$EPID"; wait "$EPID" 2>/dev/null; EPID=; }

# bench_before_netspyd REF: sets BEFORE to the netspyd to compare with: $BENCH_BEFORE when set
# (a binary), else netspyd built from commit REF, exported to $T/before-tree; exits when it does
# not build.
bench_before_netspyd() {
	BEFORE=${BENCH_BEFORE:-}
	[ -n "$BEFORE" ] && return
	mkdir -p "$T/before-tree"
	git archive "$1" | tar -x -C "$T/before-tree" &&
		make -C "$T/before-tree" -j"$(nproc)" build/netspyd >"$T/before-build.log" 2>&1 ||
		{ echo "cannot build netspyd at $1: $(tail -3 "$T/before-build.log" 2>/dev/null)" >&2; exit 1; }
	BEFORE=$T/before-tree/build/netspyd
}

# bench_with_stats CMD...: runs CMD with the kernel's own accounting of BPF programs on
# (kernel.bpf_stats_enabled is global, it times every program on the machine: on only meanwhile).
bench_with_stats() {
	local rc
	sysctl -q kernel.bpf_stats_enabled=1
	"$@"
	rc=$?
	sysctl -q kernel.bpf_stats_enabled=0
	return $rc
}
# bench_prog_stats PID: "NAME RUN_TIME_NS RUN_CNT" for each BPF program process PID holds, as
# counted while the accounting was on.
bench_prog_stats() {
	local id
	for id in $(grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -un); do
		bpftool prog show id "$id" | head -1
	done | sed -n 's/.*name \([a-z0-9_]*\) .*run_time_ns \([0-9]*\) run_cnt \([0-9]*\).*/\1 \2 \3/p'
}
# bench_prog_costs PID OPS: "NAME NS_PER_RUN RUNS_PER_OP" for each program of PID that ran, OPS
# being how many operations the workload made meanwhile.
bench_prog_costs() {
	bench_prog_stats "$1" | awk -v n="$2" '$3 > 0 { printf "%s %.1f %.3f\n", $1, $2 / $3, $3 / (n ? n : 1) }'
}
# bench_prog_table RUN PER: the table of the costs bench_prog_costs wrote to $T/ns.before and
# $T/ns.now, one row per program: medians of ns per run before and now, and of runs per PER now
# (RUN says what they ran during).
bench_prog_table() {
	local p b a r
	echo "| program (bpf_stats over $1, median of $REPS) | before: ns per run | now: ns per run | now: runs per $2 |"
	echo "| --- | ---: | ---: | ---: |"
	for p in $(awk '{ print $1 }' "$T/ns.now" "$T/ns.before" | sort -u); do
		b=$(awk -v p="$p" '$1 == p { print $2 }' "$T/ns.before" | median)
		a=$(awk -v p="$p" '$1 == p { print $2 }' "$T/ns.now" | median)
		r=$(awk -v p="$p" '$1 == p { print $3 }' "$T/ns.now" | median)
		echo "| $p | ${b/nan/-} | ${a/nan/-} | ${r/nan/-} |"
	done
}
