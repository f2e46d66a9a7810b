#!/usr/bin/env bash
# find_anomalies (netspyctl anomalies) against a real netspyd: traffic made before the window is
# the baseline; in the window a process talks to a new destination, another's connects start to
# fail (and its SYNs are dropped: NO_SOCKET), a server accepts on a port it never accepted on, a
# client's segments are lost (an nftables rule in a network namespace: retransmits), a process's
# lookups fail (NXDOMAIN from a DNS responder in a namespace); a process whose traffic does not
# change gives no finding. Then the baseline from the recorder's history (a database the test
# fills), and the recorder journaling each finding once (MESSAGE_ID). Uniquely named generators
# in a private cgroup; each check filters by process.
. "$(dirname "$0")/lib.sh"
require_root

ctl() { "$NETSPYCTL" --socket "$SOCK" "$@"; }
# No recorder's history unless a check names one (--history).
export NETSPY_HISTORY=$T/no-history.db
MSGID_ANOMALY=7f1ebd95b1a04b0a8ed3f17bd0f12fb4
check "MSGID_ANOMALY matches analyzer/frontends/record.h" \
	grep -q "define RECORD_MSGID_ANOMALY \"$MSGID_ANOMALY\"" analyzer/frontends/record.h
jq_() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-anom-$$.slice
mkdir -p "$CG/nsanom.service" || { fail "cannot create a test cgroup under $CGROOT"; exit 1; }
on_exit "rmdir '$CG/nsanom.service' '$CG'"
# A backlog large enough that drops elsewhere on the machine (a flood: drops are not limited to
# the cgroup) cannot push the baseline out of it.
start_daemon --cgroup "$CG" --backlog-events 1048576 || exit 1
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/nsanom.service" "$@"; }
name_of() { local n=${1##*/}; echo "${n:0:15}"; }

NEW=$(unique_gen "nsn$$"); STEADY=$(unique_gen "nss$$"); FAILS=$(unique_gen "nsf$$")
P1=$((22000 + $$ % 9000)); P2=$((P1 + 1)); P3=$((P1 + 2)); P4=$((P1 + 3)); P5=$((P1 + 4))
PEER="python3 $PWD/tests/tools/lifepeer.py"
LST=nsal$$; LCLI=nsac$$; RTX=nsar$$; RSRV=nsas$$; BADDNS=nsad$$
# in_ns SCRIPT: runs SCRIPT in the test cgroup, in a new network and mount namespace with
# loopback up (at an Ethernet MTU: segments of 1448 bytes, so that a lossy link retransmits many
# of them), /etc/resolv.conf naming a DNS responder (tests/tools/dns_responder.py) on
# 127.0.0.1:53, which runs while SCRIPT does.
echo "nameserver 127.0.0.1" >"$T/resolv.conf"
echo "options timeout:1 attempts:1" >>"$T/resolv.conf"
in_ns() {
	in_cg unshare -n -m bash -c "ip link set lo up mtu 1500
		mount --bind '$T/resolv.conf' /etc/resolv.conf
		python3 '$PWD/tests/tools/dns_responder.py' 127.0.0.1 >'$T/responder.log' 2>&1 &
		for i in \$(seq 1 50); do grep -q ready '$T/responder.log' && break; sleep 0.1; done
		$1
		kill %1"
}
# listening PORT: waits until something listens on PORT.
listening() { echo "for i in \$(seq 100); do ss -Hltn sport = :$1 | grep -q . && break; sleep 0.05; done"; }
# serve NAME PORT N: a server accepting N connections on 127.0.0.1:PORT, and a client making them.
serve() {
	echo "$PEER $1 server $2 $3 10 >/dev/null & $(listening "$2"); $PEER $LCLI client $2 $(seq -s ' ' 100 100 $((100 * $3))); wait \$!"
}
# lookups NAME HOST N: a process named NAME resolves HOST N times (glibc's getaddrinfo; HOST ends
# in a dot: no search domain is tried).
cat >"$T/lookup.py" <<'PY'
import socket, sys
open("/proc/thread-self/comm", "w").write(sys.argv[1])
for _ in range(int(sys.argv[3])):
    try:
        socket.getaddrinfo(sys.argv[2], 9, socket.AF_INET, socket.SOCK_DGRAM)
    except socket.gaierror:
        pass
PY
lookups() { echo "python3 '$T/lookup.py' $1 $2 $3"; }
# ---- baseline ----
in_cg "$NEW" tcp 127.0.0.1 "$P1" 6 >/dev/null
in_cg "$STEADY" tcp 127.0.0.1 "$P2" 3 >/dev/null
in_cg "$FAILS" tcp-local 127.0.0.1 4 >/dev/null
in_ns "$(serve "$LST" "$P4" 2)
	$PEER $RSRV server $P5 1 10 >/dev/null & $(listening $P5); $PEER $RTX client $P5 200000 >/dev/null; wait \$!
	$(lookups "$BADDNS" a.test. 3)"
sleep 5
# ---- the window: from W0 on (each check's --duration reaches back to it, however long the
# traffic below took on a loaded machine) ----
W0=$(date +%s)
since_w0() { echo $(($(date +%s) - W0 + 2)); }
in_cg "$NEW" tcp 127.0.0.1 "$P1" 1 >/dev/null
in_cg "$NEW" tcp 127.0.0.1 "$P3" 4 >/dev/null   # a destination it never used
in_cg "$STEADY" tcp 127.0.0.1 "$P2" 3 >/dev/null # the same as before
in_cg "$FAILS" tcp 127.0.0.1 "$P1" 5 >/dev/null  # its connects now fail: refused, and the
						  # SYNs to the closed port are NO_SOCKET drops
# The server accepts on its old port and on a new one; the client's data segments to the other
# server lose every tenth of their packets (every tenth, not a random tenth: a transfer of a few
# dozen GSO packets could lose none), the lookups fail.
in_ns "$(serve "$LST" "$P4" 1); $(serve "$LST" "$P3" 2)
	nft -f - <<'NFT' || echo nft-failed >'$T/nft.out'
table inet nsanom {
	chain in {
		type filter hook input priority 0;
		tcp dport $P5 tcp flags & (syn | fin | rst) == 0 meta length > 200 numgen inc mod 10 == 0 drop
	}
}
NFT
	$PEER $RSRV server $P5 2 10 >/dev/null & $(listening $P5); $PEER $RTX client $P5 1000000 1000000 >/dev/null; wait \$!
	$(lookups "$BADDNS" x1.nx.test. 2); $(lookups "$BADDNS" x2.nx.test. 2); $(lookups "$BADDNS" a.test. 1)"
sleep 0.5

anom() { ctl anomalies --duration "$(since_w0)" --process "$(name_of "$1")" --json; }
anom "$NEW" >"$T/new.json"
check_eq "new destination: one finding, kind new_destination" "['new_destination']" \
	"$(jq_ '[f["kind"] for f in d["findings"]]' <"$T/new.json")"
check_eq "new destination: the destination and its evidence" \
	"127.0.0.1:$P3 4 6 1" \
	"$(jq_ '"%s %d %d %d" % (d["findings"][0]["destination"], *[d["findings"][0]["evidence"][k] for k in ("recent_connections", "process_baseline_connections", "process_baseline_destinations")])' <"$T/new.json")"
out=$(ctl anomalies --duration "$(since_w0)" --process "$(name_of "$NEW")")
check "human output: the finding and where the baseline came from" \
	bash -c 'grep -q "\[new_destination\].*127.0.0.1:$1" <<<"$2" && grep -q "from netspyd.s events" <<<"$2"' _ "$P3" "$out"
anom "$STEADY" >"$T/steady.json"
check_eq "steady traffic: no finding" 0 "$(jq_ 'len(d["findings"])' <"$T/steady.json")"
anom "$FAILS" >"$T/fails.json"
check "failure spike: found, with the rates as evidence" jq_ \
	'1/0 if not [f for f in d["findings"] if f["kind"] == "failure_spike" and f["evidence"]["recent_failed"] == 5 and f["evidence"]["recent_failure_rate"] == 1 and f["evidence"]["baseline_failure_rate"] == 0 and f["evidence"]["baseline_connections"] == 4] else 0' <"$T/fails.json"
check "drop spike: NO_SOCKET, 5 in the window and none before" jq_ \
	'1/0 if not [f for f in d["findings"] if f["kind"] == "drop_spike" and f["reason"] == "NO_SOCKET" and f["evidence"]["recent_drops"] == 5 and f["evidence"]["baseline_drops"] == 0] else 0' <"$T/fails.json"
check_eq "every kind is checked, against netspyd's earlier events (no history here)" \
	"new_destination failure_spike drop_spike new_listening_port retransmit_spike dns_failure_burst: live" \
	"$(jq_ '" ".join(k["kind"] for k in d["kinds"] if k["available"]) + ": " + " ".join(sorted(set(k["baseline"] for k in d["kinds"])))' <"$T/new.json")"
check_eq "source and windows" "live live True" "$(jq_ 'd["source"] + " " + d["baseline"]["source"] + " " + str(d["recent"]["seconds"] == d["duration"] and d["baseline"]["seconds"] >= 5)' <"$T/new.json")"

# ---- the kinds of the lifecycle and DNS events ----
anom_n() { ctl anomalies --duration "$(since_w0)" --process "$1" --json; }
anom_n "$LST" >"$T/lst.json"
check_eq "new listening port: one finding, the new port (not the one it accepted on before)" \
	"new_listening_port $P3 2 2 1" \
	"$(jq_ '" ".join(str(x) for x in [(f["kind"], f["port"], f["evidence"]["recent_connections"], f["evidence"]["process_baseline_connections"], f["evidence"]["process_baseline_ports"]) for f in d["findings"]][0]) if len(d["findings"]) == 1 else [f["kind"] for f in d["findings"]]' <"$T/lst.json" | tr -d "(),'")"
check "new listening port: the unit of the listening process" jq_ \
	'1/0 if d["findings"][0]["unit"] != "nsanom.service" else 0' <"$T/lst.json"
anom_n "$LCLI" >"$T/lcli.json"
check_eq "the client connecting to those ports: its new destination, no listening port" \
	"new_destination" "$(jq_ '" ".join(sorted(set(f["kind"] for f in d["findings"])))' <"$T/lcli.json")"
if [ -e "$T/nft.out" ]; then
	skip "retransmit spike: nftables cannot filter in a network namespace here"
else
	anom_n "$RTX" >"$T/rtx.json"
	check "retransmit spike: found for the client, to the lossy server, none before" jq_ \
		'1/0 if not [f for f in d["findings"] if f["kind"] == "retransmit_spike" and f["destination"] == "127.0.0.1:'"$P5"'" and f["evidence"]["recent_retransmits"] >= 10 and f["evidence"]["baseline_retransmits"] == 0] else 0' <"$T/rtx.json"
fi
anom_n "$BADDNS" >"$T/dns.json"
check "dns failure burst: 4 failed of 5 lookups, NXDOMAIN, a name that failed, none failed before" jq_ \
	'1/0 if not [f for f in d["findings"] if f["kind"] == "dns_failure_burst" and f["evidence"]["recent_failed"] == 4 and f["evidence"]["recent_lookups"] == 5 and f["rcode"] == "NXDOMAIN" and f["name"] in ("x1.nx.test", "x2.nx.test") and f["evidence"]["name_failed"] == 2 and f["evidence"]["baseline_failed"] == 0 and f["evidence"]["baseline_lookups"] == 3] else 0' <"$T/dns.json"
ctl anomalies --duration "$(since_w0)" --process "$BADDNS" >"$T/dns.txt"
check "dns failure burst: one human line" grep -q "\[dns_failure_burst\] $BADDNS: 4 of 5 DNS lookups failed" "$T/dns.txt"
for p in "$(name_of "$STEADY")" "$RSRV"; do
	check_eq "steady traffic ($p): no finding of any kind" 0 "$(anom_n "$p" | jq_ 'len(d["findings"])')"
done

# ---- the baseline from the recorder's history -------------------------------------------------
# A history that reaches further back than netspyd's events: process HIS connected to
# 127.0.0.1:$PH1 twenty minutes ago. Its connects in the window to that destination are known;
# the ones to $PH2 are new. The database is the recorder's (its schema), the rows the test's.
command -v sqlite3 >/dev/null || { fail "sqlite3 is not installed (packaging/install-deps.sh)"; exit 1; }
HIS=$(unique_gen "nsh$$"); HIS_NAME=$(name_of "$HIS"); PH1=$((P1 + 5)); PH2=$((P1 + 6))
"$NETSPYCTL" --socket "$SOCK" record --api-socket none --state-dir "$T/hist" --metrics-listen none \
	--anomaly-interval 0 >"$T/hist-recorder.log" 2>&1 &
hrec=$!
for _ in $(seq 50); do [ -s "$T/hist/history.db" ] && break; sleep 0.1; done
kill -TERM "$hrec"; wait "$hrec" 2>/dev/null
t0=$(( ($(date +%s) - 1200) / 60 * 60 ))
sqlite3 "$T/hist/history.db" "
	INSERT OR IGNORE INTO names(name) VALUES('$HIS_NAME'),('127.0.0.1:$PH1');
	INSERT OR REPLACE INTO minutes VALUES($t0, 5, 0, 0, $((t0 + 75)));
	INSERT INTO conn_minute SELECT $t0, p.id, NULL, d.id, 6, 2, 0, 5, 5 FROM names p, names d
		WHERE p.name='$HIS_NAME' AND d.name='127.0.0.1:$PH1';" ||
	fail "could not fill the test history"
in_cg "$HIS" tcp 127.0.0.1 "$PH1" 2 >/dev/null # refused, as in the history; four NO_SOCKET
in_cg "$HIS" tcp 127.0.0.1 "$PH2" 2 >/dev/null # drops in all: fewer than a drop spike needs
ctl --history "$T/hist/history.db" anomalies --duration 10 --process "$HIS_NAME" --json >"$T/his.json"
check_eq "history baseline: the one new destination, against the history's 5 connects" \
	"new_destination 127.0.0.1:$PH2 2 5 1" \
	"$(jq_ '" ".join(str(x) for x in [(f["kind"], f["destination"], f["evidence"]["recent_connections"], f["evidence"]["process_baseline_connections"], f["evidence"]["process_baseline_destinations"]) for f in d["findings"]][0]) if len(d["findings"]) == 1 else [f["kind"] for f in d["findings"]]' <"$T/his.json" | tr -d "(),'")"
check_eq "history baseline: the answer says so, for every kind (retransmits and DNS lookups from the schema 2 tables)" \
	"history live+history True history history history" \
	"$(jq_ '" ".join(str(x) for x in (d["baseline"]["source"], d["source"], d["baseline"]["seconds"] >= 1140 and d["baseline"]["note"] is None, *[k["baseline"] for k in d["kinds"] if k["kind"] in ("new_destination", "retransmit_spike", "dns_failure_burst")]))' <"$T/his.json")"
cp "$T/hist/history.db" "$T/old.db"
sqlite3 "$T/old.db" "DROP VIEW IF EXISTS dns_queries; DROP TABLE dns_minute; DROP TABLE dns_hour;"
ctl --history "$T/old.db" anomalies --duration 10 --process "$HIS_NAME" --json >"$T/his-old.json"
check_eq "a history without the DNS table: that kind compares with netspyd's events, and says so" \
	"history live True 1" \
	"$(jq_ '" ".join(str(x) for x in (d["baseline"]["source"], [k["baseline"] for k in d["kinds"] if k["kind"] == "dns_failure_burst"][0], "dns_failure_burst" in (d["baseline"]["note"] or ""), len(d["findings"])))' <"$T/his-old.json")"
ctl anomalies --duration 10 --process "$HIS_NAME" --json >"$T/his-live.json"
check_eq "without the history: no baseline for that process, no finding" 0 \
	"$(jq_ 'len(d["findings"])' <"$T/his-live.json")"

# ---- the recorder journals each finding once ----------------------------------------------------
if ensure_journald; then
	REC=$(unique_gen "nsj$$"); REC_NAME=$(name_of "$REC"); PJ1=$((P1 + 7)); PJ2=$((P1 + 8))
	in_cg "$REC" tcp 127.0.0.1 "$PJ1" 3 >/dev/null
	"$NETSPYCTL" --socket "$SOCK" record --api-socket none --state-dir "$T/rec" --metrics-listen none --grace 1 \
		--anomaly-interval 1 --anomaly-window 8 >"$T/recorder.log" 2>&1 &
	rec=$!
	on_exit "kill $rec 2>/dev/null"
	sleep 9 # the baseline's connects leave the window
	in_cg "$REC" tcp 127.0.0.1 "$PJ2" 2 >/dev/null
	found=
	for _ in $(seq 100); do
		journalctl -q --no-pager -o export "_PID=$rec" "MESSAGE_ID=$MSGID_ANOMALY" \
			"NETSPY_PROCESS=$REC_NAME" 2>/dev/null | grep -a '^[A-Z_]*=' >"$T/rec.export"
		[ -s "$T/rec.export" ] && { found=1; break; }
		sleep 0.1
	done
	check "recorder: a journald record for the new destination (MESSAGE_ID=$MSGID_ANOMALY)" test -n "$found"
	field() { sed -n "s/^$1=//p" "$T/rec.export" | head -1; }
	check_eq "recorder: its fields: kind, process, unit, destination, numbers, priority" \
		"new_destination $REC_NAME nsanom.service 127.0.0.1:$PJ2 2 3 8 4" \
		"$(field NETSPY_ANOMALY_KIND) $(field NETSPY_PROCESS) $(field NETSPY_UNIT) $(field NETSPY_DESTINATION) $(field NETSPY_RECENT_CONNECTIONS) $(field NETSPY_PROCESS_BASELINE_CONNECTIONS) $(field NETSPY_WINDOW_SECONDS) $(field PRIORITY)"
	sleep 5 # five more runs while the finding stays in the window
	check_eq "recorder: one record per finding while it lasts (runs every second)" 1 \
		"$(journalctl -q --no-pager -o export "_PID=$rec" "MESSAGE_ID=$MSGID_ANOMALY" \
			"NETSPY_PROCESS=$REC_NAME" 2>/dev/null | grep -ac '^NETSPY_ANOMALY_KIND=')"
	kill -TERM "$rec"; wait "$rec" 2>/dev/null
else
	skip "recorder journal records: no journald here"
fi
check_eq "--baseline is validated" 1 "$(ctl anomalies --baseline 0 >/dev/null 2>&1; echo $?)"
