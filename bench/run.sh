#!/usr/bin/env bash
# Runs netspy's benchmarks and prints one table (Markdown) of ratios and counts, all measured in
# this run. Needs root (it loads eBPF programs). Usage: bench/run.sh   (or `make bench`)
# Knobs (environment): BENCH_SECONDS (one storm, default 2), BENCH_REPS (alternated pairs per
# configuration, default 5), BENCH_CPU (core the storm is pinned to, default 1),
# BENCH_BOUND_SECONDS (long storm of the bounds benchmark, default 10), BENCH_QUIET_WAIT (seconds
# to wait, before each pair, for other netspy instances' programs to go away; default 20).
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
BOUND_SECS=${BENCH_BOUND_SECONDS:-10}
QUIET_WAIT=${BENCH_QUIET_WAIT:-20}
NETSPYD=$PWD/$BUILD/netspyd
NETSPYCTL=$PWD/$BUILD/netspyctl
STORM=$PWD/$BUILD/tests/storm
SUBSCRIBER=$PWD/$BUILD/tests/subscriber
ORIG=$PWD/$BUILD/bench/orig_consumer
COMM=nsbench$$
TOOL_PID=
SUB_PID=

cleanup() {
	[ -n "$SUB_PID" ] && kill "$SUB_PID" 2>/dev/null
	[ -n "$TOOL_PID" ] && kill "$TOOL_PID" 2>/dev/null && wait "$TOOL_PID" 2>/dev/null
	bench_cleanup
}
trap cleanup EXIT
log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: the benchmarks load eBPF programs"
for f in "$NETSPYD" "$NETSPYCTL" "$STORM" "$SUBSCRIBER" "$ORIG"; do
	[ -x "$f" ] || die "$f is missing: run 'make bench'"
done
# The syscall tracepoints of the original design and of bpftrace need tracefs.
if [ ! -d /sys/kernel/tracing/events ]; then
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
		log "tracefs is not mounted and cannot be: the tracepoint rows will fail"
fi
CGROOT=$(awk '$9 == "cgroup2" && $4 == "/" { print $5; exit }' /proc/self/mountinfo)
ulimit -l unlimited 2>/dev/null

