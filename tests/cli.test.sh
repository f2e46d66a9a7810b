# netspyctl against a real netspyd: every subcommand's human and --json output with exact counts
# from known traffic, the --tool form, the --unit filter, sanitized process names, usage errors,
# exit codes 2 (no daemon) and 3 (not in group netspy), and --help.
# The daemon's connect hooks are attached to a private cgroup that only our generators join, and
# every assertion filters by the generators' unique names: other netspyd instances and other
# traffic on this machine cannot change the counts.
. "$(dirname "$0")/lib.sh"
require_root

json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
ctl() { "$NETSPYCTL" --socket "$SOCK" "$@"; }

CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-cli-$$.slice
mkdir -p "$CG/clitest.service" || { fail "cannot create a test cgroup under $CGROOT"; exit 1; }
on_exit "rmdir '$CG/clitest.service' '$CG'"
start_daemon --cgroup "$CG" || exit 1

GEN=$(unique_gen "nscli$$")
NAME=${GEN##*/}
NAME=${NAME:0:15}
UPORT=$((20000 + $$ % 20000))
# Runs a command inside the test cgroup (the daemon only sees connects made there).
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/clitest.service" "$@"; }

in_cg "$GEN" tcp 127.0.0.1 1 3 >/dev/null        # 3 refused
in_cg "$GEN" tcp-local 127.0.0.1 2 >/dev/null     # 2 established
in_cg "$GEN" udp 127.0.0.1 "$UPORT" 2 send >/dev/null # 2 UDP sends, 2 NO_SOCKET drops
for i in $(seq 1 50); do
	n=$(ctl summary --process "$NAME" --json 2>/dev/null | json 'd["total_connections"]')
	[ "${n:-0}" -ge 7 ] && break
	sleep 0.1
done

# ---- summary ----
S=$(ctl summary --direction out --process "$NAME" --json)
check_eq "summary --json total_connections" 7 "$(echo "$S" | json 'd["total_connections"]')"
check_eq "summary --json failed_connections" 3 "$(echo "$S" | json 'd["failed_connections"]')"
check_eq "summary --json by_protocol" "{'TCP': 5, 'UDP': 2}" "$(echo "$S" | json 'd["by_protocol"]')"
check_eq "summary --json by_outcome" "{'established': 2, 'refused': 3, 'sent': 2}" \
	"$(echo "$S" | json 'd["by_outcome"]')"
check_eq "summary --json duration" 60 "$(echo "$S" | json 'd["duration"]')"
check_eq "summary --json latency count" 2 "$(echo "$S" | json 'd["latency_ms"]["count"]')"
check_eq "summary --json events_lost" 0 "$(echo "$S" | json 'd["events_lost"]')"
H=$(ctl summary --direction out --process "$NAME")
check "summary human headline" grep -q "^Process '$NAME' made 7 outbound connection attempts over the last 60 seconds (3 failed" <<<"$H"
check "summary human protocols" grep -q "by protocol: TCP 5, UDP 2" <<<"$H"

# ---- list ----
L=$(ctl list --direction out --process "$NAME" --json)
check_eq "list --json events" 7 "$(echo "$L" | json 'len(d["events"])')"
check_eq "list --json outcomes" "['established', 'established', 'refused', 'refused', 'refused', 'sent', 'sent']" \
	"$(echo "$L" | json 'sorted(e["outcome"] for e in d["events"])')"
check_eq "list --json fields" "True" "$(echo "$L" | json 'all(set(["timestamp","pid","process","protocol","family","destination_ip","destination_port","outcome"]) <= set(e) for e in d["events"])')"
check_eq "list --json refused go to 127.0.0.1:1 over TCP/IPv4" "3" \
	"$(echo "$L" | json 'sum(1 for e in d["events"] if e["outcome"]=="refused" and e["destination_ip"]=="127.0.0.1" and e["destination_port"]==1 and e["protocol"]=="TCP" and e["family"]=="IPv4")')"
check_eq "list --json UDP sends to the test port" "2" \
	"$(echo "$L" | json "sum(1 for e in d['events'] if e['protocol']=='UDP' and e['destination_port']==$UPORT and e['outcome']=='sent')")"
check_eq "list --json latency_ms on established connects" "True" \
	"$(echo "$L" | json 'all(e.get("latency_ms",0) > 0 for e in d["events"] if e["outcome"]=="established")')"
check_eq "list --json timestamps are RFC 3339 UTC" "True" \
	"$(echo "$L" | json '__import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", d["events"][0]["timestamp"]) is not None')"
