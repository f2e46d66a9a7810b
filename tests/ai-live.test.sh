#!/usr/bin/env bash
# netspyctl ask / insights end to end: a real netspyd, known traffic from a uniquely named
# traffic generator, and either the offline analyst or the scripted model server on loopback
# (tests/tools/fake_openai.py). Checks that the answers carry the real counts.
. "$(dirname "$0")/lib.sh"
SECRET=sk-live-$RANDOM$RANDOM-do-not-print
. "$(dirname "$0")/ai_lib.sh"
ctl() { "$NETSPYCTL" --socket "$SOCK" "$@" >"$T/out" 2>"$T/err"; RC=$?; }

# traffic TAG: 3 refused TCP connects to a closed loopback port by a new uniquely named process
# ($NAME, $PORT), then waits until netspyd's replay shows them. Each scenario makes its own just
# before it asks: other work on this machine may flood the daemon's bounded backlog.
traffic() {
	local gen i n
	NAME=ai$1$$
	NAME=${NAME:0:15}
	gen=$(unique_gen "$NAME")
	# A port with no listener: the kernel picks a free one, which is closed again at once.
	PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	check_eq "traffic $1: 3 refused connects by $NAME" "ok=0 refused=3 other=0" \
		"$("$gen" tcp 127.0.0.1 "$PORT" 3)"
	for i in $(seq 1 50); do
		n=$("$NETSPY_TESTS_BIN/ai_driver" --socket "$SOCK" --offline --json ask q \
			--process "$NAME" 2>/dev/null |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["findings"]["failed_connections"])' 2>/dev/null)
		[ "${n:-0}" -ge 3 ] && break
		sleep 0.1
	done
	check_eq "traffic $1: netspyd saw the 3 refused connects" 3 "${n:-0}"
}

# A backlog as large as the analyzer's store, so that a connect storm elsewhere on the machine
# does not evict this suite's events between the traffic and the question.
start_daemon --backlog-events 1048576 || exit 1
traffic o

# ---- the offline analyst on real traffic --------------------------------------------------------
REC=/dev/null
ctl ask "what is $NAME doing?" --process "$NAME" --json
check_eq "offline ask: exit 0" 0 "$RC"
checkpy "offline ask: labelled, no model" 'OUT["offline"] is True and OUT["model"] is None'
checkpy "offline ask: 3 refused to the closed port" \
	'OUT["findings"]["refused"] == [{"destination": "127.0.0.1:'"$PORT"'", "count": 3}] and "127.0.0.1:'"$PORT"': 3 refused" in OUT["answer"]'
checkpy "offline ask: failure rate 100% for the process" \
	'OUT["findings"]["total_connections"] == 3 and OUT["findings"]["failed_connections"] == 3 and "100.0%" in OUT["answer"]'
checkpy "offline ask: the process is the top talker" \
	'OUT["findings"]["top_talkers"][0]["process"].startswith("'"$NAME"' (pid ") and OUT["findings"]["top_talkers"][0]["count"] == 3'
checkpy "offline ask: names the NO_SOCKET drops the refused connects caused, explained" \
	'any(d["reason"] == "NO_SOCKET" and d["count"] >= 3 and "closed port" in d["explanation"] for d in OUT["findings"].get("drops", []) + OUT["findings"].get("drops_machine_wide", []))'
checkpy "offline ask: the plan is focused on the process" \
	'all(c["arguments"].get("process_name") == "'"$NAME"'" for c in OUT["tools_called"][:4])'
ctl ask "what is $NAME doing?" --process "$NAME"
check "offline ask: readable report says no model was used" grep -q "no model was used" "$T/out"

ctl insights "Total connections: 10
Failed connections: 4"
check_eq "offline insights: exit 0" 0 "$RC"
check "offline insights: comments on the numbers" grep -q "4 of 10 connection attempts failed" "$T/out"

# ---- a model (the scripted server) chaining the real tools --------------------------------------
traffic m
fake_start live '{"steps":[
 {"tool_calls":[["get_network_summary","{\"process_name\":\"'"$NAME"'\"}"]]},
 {"tool_calls":[["list_connections","{\"process_name\":\"'"$NAME"'\",\"max_events\":10}"]]},
 {"answer":"{tool.0.failed_connections} of {tool.0.total_connections} connections failed; first outcome {tool.1.events.0.outcome} to port {tool.1.events.0.destination_port}."}]}'
