#!/usr/bin/env bash
# The diagnosis suite: faults injected on loopback and in network namespaces the test makes — a
# service port that refuses, a firewall that drops (NETFILTER_DROP), a process that starts talking
# to a destination it never used — and for each, `netspyctl ask` names the cause, the process and
# the evidence in the first lines of its answer: offline (the analyst's rules), and through the
# model loop with a scripted model (tests/tools/fake_openai.py) whose answer is built from the
# tool results the loop gave it. Then, offline: a name the application needs returns NXDOMAIN and
# a resolver answers slowly (a DNS responder of the test's, tests/tools/dns_responder.py, in a
# namespace), and a link loses packets (an nftables rule dropping a share of the data segments).
. "$(dirname "$0")/lib.sh"
require_root
SECRET=sk-test-$RANDOM$RANDOM
. "$(dirname "$0")/ai_lib.sh"

ctl() { "$NETSPYCTL" --socket "$SOCK" "$@"; }
in_netns() { in_cg unshare -n bash -c "ip link set lo up && $1"; }
# first_lines FILE N: the first N lines of the answer of a --json ask.
first_lines() { python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["answer"].splitlines()[:int(sys.argv[2])]))' "$1" "$2"; }
# has FILE N WORD...: every WORD is in the first N lines of the answer.
has() {
	local f=$1 n=$2 text w; shift 2
	text=$(first_lines "$f" "$n")
	for w in "$@"; do grep -qF -- "$w" <<<"$text" || return 1; done
}
# model_ask NAME SCENARIO ARGS...: ask through the model loop with a scripted model.
model_ask() {
	local name=$1 scen=$2; shift 2
	fake_start "$name" "$scen"
	OPENAI_API_KEY=$SECRET "$NETSPYCTL" --socket "$SOCK" --base-url "$URL" "$@" --json \
		>"$T/$name.json" 2>"$T/$name.err"
	cp "$T/$name.json" "$T/out" # for checkpy
	first_lines "$T/$name.json" 3 | sed 's/^/# model: /'
}
# The connect hooks see only a private cgroup that the test's processes join: other traffic on
# this machine (floods included) cannot push the test's events out of the store.
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-diag-$$.slice
mkdir -p "$CG/nsdiag.service" || { fail "cannot create a test cgroup under $CGROOT"; exit 1; }
on_exit "rmdir '$CG/nsdiag.service' '$CG'"
# A backlog large enough that drops elsewhere on the machine (a flood: drops are not limited to
# the cgroup) cannot push the baseline out of it.
start_daemon --cgroup "$CG" --backlog-events 1048576 || exit 1
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/nsdiag.service" "$@"; }

# ---- 1. a service port refuses ------------------------------------------------------------------
APP=$(unique_gen "nsref$$"); APP_NAME=${APP##*/}; APP_NAME=${APP_NAME:0:15}
PORT=$((23000 + $$ % 9000))
in_cg "$APP" tcp 127.0.0.1 "$PORT" 4 >/dev/null
ctl --offline ask "why can't $APP_NAME reach its service?" --duration 300 --json >"$T/ref.json"
first_lines "$T/ref.json" 4 | sed 's/^/# /'
check "refused, offline: cause, process and evidence in the first lines" \
	has "$T/ref.json" 4 "$APP_NAME" "nothing accepts connections at 127.0.0.1:$PORT (refused)" \
	"4 connection attempts failed"
model_ask ref-model '{"steps":[
 {"tool_calls":[["get_network_summary","{\"process_name\":\"'"$APP_NAME"'\",\"duration\":300}"],["list_connections","{\"process_name\":\"'"$APP_NAME"'\",\"duration\":300,\"max_events\":5}"]]},
 {"answer":"Cause: connections {tool.1.events.0.outcome} by 127.0.0.1:{tool.1.events.0.destination_port} — nothing listens there.\nProcess: {tool.1.events.0.process}.\nEvidence: {tool.0.failed_connections} of {tool.0.total_connections} connection attempts failed ({tool.0.by_outcome.refused} refused)."}]}' \
	ask "why can't $APP_NAME reach its service?"
check "refused, model loop: cause, process and evidence from the tools in the first lines" \
	has "$T/ref-model.json" 3 "connections refused by 127.0.0.1:$PORT" "Process: $APP_NAME." \
	"4 of 4 connection attempts failed (4 refused)"