# ---- helpers ---------------------------------------------------------------------------------
# cgroup connect4 programs attached to the cgroup2 root right now (ours and everyone else's)
connect_hooks() { bpftool cgroup show "$CGROOT" 2>/dev/null | grep -c 'cgroup_inet4_connect'; }
# The bare runs are only bare when no other netspy instance is attached: wait a little for that.
wait_quiet() {
	local i
	for ((i = 0; i < QUIET_WAIT * 10; i++)); do
		[ "$(connect_hooks)" -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}
# storm MODE OUTFILE: one pinned storm; prints its rate
storm() { taskset -c "$CPU" "$STORM" "$1" "$SECS" "$COMM" >"$2" && field rate "$2"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# Anonymous memory only: the kernel buffers' mappings (the ring buffer and the connect rings,
# RssFile/RssShmem) are the kernel's, sized by --ringbuf-size.
anon_kb() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
status_field() { "$NETSPYCTL" --socket "$SOCK" --json status | sed -n "s/.*\"$1\": *\\([0-9]*\\).*/\\1/p"; }

wait_for_line() { # wait_for_line FILE PATTERN SECONDS
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

start_netspyd() {
	"$NETSPYD" --socket "$SOCK" --log-target console "$@" >"$T/netspyd.log" 2>&1 &
	TOOL_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		"$NETSPYCTL" --socket "$SOCK" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "netspyd did not start: $(tail -3 "$T/netspyd.log")"
}
start_subscriber() {
	"$SUBSCRIBER" "$SOCK" --comm "$COMM" >"$T/sub.out" 2>&1 &
	SUB_PID=$!
	wait_for_line "$T/sub.out" '^ready' 10 || die "subscriber did not start: $(cat "$T/sub.out")"
}
stop_subscriber() { # leaves its counts in $T/sub.out
	kill -USR1 "$SUB_PID"
	wait "$SUB_PID"
	SUB_PID=
}
start_orig() {
	"$ORIG" >"$T/orig.out" 2>&1 &
	TOOL_PID=$!
	wait_for_line "$T/orig.out" '^ready' 10 || die "original design fixture: $(cat "$T/orig.out")"
}
start_bpftrace() {
	bpftrace -e 'tracepoint:syscalls:sys_enter_connect { @n = count(); }' >"$T/bt.out" 2>&1 &
	TOOL_PID=$!
	wait_for_line "$T/bt.out" 'Attaching' 30 || die "bpftrace did not start: $(cat "$T/bt.out")"
	sleep 0.5 # it prints before it has attached
}
stop_tool() {
	kill -INT "$TOOL_PID" 2>/dev/null
	wait "$TOOL_PID" 2>/dev/null
	TOOL_PID=
}

# ---- storm and tax: bare vs each configuration, alternated -----------------------------------
# Each run appends "wall_rate cpu_rate" to $T/NAME.{bare,x}.MODE. Pairs alternate their order
# (bare first, then the configuration first) so that a drift in the machine's load cancels out.
declare -A NOT_QUIET
run_bare() {
	local name=$1 mode
	for mode in connect getppid; do
		storm $mode "$T/storm.out" >/dev/null
		echo "$(field rate "$T/storm.out") $(field cpu_rate "$T/storm.out")" >>"$T/$name.bare.$mode"
	done
}
run_x() {
	local name=$1 mode
	"start_$name"
	[ "$name" = netspyd ] && netspyd_run_extras
	for mode in connect getppid; do
		[ "$name" = netspyd ] && [ $mode = connect ] && start_subscriber
		storm $mode "$T/storm.out" >/dev/null
		echo "$(field rate "$T/storm.out") $(field cpu_rate "$T/storm.out")" >>"$T/$name.x.$mode"
		[ "$name" = netspyd ] && [ $mode = connect ] && netspyd_after_storm
	done
	stop_tool
}
measure() {
	local name=$1 rep mode clean
	NOT_QUIET[$name]=0
	for ((rep = 0; rep < REPS; rep++)); do
		wait_quiet || NOT_QUIET[$name]=$((NOT_QUIET[$name] + 1))
		connect_hooks >>"$T/$name.foreign"
		if ((rep % 2 == 0)); then
			run_bare "$name"
			run_x "$name"
		else
			run_x "$name"
			run_bare "$name"
		fi
		# A pair is clean when no other netspy instance was attached at its start or its end.
		clean=0
		[ "$(tail -1 "$T/$name.foreign")" -eq 0 ] && [ "$(connect_hooks)" -eq 0 ] && clean=1
		for mode in connect getppid; do
			paste -d' ' <(tail -1 "$T/$name.bare.$mode") <(tail -1 "$T/$name.x.$mode") |
				awk -v c=$clean '{ printf "%.4f %.4f %d\n", $3 / $1, $4 / $2, c }' \
					>>"$T/$name.ratio.$mode"
		done
	done
}

# Footprint and delivery are measured on the netspyd runs themselves.
netspyd_run_extras() {
	sleep 0.5
	echo "$(rss_kb "$TOOL_PID") $(anon_kb "$TOOL_PID")" >>"$T/rss.idle"
	CPU0=$(cpu_ticks "$TOOL_PID")
	EV0=$(status_field events_total)
}
netspyd_after_storm() {
	local gen
	gen=$(field ops "$T/storm.out")
	echo "$(rss_kb "$TOOL_PID") $(anon_kb "$TOOL_PID")" >>"$T/rss.load"
	stop_subscriber
	echo "$(cpu_ticks "$TOOL_PID") $CPU0 $(status_field events_total) $EV0" >>"$T/cpu"
	echo "$gen $(field events "$T/sub.out") $(field lost_stats "$T/sub.out") $(field client_loss "$T/sub.out")" >>"$T/delivery"
}

log "connect storm and getppid tax: $REPS alternated pairs of ${SECS}s runs per configuration, storm pinned to CPU $CPU"
log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
measure netspyd
command -v bpftrace >/dev/null && measure bpftrace
measure orig
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the cost of netspyd's connect hook itself, from the kernel's own accounting -------------
# kernel.bpf_stats_enabled is global (it times every program on the machine): on only briefly.
prog_cost() {
	start_netspyd
	bench_with_stats storm connect "$T/storm.out" >/dev/null
	bench_prog_stats "$TOOL_PID" | awk '$1 ~ /cgroup_connect4/ { print $2, $3 }' >"$T/progcost"
	stop_tool
}
prog_cost

# ---- bounds: a long storm against a small backlog --------------------------------------------
# Backlog memory is touched as it fills; once full it is reused, so RSS must plateau.
bounds() {
	local n=$1 idle peak=0 mid a i sp
	start_netspyd --backlog-events "$n"
	start_subscriber
	sleep 0.5
	idle=$(anon_kb "$TOOL_PID")
	taskset -c "$CPU" "$STORM" connect "$BOUND_SECS" "$COMM" >"$T/bstorm.out" &
	sp=$!
	for ((i = 0; i < BOUND_SECS * 4; i++)); do
		sleep 0.25
		a=$(anon_kb "$TOOL_PID")
		((a > peak)) && peak=$a
		((i == BOUND_SECS * 2)) && mid=$peak
	done
	wait $sp
	a=$(anon_kb "$TOOL_PID")
	((a > peak)) && peak=$a
	stop_subscriber
	stop_tool
	echo "$n $idle ${mid:-0} $peak $(field ops "$T/bstorm.out")"
}
# The size of one backlog slot, as the compiler lays out the record netspyd stores.
printf '#include "netspy.h"\n#include <stdio.h>\nint main(void) { printf("%%zu\\n", sizeof(struct netspy_event)); return 0; }\n' |
	${CC:-cc} -Ibpf -x c - -o "$T/recsize" && RECSIZE=$("$T/recsize")
log "bounds: ${BOUND_SECS}s storms with --backlog-events 16384 and 262144 (record size ${RECSIZE:-?} bytes)"
B1=$(bounds 16384)
B2=$(bounds 262144)

# ---- the table ---------------------------------------------------------------------------------
col() { awk -v c="$2" '{ print $c }' "$T/$1" | median | awk '{ printf "%.3f\n", $1 }'; }
rate() { col "$@" | awk '{ printf "%.0f\n", $1 }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "met" : "MISSED" }'; }

# The ratio over the clean pairs only (none: "-"), and how many there were.
clean_ratio() { awk '$3 == 1 { print $2 }' "$T/$1" | median | awk '$1 != "nan" { printf "%.3f", $1 } $1 == "nan" { printf "-" }'; }
clean_count() { awk '$3 == 1' "$T/$1" | wc -l; }
echo "| benchmark | configuration | median rate (/s of CPU) | ratio to bare, CPU time | ratio to bare, wall clock | same, clean pairs only (CPU time) | target (CPU-time ratio) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
for mode in connect getppid; do
	title="UDP connect storm"
	[ $mode = getppid ] && title="getppid() tax"
	target=0.75
	[ $mode = getppid ] && target=0.98
	for name in netspyd orig bpftrace; do
		[ -f "$T/$name.x.$mode" ] || continue
		case $name in
		netspyd) label="netspyd + subscribed client" ;;
		orig) label="original design (sys_enter_connect, wakeup per event)" ;;
		bpftrace) label="bpftrace one-liner counting connects" ;;
		esac
		r=$(col "$name.ratio.$mode" 2)
		cr=$(clean_ratio "$name.ratio.$mode")
		t="-"
		# The verdict uses the clean pairs when there are any: other instances' hooks make the
		# bare runs slower and every ratio look better than it is.
		if [ $name = netspyd ] && [ "$cr" != "-" ]; then
			t=">= $target: $(verdict "$cr" $target) (clean pairs)"
		elif [ $name = netspyd ]; then
			t=">= $target: $(verdict "$r" $target) (no clean pair: all pairs)"
		fi
		echo "| $title | bare (paired with $name) | $(rate "$name.bare.$mode" 2) | 1 | 1 | 1 | |"
		echo "| $title | $label | $(rate "$name.x.$mode" 2) | $r | $(col "$name.ratio.$mode" 1) | $(clean_ratio "$name.ratio.$mode") ($(clean_count "$name.ratio.$mode") of $REPS) | $t |"
	done