check_eq "list --json unit from the cgroup" "clitest.service" "$(echo "$L" | json 'd["events"][0]["unit"]')"
check_eq "list --max-events 2" 2 "$(ctl list --direction out --process "$NAME" --max-events 2 --json | json 'len(d["events"])')"
H=$(ctl list --direction out --process "$NAME")
check_eq "list human: 3 refused lines like the original's" 3 \
	"$(grep -cE "^  [0-9]{2}:[0-9]{2}:[0-9]{2} \| 127\.0\.0\.1:1 +\| TCP \| $NAME +\| refused" <<<"$H")"
check "list human: header" grep -q "^Recent connection events (7 total" <<<"$H"

# ---- filters ----
PID=$(echo "$L" | json '[e["pid"] for e in d["events"] if e["outcome"]=="refused"][0]')
check_eq "summary --pid" 3 "$(ctl summary --direction out --pid "$PID" --json | json 'd["total_connections"]')"
check_eq "summary --unit clitest.service" 7 \
	"$(ctl summary --direction out --process "$NAME" --unit clitest.service --json | json 'd["total_connections"]')"
check_eq "summary --unit clitest (no suffix)" 7 \
	"$(ctl summary --direction out --process "$NAME" --unit clitest --json | json 'd["total_connections"]')"
check_eq "summary --unit other.service" 0 \
	"$(ctl summary --direction out --process "$NAME" --unit other.service --json | json 'd["total_connections"]')"
check_eq "summary --duration 1 after the traffic is old" 0 \
	"$(sleep 1.2; ctl summary --direction out --process "$NAME" --duration 1 --json | json 'd["total_connections"]')"

# ---- drops (drops are machine-wide: count those to our unique port) ----
LD=$(ctl list-drops --max-events 10000 --json)
check_eq "list-drops --json NO_SOCKET drops to the test port" 2 \
	"$(echo "$LD" | json "sum(1 for x in d['drops'] if x['reason']=='NO_SOCKET' and x['destination_port']==$UPORT and x['protocol']=='UDP')")"
check_eq "list-drops --json fields" "True" "$(echo "$LD" | json 'all(set(["timestamp","reason","protocol","source_ip","source_port","destination_ip","destination_port","pid","process"]) <= set(x) for x in d["drops"])')"
D=$(ctl drops --json)
check_ge "drops --json by_reason NO_SOCKET" 2 "$(echo "$D" | json 'd["by_reason"].get("NO_SOCKET", 0)')"
check_ge "drops --json total_drops" 2 "$(echo "$D" | json 'd["total_drops"]')"
check "drops human" grep -q "NO_SOCKET" <<<"$(ctl drops)"
check "list-drops human" grep -qE "NO_SOCKET +\| UDP +\| 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$UPORT" <<<"$(ctl list-drops --max-events 10000)"
# The UDP drops have no owner socket and belong to no unit. Drops on the connections tcp-local
# accepted (a server in the unit: its sockets purged on close) are attributed to it: the unit
# holds exactly the drops attributed to our generator, and none of the unattributed ones.
OURS=$(echo "$LD" | json "sum(1 for x in d['drops'] if x['process']=='$NAME')")
check_eq "drops --unit: exactly the drops attributed to the unit's process ($OURS)" "$OURS" \
	"$(ctl drops --unit clitest.service --json | json 'd["total_drops"]')"
