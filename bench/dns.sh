#!/usr/bin/env bash
# What tracing DNS costs, and whether every DNS message arrives.
# 1. Ratios: alternated triples (bare, netspyd --no-dns, netspyd; the order rotates) of each
#    workload pinned to one core (tests/tools/storm: the UDP connect storm, a UDP drop flood of
#    unconnected sendto() to a closed port, short TCP connections, a loopback TCP bulk transfer),
#    rate per second of the workload's own CPU time; the medians of the ratios to bare, and of the
#    difference the DNS hooks make (targets: the bulk transfer with every hook >= 0.98 of bare;
#    the storm and the flood within 0.02 of their ratio without the DNS hooks).
# 2. The kernel's own accounting (bpf_stats) of the DNS programs over one run of each workload:
#    ns per run and runs per operation (steadier than the ratios on a loaded machine).
# 3. A DNS query storm on loopback (a responder thread of the storm's own on 127.0.0.153:53, one
#    query at a time), in a cgroup of its own that a netspyd is attached to: queries answered, DNS
#    messages netspyd received, the queries the analyzer matched with their response, and every
#    loss counted; the cost per query is in 1. and 2. (the dns workload).
# Run as root from the top of the tree after `make bench-build` (bench/run.sh runs it).
# Knobs: BENCH_SECONDS (one run, default 2), BENCH_REPS (triples, default 5), BENCH_CPU (default 1).
set -u
. bench/lib.sh
STORM=$BUILD/tests/storm
COMM=nsdnsbench$$
[ "$(id -u)" -eq 0 ] || { echo "run as root: the benchmarks load eBPF programs" >&2; exit 1; }

start() { # start CONFIG: nodns or dns
	if [ "$1" = nodns ]; then
		"$BUILD/netspyd" --socket "$SOCK" --log-target console --no-dns >"$T/netspyd.log" 2>&1 &
	else
		"$BUILD/netspyd" --socket "$SOCK" --log-target console "${@:2}" >"$T/netspyd.log" 2>&1 &
	fi
	DPID=$!
	for _ in $(seq 100); do "$BUILD/netspyctl" --socket "$SOCK" status >/dev/null 2>&1 && return; sleep 0.1; done
	echo "netspyd did not start: $(tail -3 "$T/netspyd.log")" >&2
	exit 1
}
run() { # run WORKLOAD CONFIG: appends the CPU-time rate to $T/WORKLOAD.CONFIG
	[ "$2" != bare ] && start "$2"
	taskset -c "$CPU" "$STORM" "$1" "$SECS" "$COMM" >"$T/out"
	field cpu_rate "$T/out" >>"$T/$1.$2"
	[ "$2" != bare ] && bench_daemon_stop
	return 0
}
# progs WORKLOAD: "name ns_per_run runs_per_op" of the DNS programs over one run under netspyd
progs() {
	local n
	start dns
	bench_with_stats taskset -c "$CPU" "$STORM" "$1" "$SECS" "$COMM" >"$T/pout"
	n=$(field ops "$T/pout")
	[ "$1" = bulk ] && n=$((n / 65536)) # per 64 KiB write
	bench_prog_costs "$DPID" "$n" | awk '$1 ~ /dns/'
	bench_daemon_stop
}

WORKLOADS="connect flood tcpshort bulk dns"
orders=("bare nodns dns" "nodns dns bare" "dns bare nodns")
echo "bench/dns.sh: $REPS triples of ${SECS}s runs per workload on CPU $CPU; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# BENCH_DNS_STORM_ONLY=1: only part 3.
[ "${BENCH_DNS_STORM_ONLY:-0}" = 1 ] && WORKLOADS=""
for w in $WORKLOADS; do
	for ((i = 0; i < REPS; i++)); do
		for c in ${orders[$((i % 3))]}; do run "$w" "$c"; done
		paste -d' ' <(tail -1 "$T/$w.bare") <(tail -1 "$T/$w.nodns") <(tail -1 "$T/$w.dns") |
			awk '{ printf "%.4f %.4f %.4f\n", $2 / $1, $3 / $1, ($3 - $2) / $1 }' >>"$T/$w.ratio"
	done
	progs "$w" >"$T/$w.progs"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# The DNS query storm, counted: netspyd attached to a cgroup the storm runs in (nothing else on the
