#!/usr/bin/env bash
# Floods and the physical limit. REPS alternated rounds of three runs each (bare, netspyd with a
# subscribed client, the empty programs of bench/empty_hooks.bpf.c on the same hooks), the order
# reversed every other round, for two workloads pinned to one core: the UDP drop flood (unconnected
# sendto() to a closed port on 127.0.0.1, inside a network namespace of its own) and the UDP
# connect storm. Ratios are of the workload's rate per second of its own CPU time; "distance to
# the limit" is netspyd's ratio over the empty programs' ratio (1 = as cheap as running any
# program there). Then exactness: one flood from one core and one from two cores at once, the
# namespace's `Udp: NoPorts` growth against the NO_SOCKET drops netspyd counted for the window;
# and the kernel's own accounting (bpf_stats) of the kfree_skb programs, ns per run.
# Last, the TCP retransmit flood (a loopback bulk transfer in a namespace of its own, with a
# 1500-byte MTU and a 5 ms minimum RTO, that an nftables rule robs of a tenth of its data packets,
# as tests/flood.test.sh does): bare, netspyd folding retransmits (--flood-threshold 100, below the
# flood's rate per CPU) and netspyd delivering each one (--flood-threshold 0), alternated; ratios
# of bytes moved per second of the workload's CPU time, and bpf_stats ns per run of
# tp_tcp_retransmit_skb in each mode.
# Run as root from the top of the tree after `make bench-build` (bench/run.sh runs it).
# Knobs: BENCH_SECONDS (one run, default 2), BENCH_REPS (rounds, default 5), BENCH_CPU (default 1),
# BENCH_FLOOD_THRESHOLD (netspyd's --flood-threshold, default netspyd's own), BENCH_FLOOD_ONLY=rtx
# (the retransmit flood alone).
set -u
. bench/lib.sh
NS=nsbenchflood$$
NSR=nsbenchrtx$$
PORT=9
SPID=
OTHER_CPU=$((CPU == 0 ? 1 : 0))
cleanup_flood() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NSR" 2>/dev/null
	bench_cleanup
}
trap cleanup_flood EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up || { echo "flood.sh: cannot create a network namespace" >&2; exit 1; }
ulimit -l unlimited 2>/dev/null

opts=()
[ -n "${BENCH_FLOOD_THRESHOLD:-}" ] && opts=(--flood-threshold "$BENCH_FLOOD_THRESHOLD")
noports() { ip netns exec "$NS" awk '/^Udp:/ { if (++n == 2) { print $3; exit } }' /proc/net/snmp; }
start_netspyd() {
	"$BUILD/netspyd" --socket "$SOCK" --log-target console "${opts[@]}" >"$T/netspyd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do "$BUILD/netspyctl" --socket "$SOCK" status >/dev/null 2>&1 && break; sleep 0.1; done
	"$BUILD/tests/subscriber" "$SOCK" >"$T/sub.out" 2>&1 &
	SPID=$!
	for _ in $(seq 100); do grep -q '^ready' "$T/sub.out" && return; sleep 0.1; done
	echo "flood.sh: netspyd or its subscriber did not start" >&2
	exit 1
}
stop_netspyd() {
	kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
	bench_daemon_stop
}
# work WORKLOAD: one pinned run; prints its CPU-time rate
work() {
	if [ "$1" = flood ]; then
		ip netns exec "$NS" taskset -c "$CPU" "$BUILD/tests/storm" flood "$SECS" nsbflood "$PORT" >"$T/w.out"
	else
		taskset -c "$CPU" "$BUILD/tests/storm" connect "$SECS" nsbstorm >"$T/w.out"
	fi
	field cpu_rate "$T/w.out"
}
run() { # run CONFIG WORKLOAD
	case $1 in
	bare) work "$2" ;;
	netspyd) start_netspyd; work "$2"; stop_netspyd ;;
	empty) bench_empty_start; work "$2"; bench_empty_stop ;;
	esac
}

col() { awk -v c="$2" '{ print $c }' "$T/$1" | median; }
# bpf_stats: ns per run of a program of that process (the kfree_skb programs during one flood,
# netspyd's and the empty one's; tp_tcp_retransmit_skb during a lossy transfer).
kfree_ns() { # kfree_ns PID PROGNAME
	bench_prog_costs "$1" 0 | awk -v p="$2" 'index($1, p) { print $2 }'
}

