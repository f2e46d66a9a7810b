#!/usr/bin/env bash
# The offline analyst understands the question (netspyctl --offline ask against a real netspyd):
# a process named in it scopes the report and its pids are grouped; a unit, a host and a port
# named in it scope the report too; a window longer than the data held is said to be so; what
# changed (find_anomalies: a new listening port) is among the unusual activity it reports.
# Known traffic from uniquely named generators in a private cgroup; every check reads the
# report's first lines or its findings.
. "$(dirname "$0")/lib.sh"
require_root

ctl() { "$NETSPYCTL" --socket "$SOCK" "$@"; }
answer() { python3 -c 'import json,sys; print(json.load(sys.stdin)["answer"])'; }
findings() { python3 -c 'import json,sys; d=json.load(sys.stdin)["findings"]; print(eval(sys.argv[1]))' "$1"; }

CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-analyst-$$.slice
mkdir -p "$CG/nsana.service" || { fail "cannot create a test cgroup under $CGROOT"; exit 1; }
on_exit "rmdir '$CG/nsana.service' '$CG'"
# A backlog large enough that drops elsewhere on the machine (a flood: drops are not limited to
# the cgroup) cannot push the baseline out of it.
start_daemon --cgroup "$CG" --backlog-events 1048576 || exit 1
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/nsana.service" "$@"; }

A=$(unique_gen "nsa$$"); A_NAME=${A##*/}; A_NAME=${A_NAME:0:15}
B=$(unique_gen "nsb$$"); B_NAME=${B##*/}; B_NAME=${B_NAME:0:15}
P1=$((21000 + $$ % 9000)); P2=$((P1 + 1))
in_cg "$A" tcp 127.0.0.1 "$P1" 2 >/dev/null # two processes of the same name: 4 refused
in_cg "$A" tcp 127.0.0.1 "$P1" 2 >/dev/null
in_cg "$A" tcp 127.0.0.1 "$P2" 3 >/dev/null # 3 refused to another port
in_cg "$B" tcp-local 127.0.0.1 5 >/dev/null # 5 established
for _ in $(seq 1 50); do
	n=$(ctl summary --unit nsana.service --json 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["total_connections"])')
	[ "${n:-0}" -ge 12 ] && break
	sleep 0.1
done

# ---- a process named in the question -----------------------------------------------------------
ctl --offline ask "what is $A_NAME doing?" --duration 300 --json >"$T/a.json"
head=$(answer <"$T/a.json" | head -12)
printf '%s\n' "$head" | sed 's/^/# /'
check "the question's process scopes the report" grep -q "Scope: process $A_NAME" <<<"$head"
check_eq "only its connections are counted" 7 "$(findings 'd["total_connections"]' <"$T/a.json")"
check "the other process is not in the report" bash -c '! grep -q "$1" <<<"$2"' _ "$B_NAME" \
	"$(answer <"$T/a.json")"
check "its pids are grouped: one diagnosis line names both pids" \
	bash -c 'grep -Eq "^- $1 \(pids [0-9]+, [0-9]+\): nothing accepts connections at 127.0.0.1:$2" <<<"$3"' \
	_ "$A_NAME" "$P1" "$head"
check "its pids are grouped among the top talkers too" \
	bash -c 'grep -Eq "^  $1 \(pids [0-9]+, [0-9]+, [0-9]+\): 7 connection attempts" <<<"$2"' \
	_ "$A_NAME" "$(answer <"$T/a.json")"

# ---- a unit, a host and port, a window ----------------------------------------------------------
ctl --offline ask "is nsana.service healthy?" --duration 300 --json >"$T/u.json"
check "a unit named in the question scopes the report" \
	grep -q "Scope: unit nsana.service" <<<"$(answer <"$T/u.json")"
check_eq "the unit's connections are counted (both processes; B's accepted ones too)" 17 \
	"$(findings 'd["total_connections"]' <"$T/u.json")"
ctl --offline ask "why is 127.0.0.1:$P2 refusing $A_NAME?" --duration 300 --json >"$T/p.json"
check "a host and port named in the question scope the report" \
	grep -q "Scope: process $A_NAME (all its pids), host 127.0.0.1, port $P2" <<<"$(answer <"$T/p.json")"
check_eq "only the connections to that port are counted" "3 3" \
	"$(findings 'd["total_connections"], d["failed_connections"]' <"$T/p.json" | tr -d '(),')"
ctl --offline ask "anything on port $P1 for nsana.service?" --duration 300 --json >"$T/p1.json"
check_eq "\"port N\" scopes the report too" 4 "$(findings 'd["total_connections"]' <"$T/p1.json")"
ctl --offline ask "what did $A_NAME do in the last 2 hours?" --json >"$T/w.json"
w=$(answer <"$T/w.json")
check "the window comes from the question" grep -q "last 7200 seconds (as the question asks)" <<<"$w"
check "a window longer than the data held is said to be so" \
	grep -q "Note: the question covers the last 2 hours, but netspy holds events only from the last" <<<"$w"
ctl --offline ask "what did $A_NAME do?" --duration 1 --json >"$T/n.json"
check "no such note when the data covers the window" bash -c '! grep -q "holds events only" <<<"$1"' \
	_ "$(answer <"$T/n.json")"

# ---- what changed: the anomalies the report opens with ------------------------------------------
# B accepted connections on one port at the start; now, past the anomaly window (a quarter of the
# question's 40 s, at least 10 s), it accepts on a new one (tcp-local: a port the kernel picks).
sleep 12
in_cg "$B" tcp-local 127.0.0.1 2 >"$T/b2.out"
NEWPORT=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$T/b2.out")
ctl --offline ask "what is $B_NAME doing?" --duration 40 --json >"$T/b.json"
answer <"$T/b.json" | sed -n '/^Unusual activity/,/^$/p' | sed 's/^/# /'
check "the report names the new listening port among the unusual activity" \
	grep -q "^- $B_NAME accepts connections on port $NEWPORT, where it accepted none in the baseline" \
	<<<"$(answer <"$T/b.json")"
check_eq "the findings carry it with its evidence" "True" \
	"$(findings 'any(f["kind"] == "new_listening_port" and f["port"] == '"${NEWPORT:-0}"' and f["evidence"]["recent_connections"] == 2 and f["evidence"]["process_baseline_connections"] == 5 for f in d["anomalies"])' <"$T/b.json")"
