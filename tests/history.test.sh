# The recorder against a real netspyd: known traffic becomes exact per-minute rollups in SQLite
# (connections by process, unit, destination, protocol and outcome; latency; drops by reason and
# process; DNS queries by rcode; TCP connection ends with their bytes), a SIGKILL of the recorder mid-write loses nothing netspyd still holds, and after
# netspyd and the recorder restart the earlier traffic is still found with --since (source
# "history"). A damaged database is moved aside, reported in the journal and replaced.
# Waits for minutes to complete: about four minutes in all.
. "$(dirname "$0")/lib.sh"
require_root

json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
ctl() { "$NETSPYCTL" --socket "$SOCK" --history "$DB" "$@"; }
q() { sqlite3 -readonly "$DB" "$1" 2>/dev/null; }
MSGID_CORRUPT=774081282d1747edbcfc2ce12e28fe33

command -v sqlite3 >/dev/null || { fail "sqlite3 is not installed (packaging/install-deps.sh)"; exit 1; }
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-hist-$$.slice
mkdir -p "$CG/histtest.service" || { fail "cannot create a test cgroup under $CGROOT"; exit 1; }
on_exit "rmdir '$CG/histtest.service' '$CG'"
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/histtest.service" "$@"; }
start_daemon --cgroup "$CG" || exit 1