if [ "${BENCH_FLOOD_ONLY:-}" != rtx ]; then
for w in flood storm; do
	for ((i = 0; i < REPS; i++)); do
		if ((i % 2 == 0)); then order="bare netspyd empty"; else order="empty netspyd bare"; fi
		for c in $order; do run "$c" "$w" >>"$T/$w.$c"; done
		paste -d' ' <(tail -1 "$T/$w.bare") <(tail -1 "$T/$w.netspyd") <(tail -1 "$T/$w.empty") |
			awk '{ printf "%.4f %.4f %.4f\n", $2 / $1, $3 / $1, $2 / $3 }' >>"$T/$w.ratio"
	done
done

# Exactness: floods against netspyd, the namespace's NoPorts against netspyd's NO_SOCKET count
# for a window that holds the flood (folded counts arrive within two fold intervals).
exact() { # exact NCPUS: prints "noports_growth no_socket_counted"
	local n0 n1 since fpid=
	start_netspyd
	sleep 1
	since=$(date +%s)
	n0=$(noports)
	if [ "$1" = 2 ]; then
		ip netns exec "$NS" taskset -c "$OTHER_CPU" "$BUILD/tests/storm" flood "$SECS" nsbflood "$PORT" >/dev/null &
		fpid=$!
	fi
	ip netns exec "$NS" taskset -c "$CPU" "$BUILD/tests/storm" flood "$SECS" nsbflood "$PORT" >/dev/null
	[ -n "$fpid" ] && wait "$fpid"
	n1=$(noports)
	sleep 3.5
	"$BUILD/netspyctl" --socket "$SOCK" --json drops --duration $(($(date +%s) - since + 1)) >"$T/drops.json"
	echo "$((n1 - n0)) $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["by_reason"].get("NO_SOCKET", 0))' "$T/drops.json")"
	stop_netspyd
}
read -r g1 c1 < <(exact 1)
read -r g2 c2 < <(exact 2)

for ((i = 0; i < 3; i++)); do
	sysctl -q kernel.bpf_stats_enabled=1
	start_netspyd
	work flood >/dev/null
	kfree_ns "$DPID" tp_kfree_skb >>"$T/ns.netspyd"
	stop_netspyd
	bench_empty_start
	work flood >/dev/null
	kfree_ns "$EPID" empty_kfree_skb >>"$T/ns.empty"
	bench_empty_stop
	sysctl -q kernel.bpf_stats_enabled=0
done

v() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "met" : "MISSED" }'; }
echo "| workload | netspyd ratio to bare (median of $REPS) | empty programs' ratio to bare (the limit) | distance to the limit (netspyd / empty) | target |"
echo "| --- | --- | --- | --- | --- |"
r=$(col flood.ratio 1)
echo "| UDP drop flood, one core (bare $(col flood.bare 1 | awk '{ printf "%.0f", $1 }') sends/s of CPU) | $r (rounds: $(awk '{ print $1 }' "$T/flood.ratio" | tr '\n' ' ')) | $(col flood.ratio 2) | $(col flood.ratio 3) | >= 0.92: $(v "$r" 0.92) |"
echo "| UDP connect storm, one core (bare $(col storm.bare 1 | awk '{ printf "%.0f", $1 }') connects/s of CPU) | $(col storm.ratio 1) | $(col storm.ratio 2) | $(col storm.ratio 3) | |"
echo
echo "| flood | Udp: NoPorts growth (namespace) | NO_SOCKET drops netspyd counted for the window | unaccounted |"
echo "| --- | --- | --- | --- |"
echo "| one core, ${SECS}s | $g1 | $c1 | $((g1 - c1)) |"
echo "| two cores at once, ${SECS}s | $g2 | $c2 | $((g2 - c2)) |"
echo
echo "kfree_skb program, ns per run during the flood (bpf_stats, 3 floods each): netspyd tp_kfree_skb $(tr '\n' ' ' <"$T/ns.netspyd")(median $(median <"$T/ns.netspyd")); empty program $(tr '\n' ' ' <"$T/ns.empty")(median $(median <"$T/ns.empty"))."
echo "NO_SOCKET counts are host-wide: another process's drops on this host during the window add to them (never subtract)."
fi

# ---- the TCP retransmit flood -------------------------------------------------------------------
if ! ip netns add "$NSR" || ! ip -n "$NSR" link set lo up || ! ip -n "$NSR" link set lo mtu 1500 ||
	! ip -n "$NSR" route replace local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 \
		table local rto_min 5ms || ! ip netns exec "$NSR" nft -f - <<NFT