# machine reaches its backlog) with a backlog that holds every message of the storm.
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-dnsbench-$$.slice
mkdir -p "$CG" || { echo "cannot create a cgroup under $CGROOT" >&2; exit 1; }
start dns --cgroup "$CG" --backlog-events 1048576
sh -c 'echo $$ >"$1/cgroup.procs" && exec taskset -c "$2" "$3" dns "$4" "$5"' sh "$CG" "$CPU" \
	"$STORM" "$SECS" "$COMM" >"$T/dstorm"
rmdir "$CG" 2>/dev/null
sleep 0.5
"$BUILD/netspyctl" --socket "$SOCK" --json status >"$T/status"
"$BUILD/netspyctl" --socket "$SOCK" --json dns --process "$COMM" --duration 300 >"$T/dns.json"
"$BUILD/netspyctl" --socket "$SOCK" --json list-dns --process "$COMM" --duration 300 --max-events 1 >"$T/list.json"
bench_daemon_stop
py() { python3 -c "import json,sys; J=json.load(open(sys.argv[1])); print($2)" "$1"; }

col() { awk -v c="$2" '{ print $c }' "$T/$1.ratio" | median | awk '{ printf "%.3f\n", $1 }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = op == ">=" ? v + 0 >= t + 0 : (v < 0 ? -v : v) <= t + 0; print ok ? "met" : "MISSED" }'; }
echo "| workload | bare (/s of CPU, median) | netspyd --no-dns: ratio to bare | netspyd: ratio to bare | DNS hooks' difference (median of triples) | target |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
for w in $WORKLOADS; do
	d=$(col "$w" 3)
	case $w in
	connect) name="UDP connect storm (connects)"; t="difference within 0.02: $(verdict "$d" 0.02 abs)" ;;
	flood) name="UDP drop flood (sendto to a closed port)"; t="difference within 0.02: $(verdict "$d" 0.02 abs)" ;;
	tcpshort) name="short TCP connections"; t="-" ;;
	bulk) name="loopback TCP bulk transfer (bytes)"; t="every hook >= 0.98: $(verdict "$(col "$w" 2)" 0.98 ">=")" ;;
	dns) name="DNS query storm (answered queries)"; t="-" ;;
	esac
	echo "| $name | $(median <"$T/$w.bare" | awk '{ printf "%.0f", $1 }') | $(col "$w" 1) | $(col "$w" 2) | $d (triples: $(awk '{ printf "%s ", $3 }' "$T/$w.ratio")) | $t |"
done
echo
echo "| workload | DNS program (bpf_stats over one ${SECS}s run) | ns per run | runs per operation |"
echo "| --- | --- | ---: | ---: |"
for w in $WORKLOADS; do
	while read -r p ns r; do echo "| $w | $p | $ns | $r |"; done <"$T/$w.progs"
done
echo
sent=$(field sent "$T/dstorm")
answered=$(field ops "$T/dstorm")
echo "| DNS query storm, ${SECS}s | count |"
echo "| --- | ---: |"
echo "| queries sent by the storm | $sent |"
echo "| queries answered (the storm's own count) | $answered |"
echo "| DNS messages netspyd received (Stats.dns_messages_total; 2 per query) | $(py "$T/status" 'J.get("dns_messages_total", 0)') |"
echo "| events the kernel could not deliver (events_lost) | $(py "$T/status" 'J["events_lost"]') |"
echo "| DNS messages still in the backlog whose bytes netspyd's smaller payload ring had reused (dns_payloads_evicted) | $(py "$T/status" 'J.get("dns_payloads_evicted", 0)') |"
echo "| queries the analyzer stored for the storm's process | $(py "$T/dns.json" 'J["total_queries"]') |"
echo "| of which matched with their response (NOERROR) | $(py "$T/dns.json" 'J["by_rcode"].get("NOERROR", 0)') |"
echo "| unanswered + pending | $(py "$T/dns.json" 'J["unanswered_queries"] + J["pending_queries"]') |"
echo "| events lost on the way to the analyzer (events_lost in its answer) | $(py "$T/dns.json" 'J["events_lost"]') |"
stored=$(py "$T/dns.json" 'J["total_queries"]')
evicted=$(py "$T/status" 'J.get("dns_payloads_evicted", 0)')
echo "| queries accounted for: stored + evicted messages / 2, against queries sent | $((stored + evicted / 2)) of $sent |"
echo "| response latency p50 / p99 (ms) | $(py "$T/dns.json" '"%s / %s" % (J["latency_ms"]["p50"], J["latency_ms"]["p99"])') |"
echo
echo "Load average before: see stderr; after the ratio runs: $load_after."
