#!/usr/bin/env bash
# Floods: above --flood-threshold netspyd folds identical drops into records with a count; its
# per-second counters keep totals exact for windows longer than the backlog; answers say when the
# events kept do not cover their window; flood mode's start and end are logged. The flood is an
# unconnected UDP sendto() flood to a closed port inside a network namespace the suite creates,
# so that the namespace's own `Udp: NoPorts` counter is the flood's and nothing else's. At the
# end, TCP retransmits and resets fold the same way, against the namespace's TCP counters.
. "$(dirname "$0")/lib.sh"
require_root

MSGID_FLOOD_STARTED=$(sed -n 's/#define MSGID_FLOOD_STARTED "\(.*\)"/\1/p' collectord/log.h)
MSGID_FLOOD_ENDED=$(sed -n 's/#define MSGID_FLOOD_ENDED "\(.*\)"/\1/p' collectord/log.h)
check "flood MESSAGE_IDs are defined" test ${#MSGID_FLOOD_STARTED} -eq 32 -a ${#MSGID_FLOOD_ENDED} -eq 32
check "flood MESSAGE_IDs are documented in netspyd(8)" \
	sh -c "grep -q '$MSGID_FLOOD_STARTED' docs/netspyd.8 && grep -q '$MSGID_FLOOD_ENDED' docs/netspyd.8"

NS=nsflood$$
ip netns add "$NS" || { fail "cannot create a network namespace"; exit 1; }
on_exit "ip netns del $NS"
ip -n "$NS" link set lo up
STORM=$NETSPY_TESTS_BIN/storm
PORT=47$((RANDOM % 900 + 100))
noports() { ip netns exec "$NS" awk '/^Udp:/ { if (++n == 2) { print $3; exit } }' /proc/net/snmp; }
# settle MIN: waits (up to 10 s) until netspyd has received at least MIN drops in total: folded
# counts arrive one to two fold intervals after the flood, later on a busy machine.
settle() {
	local i
	for i in $(seq 1 100); do
		[ "$("$NETSPYCTL" --socket "$SOCK" --json status | jget drops_total)" -ge "$1" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
jget() { python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d.get(k) if isinstance(d, dict) else None
print("" if d is None else (str(d).lower() if isinstance(d, bool) else d))' "$1"; }

# ---- below the threshold: every drop is its own record -------------------------------------
# A large backlog: other drops on this host must not push ours out before the list is taken.
start_daemon --backlog-events 262144 || exit 1
n0=$(noports)
for i in $(seq 1 200); do
	ip netns exec "$NS" bash -c "echo x > /dev/udp/127.0.0.1/$PORT" 2>/dev/null
done
n1=$(noports)
sleep 1.5
"$NETSPYCTL" --socket "$SOCK" --json list-drops --duration 60 --max-events 10000 >"$T/slow.json"
got=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))["drops"]
m=[x for x in d if x["destination_port"]==int(sys.argv[2])]
print(len(m), sum(x["count"] for x in m), max([x["count"] for x in m] or [0]))' "$T/slow.json" "$PORT")
check_eq "below the threshold: one record per drop ($((n1 - n0)) NoPorts)" \
	"$((n1 - n0)) $((n1 - n0)) 1" "$got"
# The rate is per CPU and host-wide: another process's drop flood meanwhile would start flood mode.
if grep -q 'flood mode' "$T/netspyd.log"; then
	skip "no flood mode below the threshold: other drops on this host flooded meanwhile"
else
	pass "no flood mode below the threshold"
fi
"$NETSPYCTL" --socket "$SOCK" --json list-drops --duration 1 >"$T/short.json"
check_eq "a short window inside a backlog that evicted nothing is complete" true \
	"$(jget complete <"$T/short.json")"
stop_daemon

# ---- a flood against a small backlog --------------------------------------------------------
start_daemon --backlog-events 200 --flood-threshold 5000 || exit 1
sleep 1
t0=$("$NETSPYCTL" --socket "$SOCK" --json status | jget drops_total)
n0=$(noports)
ip netns exec "$NS" taskset -c 1 "$STORM" flood 2 nsflood "$PORT" >"$T/flood.out"
# At once: the last folded counts stay in the kernel for one to two fold intervals.
"$NETSPYCTL" --socket "$SOCK" --json status >"$T/early.status.json"
"$NETSPYCTL" --socket "$SOCK" --json drops --duration 30 >"$T/early.json"
n1=$(noports)
check "folded counts arrive" settle $((t0 + n1 - n0))
# Right after the flood an answer either has every drop or says from when its counts are not
# final: never a silent undercount.
if [ -n "$(jget folded_pending_since <"$T/early.status.json")" ]; then
	pass "right after the flood, status says folded counts are still in the kernel"
elif [ "$(jget drops_total <"$T/early.status.json")" -ge $((t0 + n1 - n0)) ]; then
	skip "every folded count had arrived before status was asked"
else
	fail "right after the flood, status neither has every drop nor says some are pending"
fi
if [ -n "$(jget coverage_end <"$T/early.json")" ]; then
	check_eq "right after the flood, drops says its counts are not final (complete false)" false \
		"$(jget complete <"$T/early.json")"
elif [ "$(jget total_drops <"$T/early.json")" -ge $((n1 - n0)) ]; then
	skip "every folded count had arrived before drops was asked"
else
	fail "right after the flood, drops has $(jget total_drops <"$T/early.json") of $((n1 - n0)) drops and says nothing pending"
fi
# pending_clears: status stops naming pending counts (up to 5 s; folding of other drops on this
# host meanwhile would keep it).
pending_clears() {
	local i
	for i in $(seq 1 50); do
		[ -z "$("$NETSPYCTL" --socket "$SOCK" --json status | jget folded_pending_since)" ] && return 0
		sleep 0.1
	done
	return 1
}
check "once every count arrived, nothing is pending" pending_clears
# First, while the folded records are the newest the small backlog holds.
"$NETSPYCTL" --socket "$SOCK" list-drops --duration 30 --max-events 10000 >"$T/list.txt"
"$NETSPYCTL" --socket "$SOCK" --json status >"$T/status.json"
"$NETSPYCTL" --socket "$SOCK" --json drops --duration 30 >"$T/drops.json"
"$NETSPYCTL" --socket "$SOCK" drops --duration 30 >"$T/drops.txt"
grew=$((n1 - n0))
ns=$(jget by_reason.NO_SOCKET <"$T/drops.json")
check_ge "the flood made drops ($(cat "$T/flood.out"))" 10000 "$grew"
# Drops outside the namespace (other traffic on this host) may add NO_SOCKET drops to the
# host-wide counters; the flood's own must all be there, and little else (1 %: other engineers'
# tests on a shared machine).
check_ge "drops: NO_SOCKET ($ns) >= the namespace's NoPorts growth ($grew)" "$grew" "$ns"
check_ge "drops: NO_SOCKET ($ns) exceeds NoPorts growth ($grew) by at most 1 %" \
	"$ns" $((grew + grew / 100))
check_eq "drops: totals come from netspyd's counters" netspyd_counters \
	"$(jget totals.source <"$T/drops.json")"
check_eq "drops: total_drops is the counters' total" "$(jget totals.drops <"$T/drops.json")" \
	"$(jget total_drops <"$T/drops.json")"
check_eq "drops: partial answer says so (complete false)" false "$(jget complete <"$T/drops.json")"
check_ge "drops: events evicted from the small backlog" 1 "$(jget events_evicted <"$T/drops.json")"
check_eq "drops: per-process detail labelled partial" true \
	"$(jget by_process_partial <"$T/drops.json")"
check "drops (text) says the answer is partial" grep -q 'partial: the events kept begin' "$T/drops.txt"
check_eq "drops: no coverage_end once nothing is pending" "" "$(jget coverage_end <"$T/drops.json")"
check_ge "status: most of the flood's drops arrived folded" $((grew / 2)) "$(jget events_folded <"$T/status.json")"
check_eq "status: one flood episode" 1 "$(jget flood_episodes <"$T/status.json")"
check_eq "status: flood over" false "$(jget flood_active <"$T/status.json")"
check "flood start logged with its rate" grep -q 'flood mode: [0-9]* drops/s' "$T/netspyd.log"
check "flood end logged" grep -q 'flood mode ended after' "$T/netspyd.log"
check "list-drops shows folded records as 'x N'" grep -q "NO_SOCKET x [0-9,]* .*:$PORT " "$T/list.txt"
timeout 20 "$NETSPYCTL" --socket "$SOCK" watch --replay 300 --timeout 3 >"$T/watch.txt" 2>&1
check "watch shows folded records as 'x N' too" grep -q "| drop    | 127.0.0.1:$PORT .*| UDP  | NO_SOCKET x [0-9,]* | from " "$T/watch.txt"

# The same flood from two CPUs at once: nothing unaccounted.
"$NETSPYCTL" --socket "$SOCK" --json drops --duration 3000 >"$T/before.json"
b=$(jget by_reason.NO_SOCKET <"$T/before.json")
t0=$("$NETSPYCTL" --socket "$SOCK" --json status | jget drops_total)
n0=$(noports)
ip netns exec "$NS" taskset -c 0 "$STORM" flood 2 nsflood "$PORT" >"$T/flood0.out" &
fpid=$!
ip netns exec "$NS" taskset -c 1 "$STORM" flood 2 nsflood "$PORT" >"$T/flood1.out"
wait $fpid
n1=$(noports)
check "folded counts arrive (two CPUs)" settle $((t0 + n1 - n0))
"$NETSPYCTL" --socket "$SOCK" --json drops --duration 3000 >"$T/after.json"
a=$(jget by_reason.NO_SOCKET <"$T/after.json")
grew=$((n1 - n0))
check_ge "two CPUs: NO_SOCKET growth ($((a - b))) >= NoPorts growth ($grew)" "$grew" $((a - b))
check_ge "two CPUs: NO_SOCKET growth ($((a - b))) exceeds NoPorts growth by at most 1 %" \
	$((a - b)) $((grew + grew / 100))

# Drops that all differ (one to each port in turn): the fold hash (4096 entries) fills early in
# each fold interval, and every drop it refuses goes out as a record of its own: nothing
# unaccounted either.
b=$(jget by_reason.NO_SOCKET <"$T/after.json")
t0=$("$NETSPYCTL" --socket "$SOCK" --json status | jget drops_total)
n0=$(noports)
ip netns exec "$NS" taskset -c 1 "$STORM" spray 2 nsflood >"$T/spray.out"
n1=$(noports)
check "folded counts arrive (distinct drops)" settle $((t0 + n1 - n0))
"$NETSPYCTL" --socket "$SOCK" --json drops --duration 3000 >"$T/spray.json"
a=$(jget by_reason.NO_SOCKET <"$T/spray.json")
grew=$((n1 - n0))
check_ge "distinct drops: the spray made more than the fold hash holds ($(cat "$T/spray.out"))" \
	20000 "$grew"
check_ge "distinct drops: NO_SOCKET growth ($((a - b))) >= NoPorts growth ($grew)" "$grew" $((a - b))
check_ge "distinct drops: NO_SOCKET growth ($((a - b))) exceeds NoPorts growth by at most 1 %" \
	$((a - b)) $((grew + grew / 100))
check "netspyd stops cleanly" stop_daemon

# ---- TCP retransmits and resets fold the same way -------------------------------------------
# In a namespace of their own, so that its TCP counters (/proc/net/snmp) are these floods' and
# nothing else's: a loopback bulk transfer that an nftables rule robs of a tenth of its data
# packets, with Ethernet-sized segments and a 5 ms minimum RTO on the route (thousands of
# retransmissions a second, fast and timed out), then one socket, bound to a port of its own,
# connecting again and again to a closed port (a reset received each time). With a low threshold
# both fold; the tools' totals must equal the kernel's counters, every folded record counted as
# its count.
NSR=nsfoldr$$
ip netns add "$NSR" || { fail "cannot create a network namespace"; exit 1; }
on_exit "ip netns del $NSR"
ip -n "$NSR" link set lo up
ip -n "$NSR" link set lo mtu 1500
ip -n "$NSR" route replace local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 \
	table local rto_min 5ms || skip "no rto_min on the loopback route: fewer retransmissions"
# tcp_stat NAME: a Tcp: counter of the namespace, by its name in the header line.
tcp_stat() { ip netns exec "$NSR" awk -v k="$1" '/^Tcp:/ { if (!h) { for (i = 2; i <= NF; i++) if ($i == k) c = i; h = 1 } else print $c }' /proc/net/snmp; }
# The namespace's TCPRetransFail: the kernel counts a retransmission in TcpRetransSegs before it
# tries to send it, and here too when sending failed (a loaded host's full backlog queue); such an
# attempt sent nothing and is no retransmit event.
retrans_fails() { ip netns exec "$NSR" awk '/^TcpExt:/ { if (!h) { for (i = 2; i <= NF; i++) if ($i == "TCPRetransFail") c = i; h = 1 } else print $c }' /proc/net/netstat; }
# settle_tcp: waits (up to 20 s) until the namespace has no connection left and its retransmit
# count stopped moving: the writer's socket retransmits on after its process exited.
settle_tcp() {
	local i last=-1 now
	for i in $(seq 1 40); do
		now=$(tcp_stat RetransSegs)
		[ "$now" = "$last" ] && [ "$(tcp_stat CurrEstab)" = 0 ] &&
			! ip netns exec "$NSR" ss -Htan | grep -qv TIME-WAIT && return 0
		last=$now
		sleep 0.5
	done
	return 1
}
# folded_records FILE KIND: "records folded_records sum_of_counts events_lost" of a watch --json
# replay (for retransmits the sum is of count x segments; events_lost: what the replay lost, as a
# slow client, or the kernel).
folded_records() { python3 -c 'import json,sys
n=f=t=l=0
for line in open(sys.argv[1]):
    e=json.loads(line)
    if e.get("kind")=="loss": l+=e["count"]
    if e.get("kind")!=sys.argv[2]: continue
    n+=1; f+=e["count"]>1; t+=e["count"]*e.get("segments",1)
print(n,f,t,l)' "$1" "$2"; }
# check_total WHAT EXPECTED GOT ANSWER: GOT equals the kernel's count EXPECTED; when the kernel
# lost records meanwhile (a storm elsewhere on this machine fills the ring buffer before this CPU
# folds), what is missing must be no more than what netspyd counted as lost; when the answer
# (file ANSWER) says it is partial (a storm elsewhere pushed events out of the backlog before the
# query replayed it), the check cannot be made, and says so.
check_total() {
	local lost
	lost=$("$NETSPYCTL" --socket "$SOCK" --json status | jget events_lost)
	if [ "$2" != "$3" ] && [ "$(jget events_evicted <"$4")" -gt 0 ] 2>/dev/null; then
		skip "$1: the answer is partial ($(jget events_evicted <"$4") events evicted from the backlog meanwhile)"
	elif [ "$lost" = 0 ] || [ "$2" = "$3" ]; then
		check_eq "$1" "$2" "$3"
	elif [ "$3" -le "$2" ] && [ $(($2 - $3)) -le "$lost" ]; then
		pass "$1: $(($2 - $3)) missing, within the $lost events netspyd counted as lost"
	else
		fail "$1 (expected '$2', got '$3', $lost lost)"
	fi
}
# rfc3339 EPOCH_SECONDS: the time as --since takes it. The TCP checks ask with a fixed start
# rather than --duration: polling on a slow (sanitizer) build lasts long enough for a --duration
# window to slide past the flood.
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
# quality_until FILE FIELD EXPECTED ARGS...: `quality --json ARGS` into FILE until its FIELD reaches
# EXPECTED, for up to 15 s. Folded counts become records once their epoch is two fold intervals
# old (one second each by default): the last ones of a flood arrive up to about 3 s after it,
# later on a loaded host.
quality_until() {
	local file=$1 field=$2 want=$3 i
	shift 3
	for i in $(seq 1 30); do
		"$NETSPYCTL" --socket "$SOCK" --json quality "$@" >"$file"
		[ "$(jget "$field" <"$file")" = "$want" ] && return 0
		sleep 0.5
	done
}
# check_replay_sum WHAT EXPECTED LOST SUM: the replay's sum equals the total, unless the replay
# itself lost events (a slow terminal client), which it says.
check_replay_sum() {
	if [ "$3" = 0 ]; then
		check_eq "$1" "$2" "$4"
	else
		skip "$1: the watch replay lost $3 events as a slow client"
	fi
}

start_daemon --backlog-events 1048576 --flood-threshold 100 || exit 1
if ip netns exec "$NSR" nft -f - <<NFT
table inet nsfold {
	chain in {
		type filter hook input priority 0;
		tcp flags & (syn | fin | rst) == 0 meta length > 200 numgen random mod 10 == 0 counter drop
	}
}
NFT
then
	r0=$(tcp_stat RetransSegs) f0=$(retrans_fails)
	since=$(date +%s)
	BPORT=$((30000 + RANDOM % 10000))
	ip netns exec "$NSR" "$STORM" bulk 2 nsf-rtx "$BPORT" >"$T/bulk.out"
	check "the lossy transfer settles" settle_tcp
	r1=$(tcp_stat RetransSegs) fails=$(($(retrans_fails) - f0))
	ip netns exec "$NSR" nft flush ruleset
	made=$((r1 - r0 - fails))
	# By port: the count is checked here, not the attribution (on a machine this busy, the owners
	# table may have replaced the socket's entry by the end).
	win=$(($(date +%s) - since + 20))
	quality_until "$T/rtx.q.json" retransmits "$made" --port "$BPORT" --since "$(rfc3339 $((since - 20)))"
	"$NETSPYCTL" --socket "$SOCK" --json quality --process nsf-rtx --since "$(rfc3339 $((since - 20)))" >"$T/rtx.qp.json"
	# The replays reach further back than the window: each watch runs for its --timeout, and the
	# process's events are the only ones they take (the daemon started just before).
	"$NETSPYCTL" --socket "$SOCK" --json watch --replay $((win + 30)) --process nsf-rtx --timeout 5 >"$T/rtx.watch"
	"$NETSPYCTL" --socket "$SOCK" watch --replay $((win + 30)) --process nsf-rtx --timeout 5 >"$T/rtx.watch.txt"
	check_ge "the kernel retransmitted a flood of segments ($made; $(cat "$T/bulk.out"))" 2000 "$made"
	got=$(jget retransmits <"$T/rtx.q.json")
	# netspy counts what the kernel's tcp_retransmit_skb tracepoint reports. Under this much
	# loss, 6.18's TcpRetransSegs sometimes also counts a few GSO packets' segments that the
	# tracepoint never reports (45 to 135 of 27,000 to 50,000 here, with TCPRetransFail 0 and no
	# failed attempt traced; an independent bpftrace program on the tracepoint counted exactly
	# what netspy did): equal, or short by at most 1 %, never more.
	if [ "$got" = "$made" ]; then
		pass "quality: retransmits equal the namespace's TcpRetransSegs less TCPRetransFail ($fails)"
	elif [ -n "$got" ] && [ "$got" -lt "$made" ] && [ $((made - got)) -le $((made / 100)) ]; then
		pass "quality: retransmits ($got) within 1 % below the namespace's TcpRetransSegs less TCPRetransFail ($made; segments the tracepoint did not report)"
	else
		check_total "quality: retransmits equal the namespace's TcpRetransSegs less TCPRetransFail ($fails; 0 unaccounted)" "$made" "$got" \
			"$T/rtx.q.json"
	fi
	read -r n f t l < <(folded_records "$T/rtx.watch" tcp_retransmit)
	check_ge "retransmit records folded ($f of $n records stand for more than one)" 1 "$f"
	check_replay_sum "the retransmit records' counts x segments add up to quality's for the process" \
		"$(jget retransmits <"$T/rtx.qp.json")" "$l" "$t"
	check "watch shows a folded retransmit as 'x N'" grep -q 'retrans .* x [0-9,]* |' "$T/rtx.watch.txt"
	check "flood mode logged for retransmits" grep -q 'flood mode: .*[0-9]* retransmits/s' "$T/netspyd.log"
else
	skip "nftables cannot filter in a network namespace here"
fi

# Resets: every refused connect of the bound socket is one reset received (and one failed
# attempt in the namespace's counters).
RPORT=$((20000 + RANDOM % 10000))
a0=$(tcp_stat AttemptFails)
since=$(date +%s)
ip netns exec "$NSR" "$STORM" rstflood 2 nsf-rst "$RPORT" >"$T/rst.out"
a1=$(tcp_stat AttemptFails)
refused=$(sed -n 's/^ops=\([0-9]*\) .*/\1/p' "$T/rst.out")
win=$(($(date +%s) - since + 20))
quality_until "$T/rst.q.json" resets_received "$refused" --port "$RPORT" --since "$(rfc3339 $((since - 20)))"
"$NETSPYCTL" --socket "$SOCK" --json quality --process nsf-rst --since "$(rfc3339 $((since - 20)))" >"$T/rst.qp.json"
"$NETSPYCTL" --socket "$SOCK" --json watch --replay $((win + 30)) --process nsf-rst --timeout 15 >"$T/rst.watch"
check_ge "a flood of refused connects ($refused)" 1000 "$refused"
check_eq "each refused connect failed an attempt in the namespace's counters" "$refused" $((a1 - a0))
got=$(jget resets_received <"$T/rst.q.json")
check_total "quality: resets received equal the refused connects (0 unaccounted)" "$refused" "$got" \
	"$T/rst.q.json"
read -r n f t l < <(folded_records "$T/rst.watch" tcp_reset_received)
check_ge "reset records folded ($f of $n records stand for more than one)" 1 "$f"
check_replay_sum "the reset records' counts add up to quality's for the process" \
	"$(jget resets_received <"$T/rst.qp.json")" "$l" "$t"
"$NETSPYCTL" --socket "$SOCK" status --json >"$T/status.json"
lost=$(jget events_lost <"$T/status.json")
if [ "$lost" = 0 ]; then
	pass "no event lost"
else # counted: only a storm elsewhere on this machine makes any
	skip "$lost events lost to other traffic on this machine, and counted"
fi
check "netspyd stops cleanly after the TCP floods" stop_daemon