check_eq "list-drops --unit: the same drops, none unattributed" "$OURS 0" \
	"$(ctl list-drops --unit clitest.service --max-events 10000 --json | json "f\"{len(d['drops'])} {sum(1 for x in d['drops'] if x['process'] != '$NAME')}\"")"

# ---- analyze ----
A=$(ctl analyze --direction out --process "$NAME" --json)
check_eq "analyze --json top destination" "127.0.0.1:1 3" \
	"$(echo "$A" | json '" ".join(str(x) for x in (d["top_destinations"][0]["destination"], d["top_destinations"][0]["count"]))')"
check_eq "analyze --json protocols" "{'TCP': 5, 'UDP': 2}" "$(echo "$A" | json 'd["protocols"]')"
check_eq "analyze --json failure_rate" "0.4286" "$(echo "$A" | json 'd["failure_rate"]')"
check_eq "analyze --json refused destinations" "127.0.0.1:1" "$(echo "$A" | json 'd["refused_destinations"][0]["destination"]')"
check "analyze human" grep -qE "^    127\.0\.0\.1:1 +\| 3 connections" <<<"$(ctl analyze --direction out --process "$NAME" --duration 600)"

# ---- the original's --tool form (from here on the traffic can be more than the default 60 s old
# on a loaded machine: the windows reach back 600 s) ----
check_eq "--tool get_network_summary" 7 \
	"$(ctl --tool get_network_summary --direction out --process "$NAME" --duration 600 --json | json 'd["total_connections"]')"
check_eq "--tool list_connections --max-events 3" 3 \
	"$(ctl --tool list_connections --direction out --process "$NAME" --max-events 3 --duration 600 --json | json 'len(d["events"])')"
check "--tool analyze_patterns (human)" grep -q "127.0.0.1:1" <<<"$(ctl --tool analyze_patterns --direction out --process "$NAME" --duration 600)"
check_eq "--tool with an unknown tool: usage error" 1 "$(ctl --tool nosuch >/dev/null 2>&1; echo $?)"