# ---- 2. a firewall drops the traffic (NETFILTER_DROP) -------------------------------------------
if in_netns "nft add table inet nstest" 2>/dev/null; then
	FW=$(unique_gen "nsfw$$"); FW_NAME=${FW##*/}; FW_NAME=${FW_NAME:0:15}
	in_netns "nft -f - <<'NFT'
table inet nstest {
	chain input {
		type filter hook input priority 0;
		tcp dport 6432 tcp flags syn drop
	}
}
NFT
	'$FW' listen 127.0.0.1 6432 3 & sleep 0.3; '$FW' tcp-giveup 127.0.0.1 6432 2 1500; kill %1" \
		>/dev/null 2>&1
	ctl --offline ask "why does $FW_NAME hang?" --duration 300 --json >"$T/fw.json"
	first_lines "$T/fw.json" 4 | sed 's/^/# /'
	check "firewall, offline: cause, process and evidence in the first lines" \
		has "$T/fw.json" 4 "$FW_NAME" "a firewall drops the traffic to 127.0.0.1:6432" \
		"2 connection attempts failed" "dropped by a firewall rule (NETFILTER_DROP)"
	model_ask fw-model '{"steps":[
 {"tool_calls":[["get_packet_drop_summary","{\"process_name\":\"'"$FW_NAME"'\",\"duration\":300}"],["list_connections","{\"process_name\":\"'"$FW_NAME"'\",\"duration\":300,\"max_events\":5}"]]},
 {"answer":"Cause: a firewall rule drops the SYNs to 127.0.0.1:{tool.1.events.0.destination_port} ({tool.0.by_reason.NETFILTER_DROP} NETFILTER_DROP drops).\nProcess: {tool.1.events.0.process}, whose connects end in {tool.1.events.0.outcome}.\nEvidence: {tool.1.total_matching} connection attempts, {tool.0.total_drops} drops."}]}' \
		ask "why does $FW_NAME hang?"
	check "firewall, model loop: cause, process and evidence from the tools in the first lines" \
		has "$T/fw-model.json" 3 "drops the SYNs to 127.0.0.1:6432" "NETFILTER_DROP drops" \
		"Process: $FW_NAME, whose connects end in timeout." "Evidence: 2 connection attempts"
else
	skip "firewall: nftables is not available here"
fi

# ---- 3. a process starts talking to a destination it never used ---------------------------------
NEW=$(unique_gen "nsnew$$"); NEW_NAME=${NEW##*/}; NEW_NAME=${NEW_NAME:0:15}
OLD_PORT=$((PORT + 1)); NEW_PORT=$((PORT + 2))
in_cg "$NEW" tcp 127.0.0.1 "$OLD_PORT" 6 >/dev/null
sleep 40 # the baseline: the window is the last 30 s (the offline analyst's: a quarter of 120 s)
in_cg "$NEW" tcp 127.0.0.1 "$OLD_PORT" 1 >/dev/null
in_cg "$NEW" tcp 127.0.0.1 "$NEW_PORT" 3 >/dev/null
model_ask new-model '{"steps":[
 {"tool_calls":[["find_anomalies","{\"process_name\":\"'"$NEW_NAME"'\",\"duration\":30}"]]},
 {"answer":"Cause: {tool.0.findings.0.kind} — {tool.0.findings.0.destination}.\nProcess: {tool.0.findings.0.process}.\nEvidence: {tool.0.findings.0.evidence.recent_connections} connects, none in the {tool.0.baseline.seconds} seconds before."}]}' \
	ask "is $NEW_NAME doing anything unusual?"
check "new destination, model loop: cause, process and evidence from find_anomalies" \
	has "$T/new-model.json" 3 "Cause: new_destination — 127.0.0.1:$NEW_PORT." \
	"Process: $NEW_NAME." "Evidence: 3 connects, none in the"
checkpy "new destination, model loop: find_anomalies is offered to the model" \
	'"find_anomalies" in OFFERED(1)'
