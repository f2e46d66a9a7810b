#!/usr/bin/env bash
# What reporting connect failures costs the UDP connect storm: the route lookup tracepoints
# (fib_table_lookup runs once per UDP reconnect), the per-CPU hint the connect hooks now write with
# the destination, cgroup/sock_release and sockops. Alternated rounds (bare, netspyd before,
# netspyd now; the order rotates) of a storm pinned to one core, rate per second of the storm's
# own CPU time; the ratios to bare and their difference (the target: within 0.02). Then the
# kernel's own accounting (bpf_stats) of each program over one storm per netspyd: ns per run and
# runs per connect, which does not depend on what the other CPU does.
# "Before" is netspyd built from BENCH_BEFORE_REF (default: the commit before connect failures were
# reported), exported to a temporary directory; or BENCH_BEFORE=PATH to a netspyd binary.
# A fourth configuration, "emptyfib", runs the storm under an empty program on fib_table_lookup
# alone (bench/empty_hooks.bpf.c): the cost of any program on that tracepoint, the floor of what
# reporting route failures there can cost.
# Run as root from the top of the tree after `make bench-build` (bench/run.sh runs it).
# Knobs: BENCH_SECONDS (one storm, default 2), BENCH_REPS (rounds, default 5), BENCH_CPU (default 1).
set -u
. bench/lib.sh
REF=${BENCH_BEFORE_REF:-669e2c0}

bench_before_netspyd "$REF"
declare -A BIN=([before]=$BEFORE [now]=$BUILD/netspyd)

start() { bench_daemon_start "${BIN[$1]}"; }
stop() { bench_daemon_stop; }
# storm CONFIG: one storm bare, under the empty fib program or under netspyd CONFIG; appends its
# CPU-time rate to $T/CONFIG
storm() {
	case $1 in
	bare) ;;
	emptyfib) bench_empty_start fib ;;
	*) start "$1" ;;
	esac
	taskset -c "$CPU" "$BUILD/tests/storm" connect "$SECS" nsfailbench >"$T/storm.out"
	field cpu_rate "$T/storm.out" >>"$T/$1"
	case $1 in
	bare) ;;
	emptyfib) bench_empty_stop ;;
	*) stop ;;
	esac
	return 0
}
# cost CONFIG: "name ns_per_run runs_per_connect" for each program of netspyd CONFIG that ran
cost() {
	start "$1"
	bench_with_stats taskset -c "$CPU" "$BUILD/tests/storm" connect "$SECS" nsfailbench >"$T/cstorm.out"
	bench_prog_costs "$DPID" "$(field ops "$T/cstorm.out")"
	stop
}

orders=("bare before now emptyfib" "before now emptyfib bare" "now emptyfib bare before"
	"emptyfib bare before now")
for ((i = 0; i < REPS; i++)); do
	for c in ${orders[$((i % 4))]}; do storm "$c"; done
	paste -d' ' <(tail -1 "$T/bare") <(tail -1 "$T/before") <(tail -1 "$T/now") \
		<(tail -1 "$T/emptyfib") |
		awk '{ printf "%.4f %.4f %.4f %.4f\n", $2 / $1, $3 / $1, ($3 - $2) / $1, $4 / $1 }' >>"$T/ratio"
done
for ((i = 0; i < REPS; i++)); do
	cost before >>"$T/ns.before"
	cost now >>"$T/ns.now"
done
col() { awk -v c="$1" '{ print $c }' "$T/ratio" | median; }
echo "| netspyd | connects/s per CPU second (median of $REPS) | ratio to bare (median of rounds) |"
echo "| --- | ---: | ---: |"
echo "| none (bare) | $(median <"$T/bare") | 1 |"
echo "| before ($REF) | $(median <"$T/before") | $(col 1) |"
echo "| now (connect failures reported) | $(median <"$T/now") | $(col 2) |"
echo "| difference (now - before, median of rounds) | | $(col 3) (rounds: $(awk '{ printf "%s ", $3 }' "$T/ratio")) |"
echo "| an empty program on fib_table_lookup alone | $(median <"$T/emptyfib") | $(col 4) (1 - ratio: $(awk '{ printf "%.4f ", 1 - $4 }' "$T/ratio")) |"
echo
bench_prog_table "one storm" connect
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