done
read -r gen del lost closs < <(awk '{ g += $1; d += $2; l += $3; c += $4 } END { print g, d, l, c }' "$T/delivery")
unacc=$((gen - del - lost - closs))
echo "| end-to-end delivery ($REPS storms, comm filter) | generated / delivered / kernel lost / client lost | $gen / $del / $lost / $closs | unaccounted: $unacc | | | 0 unaccounted, 0 lost: $([ $unacc -eq 0 ] && [ $lost -eq 0 ] && [ $closs -eq 0 ] && echo met || echo MISSED) |"
mib() { awk -v c="$2" '{ print $c }' "$T/$1" | median | awk '{ printf "%.1f", $1 / 1024 }'; }
echo "| footprint | netspyd VmRSS idle / after a storm (MiB, median) | $(mib rss.idle 1) / $(mib rss.load 1) | | | | includes the kernel buffers netspyd maps: the ring buffer twice (2 x half of --ringbuf-size) and the connect rings as they fill (the other half) |"
echo "| footprint | netspyd anonymous memory (RssAnon) idle / after a storm (MiB, median) | $(mib rss.idle 2) / $(mib rss.load 2) | | | | backlog and client buffers |"
tck=$(getconf CLK_TCK)
cpu_per_m=$(awk -v t="$tck" '{ ev = $3 - $4; if (ev > 0) printf "%.3f\n", ($1 - $2) / t / (ev / 1e6) }' "$T/cpu" | median)
echo "| footprint | netspyd CPU seconds per million events (median) | $cpu_per_m | | | | |"
read -r pns pcnt <"$T/progcost"
echo "| program cost | netspyd's cgroup/connect4 program, ns per connect (bpf_stats, 1 storm) | $((pns / (pcnt ? pcnt : 1))) | | | | |"
# Bound: every backlog slot written once, plus the subscriber's output buffer, whose capacity
# doubles past --client-buffer (4 MiB) when the last batch overshoots it (so up to 8 MiB, all of
# which is touched as the pending bytes slide along), plus 2 MiB of slack for the allocator.
for b in "$B1" "$B2"; do
	read -r n idle mid peak ops <<<"$b"
	growth=$(((peak - idle) * 1024))
	bound=$((n * ${RECSIZE:-120} + 10 * 1048576))
	m() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
	echo "| bounds | --backlog-events $n ($((n * ${RECSIZE:-120} / 1024)) KiB of ${RECSIZE:-120}-byte slots), ${BOUND_SECS}s storm ($ops connects) | RssAnon idle $(m $((idle * 1024))) MiB, max in first half $(m $((mid * 1024))) MiB, max $(m $((peak * 1024))) MiB | | growth $(m $growth) MiB | | growth <= slots + 2 x 4 MiB client buffer + 2 MiB: $([ $growth -le $bound ] && echo met || echo MISSED) |"