ctl --offline ask "is $NEW_NAME doing anything unusual?" --duration 120 --json >"$T/new.json"
first_lines "$T/new.json" 10 | sed "s/^/# /"
check "new destination, offline: the process, the new destination and the counts in the first lines" \
	has "$T/new.json" 10 "Unusual activity" \
	"$NEW_NAME connects to 127.0.0.1:$NEW_PORT, which it did not use in the baseline" \
	"3 connects since"

# ---- 4. a name the application needs does not resolve (NXDOMAIN); 5. a slow resolver ----------
# In a network and mount namespace: a DNS responder on 127.0.0.1:53 named by /etc/resolv.conf.
echo "nameserver 127.0.0.1" >"$T/resolv.conf"
echo "options timeout:1 attempts:1" >>"$T/resolv.conf"
cat >"$T/app.py" <<'PY'
import socket, sys
open("/proc/thread-self/comm", "w").write(sys.argv[1])
for _ in range(int(sys.argv[3])):
    try:
        addr = socket.getaddrinfo(sys.argv[2], 9, socket.AF_INET, socket.SOCK_DGRAM)[0][4]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(addr)
        s.close()
    except socket.gaierror:
        pass
PY
BAD=nsbad$$; SLOW=nsslow$$
in_cg unshare -n -m bash -c "ip link set lo up
	mount --bind '$T/resolv.conf' /etc/resolv.conf
	python3 '$PWD/tests/tools/dns_responder.py' 127.0.0.1 >'$T/responder.log' 2>&1 &
	for i in \$(seq 1 50); do grep -q ready '$T/responder.log' && break; sleep 0.1; done
	python3 '$T/app.py' $BAD api.nx.test. 3
	python3 '$T/app.py' $SLOW slow.test. 3
	kill %1"
ctl --offline ask "why does $BAD fail?" --duration 300 --json >"$T/bad.json"
first_lines "$T/bad.json" 4 | sed 's/^/# /'
check "bad name, offline: the process, the name, NXDOMAIN and the resolver in the first lines" \
	has "$T/bad.json" 4 "$BAD (pid" "the name api.nx.test does not resolve: NXDOMAIN from the resolver 127.0.0.1:53" \
	"3 lookups failed"
ctl --offline ask "why is $SLOW slow?" --duration 300 --json >"$T/slow.json"
first_lines "$T/slow.json" 4 | sed 's/^/# /'
check "slow resolver, offline: the process, slow DNS, the resolver and its time in the first lines" \
	has "$T/slow.json" 4 "$SLOW (pid" "slow DNS: the resolver 127.0.0.1:53 took" "to answer 3 lookups (slow.test)"
check "slow resolver, offline: the diagnosis in the answer's findings" python3 -c \
	'import json,sys; d=json.load(open(sys.argv[1]))["findings"]["diagnosis"]; sys.exit(0 if any(x["cause"] == "slow_dns" and x["process"] == sys.argv[2] and x["destination"] == "127.0.0.1:53" for x in d) else 1)' \
	"$T/slow.json" "$SLOW"

# ---- 6. a link loses packets (retransmits) ------------------------------------------------------
LOSS_SRV=nslsrv$$; LOSS_CLI=nslcli$$; LP=$((PORT + 3))
PEER="python3 $PWD/tests/tools/lifepeer.py"
if in_netns "nft add table inet nstest" 2>/dev/null; then
	# An Ethernet MTU on loopback: segments of 1448 bytes, every tenth of them lost.
	in_netns "ip link set lo mtu 1500 && nft -f - <<'NFT'
table inet nsloss {
	chain in {
		type filter hook input priority 0;
		tcp dport $LP tcp flags & (syn | fin | rst) == 0 meta length > 200 numgen inc mod 10 == 0 drop
	}
}
NFT
	$PEER $LOSS_SRV server $LP 2 10 >/dev/null & sleep 0.3
	$PEER $LOSS_CLI client $LP 1000000 1000000; wait" >/dev/null 2>&1
	ctl --offline ask "why is $LOSS_CLI slow?" --duration 300 --json >"$T/loss.json"
	first_lines "$T/loss.json" 4 | sed 's/^/# /'
	check "lossy link, offline: the process, the destination and the retransmits in the first lines" \
		has "$T/loss.json" 4 "$LOSS_CLI (pid" "packets to 127.0.0.1:$LP are lost on the way" \
		"TCP segments retransmitted over"
else
	skip "lossy link: nftables is not available here"
fi