table inet nsbrtx {
	chain in {
		type filter hook input priority 0;
		tcp flags & (syn | fin | rst) == 0 meta length > 200 numgen random mod 10 == 0 drop
	}
}
NFT
then
	echo
	echo "retransmit flood: skipped (no network namespace with nftables here)"
	exit 0
fi
retrans() { ip netns exec "$NSR" awk '/^Tcp:/ { if (!h) { for (i = 2; i <= NF; i++) if ($i == "RetransSegs") c = i; h = 1 } else print $c }' /proc/net/snmp; }
rtx_work() { # one pinned lossy transfer; prints "cpu_rate retransmits_per_second"
	local r0 r1
	r0=$(retrans)
	ip netns exec "$NSR" taskset -c "$CPU" "$BUILD/tests/storm" bulk "$SECS" nsbrtx >"$T/r.out"
	r1=$(retrans)
	echo "$(field cpu_rate "$T/r.out") $(awk -v n=$((r1 - r0)) -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')"
}
rtx_run() { # rtx_run bare|fold|nofold
	case $1 in
	bare) rtx_work ;;
	fold) opts=(--flood-threshold 100); start_netspyd; rtx_work; stop_netspyd ;;
	nofold) opts=(--flood-threshold 0); start_netspyd; rtx_work; stop_netspyd ;;
	esac
}
for ((i = 0; i < REPS; i++)); do
	if ((i % 2 == 0)); then order="bare fold nofold"; else order="nofold fold bare"; fi
	for c in $order; do rtx_run "$c" >>"$T/rtx.$c"; done
	paste -d' ' <(tail -1 "$T/rtx.bare") <(tail -1 "$T/rtx.fold") <(tail -1 "$T/rtx.nofold") |
		awk '{ printf "%.4f %.4f\n", $3 / $1, $5 / $1 }' >>"$T/rtx.ratio"
done
# bpf_stats of tp_tcp_retransmit_skb, 3 transfers per mode, and the records each mode made.
for ((i = 0; i < 3; i++)); do
	for m in fold nofold; do
		sysctl -q kernel.bpf_stats_enabled=1
		if [ $m = fold ]; then opts=(--flood-threshold 100); else opts=(--flood-threshold 0); fi
		start_netspyd
		rtx_work >/dev/null
		kfree_ns "$DPID" tp_tcp_retrans >>"$T/rns.$m"
		"$BUILD/netspyctl" --socket "$SOCK" --json status >"$T/st.json"
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("events_folded", 0), d.get("events_lost", 0))' "$T/st.json" >>"$T/rst.$m"
		stop_netspyd
		sysctl -q kernel.bpf_stats_enabled=0
	done
done
echo
echo "| retransmit flood, one core (median of $REPS) | bare | netspyd folding (--flood-threshold 100) | netspyd, every retransmit a record (--flood-threshold 0) |"
echo "| --- | --- | --- | --- |"
echo "| bytes per CPU second | $(col rtx.bare 1 | awk '{ printf "%.0f", $1 }') | $(col rtx.fold 1 | awk '{ printf "%.0f", $1 }') | $(col rtx.nofold 1 | awk '{ printf "%.0f", $1 }') |"
echo "| ratio to bare | 1 | $(col rtx.ratio 1) (rounds: $(awk '{ print $1 }' "$T/rtx.ratio" | tr '\n' ' ')) | $(col rtx.ratio 2) (rounds: $(awk '{ print $2 }' "$T/rtx.ratio" | tr '\n' ' ')) |"
echo "| retransmitted segments per second (namespace's TcpRetransSegs) | $(col rtx.bare 2) | $(col rtx.fold 2) | $(col rtx.nofold 2) |"
echo
echo "tp_tcp_retransmit_skb, ns per run (bpf_stats, 3 transfers each): folding $(tr '\n' ' ' <"$T/rns.fold")(median $(median <"$T/rns.fold")); every retransmit a record $(tr '\n' ' ' <"$T/rns.nofold")(median $(median <"$T/rns.nofold"))."
echo "events folded / lost per transfer (status): folding $(tr '\n' ';' <"$T/rst.fold"); every retransmit a record $(tr '\n' ';' <"$T/rst.nofold")"