done
for b in "$BUILD"/bench/bench_*; do
	[ -x "$b" ] || continue
	echo
	echo "${b##*/}:"
	"$b" 2>&1 | sed 's/^/    /'
done
if [ -x "$BUILD/tests/trafficgen" ]; then
	echo
	echo "oneshot.sh (one-shot netspyctl summary over a full backlog, baseline netspyctl status):"
	NETSPY_BUILD=$BUILD bash "$(dirname "$0")/oneshot.sh" 2>&1 | sed 's/^/    /'
fi
echo
echo "fallback.sh (the connect hooks' path for kernels before 6.2, forced here, against the fast path):"
NETSPY_BUILD=$BUILD BENCH_SECONDS=$SECS BENCH_REPS=$REPS BENCH_CPU=$CPU \
	bash "$(dirname "$0")/fallback.sh" 2>&1 | sed 's/^/    /'
echo
echo "failures.sh (reporting connect failures: the route lookup tracepoints, the connect hooks' destination hint, sock_release and sockops, against netspyd before them):"
NETSPY_BUILD=$BUILD BENCH_SECONDS=$SECS BENCH_REPS=$REPS BENCH_CPU=$CPU \
	bash "$(dirname "$0")/failures.sh" 2>&1 | sed 's/^/    /'
echo
echo "dns.sh (the DNS hooks, cgroup_skb ingress and egress: ratios with and without them, their bpf_stats, and a DNS query storm counted):"
BENCH_SECONDS=$SECS BENCH_REPS=$REPS BENCH_CPU=$CPU NETSPY_BUILD=$BUILD \
	bash "$(dirname "$0")/dns.sh" 2>&1 | sed 's/^/    /'
echo "flood.sh (UDP drop flood and connect storm: netspyd and the empty programs on the same hooks, the physical limit, against bare; exactness against Udp: NoPorts; the TCP retransmit flood with and without folding):"
NETSPY_BUILD=$BUILD BENCH_SECONDS=$SECS BENCH_REPS=$REPS BENCH_CPU=$CPU \
	bash "$(dirname "$0")/flood.sh" 2>&1 | sed 's/^/    /'
echo
echo "lifecycle.sh (the TCP lifecycle: inbound connections, every connection's end, retransmit and reset events, against netspyd before them and against empty programs on every hook, the floor):"
NETSPY_BUILD=$BUILD BENCH_SECONDS=$SECS BENCH_REPS=$REPS BENCH_CPU=$CPU \
	bash "$(dirname "$0")/lifecycle.sh" 2>&1 | sed 's/^/    /'
echo
echo "Clean pair: no other netspy instance's connect hook attached at the pair's start or end. Noise: other netspy instances had connect hooks attached at the start of ${NOT_QUIET[netspyd]:-0}/${NOT_QUIET[orig]:-0}/${NOT_QUIET[bpftrace]:-0} of the netspyd/orig/bpftrace pairs (max hooks seen: $(cat "$T"/*.foreign | sort -n | tail -1)); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