OPENAI_API_KEY=$SECRET ctl --base-url "$URL" --model live-model ask "how is $NAME behaving?" --json
check_eq "model ask: exit 0" 0 "$RC"
checkpy "model ask: the answer carries the real counts" \
	'OUT["answer"] == "3 of 3 connections failed; first outcome refused to port '"$PORT"'."'
checkpy "model ask: the registry's data tools are offered, contextual_analysis is not" \
	'"get_network_summary" in OFFERED(1) and "list_connections" in OFFERED(1) and "contextual_analysis" not in OFFERED(1) and "ai_insights" not in OFFERED(1)'
checkpy "model ask: the tool messages carry the daemon's data" \
	'C(TOOLS(2)[0])["total_connections"] == 3 and [m["tool_call_id"] for m in TOOLS(3)] == ["call_1_0", "call_2_0"]'
checkpy "model ask: result" \
	'(OUT["offline"], OUT["model"], [c["name"] for c in OUT["tools_called"]]) == (False, "live-model", ["get_network_summary", "list_connections"])'

fake_start live401 '{"steps":[{"status":401,"json":{"error":{"message":"bad key '"$SECRET"'","code":"invalid_api_key"}}}]}'
printf '%s\n' "$SECRET" >"$T/key"
ctl --base-url "$URL" --api-key-file "$T/key" ask "q"
check_eq "model 401: netspyctl exits 4" 4 "$RC"
check "model 401: clear message" grep -q "the API key was rejected (HTTP 401)" "$T/err"
check "model 401: the key is printed nowhere" sh -c "! grep -qF -- '$SECRET' '$T/out' '$T/err'"

# ---- on a terminal the answer streams, terminal-safe, and is printed once ------------------------
traffic t
fake_start livestream '{"steps":[
 {"sse":[{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_t","type":"function","function":{"name":"get_network_summary","arguments":"{\"process_name\":\"'"$NAME"'\"}"}}]}}]}]},
 {"chunk_bytes":9,"sse":[
  {"choices":[{"index":0,"delta":{"content":"Streamed: {tool.0.failed_connections} failed"}}]},
  {"choices":[{"index":0,"delta":{"content":"\u001b]0;pwned\u0007 connects.\u001b[2J"}}]}]}]}'
OPENAI_API_KEY=$SECRET script -qec "'$NETSPYCTL' --socket '$SOCK' --base-url '$URL' ask 'stream please'" /dev/null \
	>"$T/raw" 2>&1
RC=$?
tr -d '\r' <"$T/raw" >"$T/out"
check_eq "terminal: exit 0" 0 "$RC"
checkpy "terminal: netspyctl asked for a stream" 'B(1)["stream"] is True and B(2)["stream"] is True'
check "terminal: the streamed answer carries the real count, escapes stripped" \
	grep -qx "Streamed: 3 failed connects." "$T/out"
check_eq "terminal: the answer is printed once" 1 "$(grep -c "Streamed:" "$T/out")"
check "terminal: no escape character reached the terminal" sh -c "! grep -q \$(printf '\\033') '$T/out'"
check "terminal: the tools used are listed" grep -q "get_network_summary {\"process_name\":\"$NAME\"}" "$T/out"

# ---- without the daemon the offline analyst has nothing to read: exit 2 like the data tools -----
"$NETSPYCTL" --socket "$T/nothing.sock" ask "q" >"$T/out" 2>"$T/err"
check_eq "no daemon: offline ask exits 2" 2 $?
check "no daemon: the message names the socket" grep -q "$T/nothing.sock" "$T/err"

# ---- in the shell, a follow-up question keeps the conversation ----------------------------------
fake_start followup '{"steps":[{"answer":"First answer: nothing failed."},{"answer":"Second answer."}]}'
printf '%s\n' 'contextual "how many connects failed?"' 'contextual "and which process?"' quit |
	"$NETSPYCTL" --socket "$SOCK" --base-url "$URL" shell >"$T/out" 2>"$T/err"
check_eq "shell follow-up: exit 0" 0 $?
check "shell follow-up: both answers printed" sh -c "grep -q 'First answer' '$T/out' && grep -q 'Second answer' '$T/out'"
checkpy "shell follow-up: the second request carries the first question and answer" \
	'[m.get("content") for m in B(2)["messages"] if m["role"] in ("user", "assistant") and m.get("content")][-3:][0].endswith("how many connects failed?") and any("First answer" in (m.get("content") or "") for m in B(2)["messages"] if m["role"] == "assistant")'