STATE=$T/state
DB=$STATE/history.db
PORT=$((30000 + $$ % 20000))
REC_PID=
start_recorder() {
	"$NETSPYCTL" --socket "$SOCK" record --api-socket none --state-dir "$STATE" --grace 1 \
		--metrics-listen "127.0.0.1:$PORT" >>"$T/recorder.log" 2>&1 &
	REC_PID=$!
	local i
	for i in $(seq 1 100); do
		[ -e "$DB" ] && curl -fsS -o /dev/null "http://127.0.0.1:$PORT/metrics" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the recorder did not start: $(tail -3 "$T/recorder.log")"
	return 1
}
stop_recorder() { [ -n "$REC_PID" ] && kill -TERM "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null; REC_PID=; }
on_exit 'stop_recorder'
# wait_history NAME N: until the database holds N connections of process NAME (130 s at most).
wait_history() {
	local i n
	for i in $(seq 1 260); do
		n=$(q "SELECT coalesce(sum(count),0) FROM connections WHERE process='$1'")
		[ "${n:-0}" -ge "$2" ] && return 0
		sleep 0.5
	done
	return 1
}

# wait_sql QUERY N: until the query's number reaches N (130 s at most).
wait_sql() {
	local i n
	for i in $(seq 1 260); do
		n=$(q "$1")
		[ "${n:-0}" -ge "$2" ] && return 0
		sleep 0.5
	done
	return 1
}

start_recorder || exit 1
GEN=$(unique_gen "nshA$$"); A=${GEN##*/}; A=${A:0:15}
UPORT=$((20000 + $$ % 20000))
T_A=$(date +%s)
in_cg "$GEN" tcp 127.0.0.1 1 3 >/dev/null             # 3 refused
in_cg "$GEN" tcp-local 127.0.0.1 2 >/dev/null          # 2 established, with latency
in_cg "$GEN" udp 127.0.0.1 "$UPORT" 2 send >/dev/null  # 2 UDP sends, 2 NO_SOCKET drops
# TCP quality: 2 connections of known sizes between two processes of their own.
PEER="python3 $PWD/tests/tools/lifepeer.py"
SRV=nshS$$; SRV=${SRV:0:15}; CLI=nshC$$; CLI=${CLI:0:15}
# A port the kernel has free now: a fixed one may be some connection's source port on this host.
LPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
in_cg $PEER "$SRV" server "$LPORT" 2 777 >"$T/srv.out" &
SRVPID=$!
for i in $(seq 100); do grep -q listening "$T/srv.out" 2>/dev/null && break; sleep 0.05; done
grep -q listening "$T/srv.out" || fail "the server did not start listening on $LPORT"
in_cg $PEER "$CLI" client "$LPORT" 1000 20000
wait "$SRVPID"
# DNS: a client under a name of its own asks a responder in a namespace of this suite's:
# 3 NOERROR, 2 NXDOMAIN, 1 never answered.
DN=nshD$$; DN=${DN:0:15}
in_cg unshare -n bash -c "
	ip link set lo up
	python3 '$PWD/tests/tools/dns_responder.py' 127.0.0.1 >'$T/responder.log' 2>&1 &
	for i in \$(seq 1 50); do grep -q ready '$T/responder.log' && break; sleep 0.1; done
	python3 '$PWD/tests/tools/dnsquery.py' '$DN' a.test a.test a.test nope.nx.test nope.nx.test never.silent.test
	kill %1"
check "the minute of the traffic is written (within 130 s)" wait_history "$A" 7
# the TCP and DNS traffic came after A's: its minute may be the next one
check "the minute of the TCP traffic is written" wait_sql "SELECT coalesce(sum(ended),0) FROM tcp_quality WHERE process='$SRV'" 2
check "the minute of the DNS traffic is written" wait_sql "SELECT coalesce(sum(count),0) FROM dns_queries WHERE process='$DN'" 6

# ---- the rollups, read with sqlite3 through the documented views ----
check_eq "refused rollup (process, unit, destination, outcome)" "3" \
	"$(q "SELECT sum(count) FROM connections WHERE process='$A' AND unit='histtest.service' AND destination='127.0.0.1:1' AND outcome='refused' AND protocol=6")"
check_eq "established rollup" "2" "$(q "SELECT sum(count) FROM connections WHERE process='$A' AND outcome='established' AND direction='outbound'")"
# tcp-local accepts its own 2 connections: the listener's side rolls up as inbound.
check_eq "accepted connections roll up as inbound" "2" "$(q "SELECT sum(count) FROM connections WHERE process='$A' AND outcome='established' AND direction='inbound'")"
check_eq "UDP sends rollup" "2" \
	"$(q "SELECT sum(count) FROM connections WHERE process='$A' AND outcome='sent' AND protocol=17 AND destination='127.0.0.1:$UPORT'")"
check_eq "failed column counts the refusals" "3" "$(q "SELECT sum(failed) FROM connections WHERE process='$A'")"
check_eq "direction is outbound" "outbound" "$(q "SELECT DISTINCT direction FROM connections WHERE process='$A' AND outcome<>'established'")"
check_eq "latency histogram holds the 2 handshakes" "2" "$(q "SELECT sum(count) FROM latency WHERE process='$A'")"
# The refused connects' SYNs found no socket: NO_SOCKET drops attributed to the generator.
check_eq "drops by reason, protocol, process and unit" "3" \
	"$(q "SELECT sum(count) FROM drops WHERE process='$A' AND unit='histtest.service' AND reason='NO_SOCKET' AND protocol=6")"
check_eq "TCP ends roll up: the client's 2 connections, closed, bytes sent and received" "2|21000|1554" \
	"$(q "SELECT sum(ended), sum(bytes_sent), sum(bytes_received) FROM tcp_quality WHERE process='$CLI' AND direction='outbound'")"
check_eq "  the server's side: 2 accepted, on the port it listens on" "2|1554|21000|127.0.0.1:$LPORT" \
	"$(q "SELECT sum(ended), sum(bytes_sent), sum(bytes_received), max(destination) FROM tcp_quality WHERE process='$SRV' AND direction='inbound'")"
	check_eq "DNS queries roll up by rcode (0: NOERROR, 3: NXDOMAIN)" "0:3 3:2 unanswered:1" \
		"$(q "SELECT rcode || ':' || sum(count) FROM dns_queries WHERE process='$DN' GROUP BY rcode ORDER BY rcode" | tr '\n' ' ' | sed 's/ $//')"
check_eq "schema version 2" "2" "$(q "SELECT value FROM meta WHERE key='schema_version'")"
check_eq "journal mode is WAL" "wal" "$(q 'PRAGMA journal_mode')"
check_eq "the database file is not world-readable" "640" "$(stat -c %a "$DB")"

# ---- the same numbers from netspyctl, live and from history ----
S=$(ctl summary --process "$A" --duration 600 --json)
# netspyd started a minute ago: the window reaches back past it, so the history answers for the
# minutes before its first event and netspyd for the rest, each event counted once.
check_eq "summary over 10 minutes: 9 connections (7 connects, 2 accepted), none counted twice" 9 "$(echo "$S" | json 'd["total_connections"]')"
check_eq "summary says where it answered from" "True" "$(echo "$S" | json 'd["source"] in ("live", "live+history")')"

# ---- SIGKILL the recorder while it writes: traffic B, killed as its minute is written ----
GENB=$(unique_gen "nshB$$"); B=${GENB##*/}; B=${B:0:15}
in_cg "$GENB" tcp 127.0.0.1 1 4 >/dev/null
# The minute is written 1 s (--grace) after it ends: kill at second 01 of the next minute.
sleep $((61 - $(date +%s) % 60))
kill -KILL "$REC_PID"; wait "$REC_PID" 2>/dev/null; REC_PID=
check_eq "quick_check after the SIGKILL" "ok" "$(q 'PRAGMA quick_check')"
start_recorder || exit 1
check "after a SIGKILL the restarted recorder replays what netspyd holds (traffic B)" wait_history "$B" 4
check_eq "traffic B counted once" "4" "$(q "SELECT sum(count) FROM connections WHERE process='$B'")"
check_eq "traffic A counted once (7 connects, 2 accepted)" "9" "$(q "SELECT sum(count) FROM connections WHERE process='$A'")"

# ---- restart netspyd and the recorder: the earlier traffic is found with --since ----
stop_recorder
stop_daemon
start_daemon --cgroup "$CG" || exit 1
start_recorder || exit 1
SINCE=$(date -u -d "@$((T_A - T_A % 60))" +%Y-%m-%dT%H:%M:%SZ)
S=$(ctl summary --process "$A" --since "$SINCE" --json)
check_eq "after both restarted, summary --since finds traffic A (7 connects, 2 accepted)" 9 "$(echo "$S" | json 'd["total_connections"]')"
check_eq "  by outcome (2 accepted among the established)" "{'established': 4, 'refused': 3, 'sent': 2}" "$(echo "$S" | json 'd["by_outcome"]')"
check_eq "  source is history" "True" "$(echo "$S" | json 'd["source"] in ("history","live+history")')"
check_eq "  granularity is a minute" 60 "$(echo "$S" | json 'd["granularity_seconds"]')"
check_eq "  the covered window starts at the traffic's minute" "$SINCE" \
	"$(echo "$S" | json 'd["covered_start"].replace(".000000","")')"
check_eq "  latency count from the histogram" 2 "$(echo "$S" | json 'd["latency_ms"]["count"]')"
check_eq "  by direction from the history (2 accepted)" "{'outbound': 7, 'inbound': 2}" "$(echo "$S" | json 'd["by_direction"]')"
Q=$(ctl quality --process "$CLI" --since "$SINCE" --json)
check_eq "quality --since from history: 2 connections ended, bytes exact" "2 21000 1554" \
	"$(echo "$Q" | json '" ".join(str(d[k]) for k in ("connections_ended","bytes_sent","bytes_received"))')"
check_eq "  source and granularity" "True 60" "$(echo "$Q" | json 'str(d["source"] in ("history","live+history")) + " " + str(d["granularity_seconds"])')"
check "  the answer says what the history cannot give" grep -q "when they ended" <<<"$(echo "$Q" | json 'd["history_note"]')"
Q=$(ctl quality --process "$SRV" --direction in --since "$SINCE" --json)
check_eq "quality --direction in --since: the server's 2 accepted connections" "2 1554" \
	"$(echo "$Q" | json '" ".join(str(d[k]) for k in ("connections_ended","bytes_sent"))')"
	N=$(ctl dns --process "$DN" --since "$SINCE" --json)
	check_eq "dns --since from history: 6 queries, 2 failed, 1 unanswered" "6 2 1" \
		"$(echo "$N" | json '" ".join(str(d[k]) for k in ("total_queries","failed_queries","unanswered_queries"))')"
	check_eq "  by rcode" "{'NOERROR': 3, 'NXDOMAIN': 2}" "$(echo "$N" | json 'd["by_rcode"]')"
	check_eq "  failing names with their last failure" "nope.nx.test:2:NXDOMAIN never.silent.test:1:unanswered" \
		"$(echo "$N" | json '" ".join("%s:%d:%s" % (e["name"], e["count"], e["last_failure"]) for e in d["failing_names"])')"
	check_eq "  latency of the 5 answered from the histogram" 5 "$(echo "$N" | json 'd["latency_ms"]["count"]')"
	check_eq "  --name filters the history too" 2 "$(ctl dns --process "$DN" --name nx.test --since "$SINCE" --json | json 'd["total_queries"]')"
S=$(ctl summary --process "$A" --port 1 --since "$SINCE" --json)
check "a filter the rollups do not keep (--port) is said, not answered wrongly" \
	grep -q "cannot answer a port filter" <<<"$(echo "$S" | json 'd["history_note"]')"
LOCAL=$(date -d "@$((T_A - T_A % 60))" '+%Y-%m-%d %H:%M')
S=$(ctl analyze --process "$A" --since "$LOCAL" --json)
check_eq "analyze --since 'YYYY-MM-DD HH:MM' (local): refused destination" "127.0.0.1:1" \
	"$(echo "$S" | json 'd["refused_destinations"][0]["destination"]')"
D=$(ctl drops --process "$A" --since "$SINCE" --json)
# NO_SOCKET: the 3 refused SYNs, and the 2 datagrams to the closed port (attributed by their flow).
check_eq "drops --since from history: NO_SOCKET 5" 5 "$(echo "$D" | json 'd["by_reason"].get("NO_SOCKET")')"
check_eq "drops --since from history: the UDP ones" 2 "$(echo "$D" | json 'd["by_protocol"].get("UDP")')"
L=$(ctl list --process "$A" --since "$SINCE" --json)
check "list --since says events older than netspyd's are per-minute counts only" \
	grep -q 'per-minute counts' <<<"$(echo "$L" | json 'd["history_note"]')"
H=$(ctl summary --process "$A" --since "$SINCE")
check "summary text says it answered from the history" grep -q "history" <<<"$H"
S=$(NETSPY_HISTORY="$DB" "$NETSPYCTL" --socket "$SOCK" summary --process "$B" --since "$SINCE" --json)
check_eq "NETSPY_HISTORY selects the database: traffic B (4)" 4 "$(echo "$S" | json 'd["total_connections"]')"
check_eq "a pid filter cannot be answered from history, and says so" "True" \
	"$(ctl summary --pid 1 --since "$SINCE" --json | json '"process ids" in (d["history_note"] or "")')"
check_eq "a bad --since is a usage error" 1 "$(ctl summary --since yesterday >/dev/null 2>&1; echo $?)"
ST=$(ctl status --json)
check_ge "status shows the recorder's minutes" 2 "$(echo "$ST" | json 'd["recorder"]["minutes"]')"
check "status shows the oldest minute kept" test -n "$(echo "$ST" | json 'd["recorder"]["oldest_minute"]')"

# ---- a damaged database is moved aside, reported, replaced ----
stop_recorder
ensure_journald # the running one, or one started here (no systemd as PID 1)
head -c 16 "$DB" >"$T/junk"; head -c 65536 /dev/urandom >>"$T/junk"
cp "$T/junk" "$DB"; rm -f "$DB-wal" "$DB-shm"
START=$(date '+%Y-%m-%d %H:%M:%S')
start_recorder || exit 1
check "the recorder runs on after finding a damaged file" kill -0 "$REC_PID"
check "the damaged file is kept aside" sh -c "ls '$STATE'/history.db.corrupt-* >/dev/null"
check "the recorder said so" grep -q "moved aside" "$T/recorder.log"
check_eq "a new database replaced it" "ok" "$(q 'PRAGMA quick_check')"
if journal_up; then
	found=
	for i in $(seq 1 30); do
		journalctl -q --no-pager --since "$START" "MESSAGE_ID=$MSGID_CORRUPT" | grep -q "moved aside" && { found=1; break; }
		sleep 0.2
	done
	check "journald record with MESSAGE_ID=$MSGID_CORRUPT" test -n "$found"
else
	skip "journald is not running here"
fi
stop_recorder
