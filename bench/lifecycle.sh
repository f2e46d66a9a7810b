#!/usr/bin/env bash
# What the TCP lifecycle costs (inbound connections, every connection's end, retransmit and reset
# events): three loopback workloads pinned to one core, run bare, under netspyd before the
# lifecycle hooks, under netspyd now and under empty programs on every hook netspyd attaches (the
# floor: what running any program there costs), in alternated rounds (the order rotates). The rate
# per second of the workload's own CPU time, and each configuration's ratio to bare (median of the
# rounds). Budgets: short-lived TCP connections (connect, accept, close) >= 0.85 of bare with every
# hook; bulk transfer >= 0.98; the UDP connect storm within 0.02 of before. Then the kernel's own
# accounting (bpf_stats) of each program over one short-connection run per netspyd: ns per run and
# runs per connection, which does not depend on what the other CPU does.
# "Before" is netspyd built from BENCH_BEFORE_REF (default: the commit before the lifecycle hooks),
# exported to a temporary directory; or BENCH_BEFORE=PATH to a netspyd binary.
# Run as root from the top of the tree after `make bench-build`.
# Knobs: BENCH_SECONDS (one run, default 2), BENCH_REPS (rounds, default 5), BENCH_CPU (default 1).
set -u
. bench/lib.sh
REF=${BENCH_BEFORE_REF:-85fe33d}

bench_before_netspyd "$REF"
declare -A BIN=([before]=$BEFORE [now]=$BUILD/netspyd)

# workload NAME OUT: one run of storm (UDP connects), short or bulk, pinned to $CPU
workload() {
	case $1 in
	storm) taskset -c "$CPU" "$BUILD/tests/storm" connect "$SECS" nslifebench >"$2" ;;
	*) taskset -c "$CPU" "$BUILD/tests/tcpbench" "$1" "$SECS" >"$2" ;;
	esac
}
# run WORKLOAD CONFIG: appends the CPU-time rate of one run bare, under the empty programs or
# under netspyd CONFIG
run() {
	case $2 in
	bare) ;;
	floor) bench_empty_start all ;;
	*) bench_daemon_start "${BIN[$2]}" ;;
	esac
	workload "$1" "$T/run.out"
	field cpu_rate "$T/run.out" >>"$T/$1.$2"
	case $2 in
	bare) ;;
	floor) bench_empty_stop ;;
	*) bench_daemon_stop ;;
	esac
	return 0
}
# cost CONFIG: "name ns_per_run runs_per_connection" for each program of netspyd CONFIG that ran
cost() {
	bench_daemon_start "${BIN[$1]}"
	bench_with_stats workload short "$T/cost.out"
	bench_prog_costs "$DPID" "$(field ops "$T/cost.out")"
	bench_daemon_stop
}

orders=("bare before now floor" "before now floor bare" "now floor bare before"
	"floor bare before now")
for w in short bulk storm; do
	for ((i = 0; i < REPS; i++)); do
		for c in ${orders[$((i % 4))]}; do run "$w" "$c"; done
		paste -d' ' <(tail -1 "$T/$w.bare") <(tail -1 "$T/$w.before") <(tail -1 "$T/$w.now") \
			<(tail -1 "$T/$w.floor") |
			awk '{ printf "%.4f %.4f %.4f %.4f\n", $2 / $1, $3 / $1, ($3 - $2) / $1, $4 / $1 }' >>"$T/$w.ratio"
	done
done
for ((i = 0; i < REPS; i++)); do
	cost before >>"$T/ns.before"
	cost now >>"$T/ns.now"
done
col() { awk -v c="$2" '{ print $c }' "$T/$1.ratio" | median; }
echo "| workload (per CPU second, median of $REPS) | bare | before ($REF) | now | before / bare | now / bare | now - before | empty programs on every hook / bare |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for w in short bulk storm; do
	case $w in
	short) label="short-lived TCP connections (connections/s)" ;;
	bulk) label="TCP bulk transfer (bytes/s)" ;;
	storm) label="UDP connect storm (connects/s)" ;;
	esac
	echo "| $label | $(median <"$T/$w.bare") | $(median <"$T/$w.before") | $(median <"$T/$w.now") | $(col $w 1) | $(col $w 2) | $(col $w 3) | $(col $w 4) |"
done
echo
bench_prog_table "one short-connection run" connection
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