# ---- sanitized process names ----
EVIL=$(unique_gen "$(printf 'nse\033[1m%s' $$)")
EVILNAME=${EVIL##*/}
EVILNAME=${EVILNAME:0:15}
in_cg "$EVIL" udp 127.0.0.1 9 1 >/dev/null
sleep 0.3
H=$(ctl list --process "$EVILNAME")
check "human output carries no escape character" bash -c '! grep -q $'"'"'\033'"'"' <<<"$1" && grep -q "nse\\\\x1B\[1m" <<<"$1"' _ "$H"
check_eq "JSON process name is escaped" "nse\\x1B[1m" \
	"$(ctl list --process "$EVILNAME" --json | json 'd["events"][0]["process"][:10]')"

# ---- a name longer than the kernel keeps: --process matches its first 15 bytes ----
LONG=$(unique_gen "nslong$$-abcdefghijklmnop")
in_cg "$LONG" udp 127.0.0.1 9 1 >/dev/null
sleep 0.3
check_eq "--process with the full long name" 1 \
	"$(ctl summary --process "${LONG##*/}" --json | json 'd["total_connections"]')"

# ---- status and watch still work ----
check "status --json" bash -c '"$@" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d[\"events_total\"] >= 7"' _ "$NETSPYCTL" --socket "$SOCK" status --json
check_ge "watch --replay --json sees our events" 7 \
	"$(ctl --json watch --replay 600 --process "$NAME" --timeout 1 | wc -l)"

# ---- usage errors ----
out=$(ctl summary --pid abc 2>&1); rc=$?
check_eq "bad --pid: exit 1" 1 "$rc"
check "bad --pid: says why" grep -q -- "--pid needs a whole number, not 'abc'" <<<"$out"
out=$(ctl summary --duration 0 2>&1); rc=$?
check_eq "--duration 0: exit 1" 1 "$rc"
check "--duration 0: says the bound" grep -q "'duration' must be at least 1" <<<"$out"
out=$(ctl list --bogus 1 2>&1); rc=$?
check_eq "unknown option: exit 1" 1 "$rc"
check "unknown option: lists the options" grep -q "its options: --pid, --process" <<<"$out"
check_eq "unknown command: exit 1" 1 "$(ctl frobnicate >/dev/null 2>&1; echo $?)"
check_eq "insights without TEXT: exit 1" 1 "$(ctl insights >/dev/null 2>&1; echo $?)"
check_eq "no command, not on a terminal: usage, exit 1" 1 "$(ctl </dev/null >/dev/null 2>&1; echo $?)"

# ---- help ----
out=$("$NETSPYCTL" --help); rc=$?
check_eq "--help exit 0" 0 "$rc"
check "--help lists every command and examples" bash -c 'for c in summary list drops list-drops analyze insights ask status watch shell mcp Examples; do grep -q "$c" <<<"$1" || exit 1; done' _ "$out"
check "list --help from the descriptor" grep -q -- "--max-events N" <<<"$("$NETSPYCTL" list --help)"
check "--version" grep -q "^netspyctl [0-9]" <<<"$("$NETSPYCTL" --version)"

# ---- exit codes 2 and 3 ----
out=$("$NETSPYCTL" --socket "$T/none.sock" summary 2>&1); rc=$?
check_eq "no daemon: exit 2" 2 "$rc"
check "no daemon: names the socket and how to start netspyd" grep -q "$T/none.sock.*start" <<<"$out"
cp "$NETSPYCTL" "$T/netspyctl" && chmod 755 "$T/netspyctl"
check_eq "socket is root:netspy 0660" "660 root netspy" "$(stat -c '%a %U %G' "$SOCK")"
out=$(setpriv --reuid nobody --regid nogroup --clear-groups "$T/netspyctl" --socket "$SOCK" summary 2>&1); rc=$?
check_eq "not in group netspy: exit 3" 3 "$rc"
check "not in group netspy: says to join the group" grep -q "group netspy" <<<"$out"

# After the checks above, so that they run as soon after the traffic as before (their window is
# the default 60 s). The generator's own listener accepted its 2 established connects: inbound, by default listed
# with the outbound ones.
check_eq "summary --direction in: the 2 accepted connections" 2 \
	"$(ctl summary --direction in --process "$NAME" --duration 3600 --json | json 'd["by_direction"]["inbound"]')"
check_eq "summary without --direction: 7 outbound attempts and 2 inbound" "9 7 2" \
	"$(ctl summary --process "$NAME" --duration 3600 --json | json '"%d %d %d" % (d["total_connections"], d["by_direction"]["outbound"], d["by_direction"]["inbound"])')"

# ---- a live analyzer (as the shell and MCP server hold one) across a daemon restart ----
PGEN=$(unique_gen "nslive$$")
PNAME=${PGEN##*/}
PNAME=${PNAME:0:15}
"$NETSPY_TESTS_BIN/analyzer_probe" "$SOCK" "$PNAME" 6 >"$T/probe.out" 2>&1 &
PROBE=$!
on_exit "kill $PROBE"
for i in $(seq 1 50); do grep -q ready "$T/probe.out" && break; sleep 0.1; done
in_cg "$PGEN" udp 127.0.0.1 9 3 >/dev/null
sleep 0.5
stop_daemon
start_daemon --cgroup "$CG" || exit 1
sleep 0.5
in_cg "$PGEN" udp 127.0.0.1 9 2 >/dev/null
wait "$PROBE"
check "live analyzer says the daemon restarted" grep -q "notice: netspyd at $SOCK restarted: reconnected" "$T/probe.out"
check "live analyzer kept the old events and got the new ones" grep -q "^connects=5 reconnects=1" "$T/probe.out"
