#!/usr/bin/env bash
# netspyctl mcp against a real netspyd: the official MCP TypeScript SDK client (tests/mcp) over
# known traffic from uniquely named processes, then the raw stdio behaviour (only protocol on
# stdout, exit 0 at end of input) and a daemon restart in the middle of a session.
. "$(dirname "$0")/lib.sh"

if ! command -v node >/dev/null || [ ! -d tests/mcp/node_modules/@modelcontextprotocol/sdk ]; then
	fail "the MCP SDK is not installed: run packaging/install-deps.sh (npm ci in tests/mcp)"
	exit 1
fi
start_daemon || exit 1

# A port nobody listens on (TCP or UDP) on 127.0.0.1: connects to it are refused.
free_port() {
	local p
	while :; do
		p=$((30000 + RANDOM % 30000))
		ss -Hltnu "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
}

# The traffic is made by the test program once its session is subscribed: other tests on this
# machine may flood every netspyd's bounded backlog, but a live subscriber keeps what it saw.
FAIL_NAME=mcpf$$; FAIL_NAME=${FAIL_NAME:0:15}
OK_NAME=mcpo$$; OK_NAME=${OK_NAME:0:15}
BIG_NAME=mcpb$$; BIG_NAME=${BIG_NAME:0:15}
PORT=$(free_port)
(cd tests/mcp && NETSPYCTL=$NETSPYCTL NETSPY_SOCK=$SOCK PORT=$PORT \
	FAIL_GEN=$(unique_gen "$FAIL_NAME") FAIL_TCP=5 FAIL_UDP=3 \
	OK_GEN=$(unique_gen "$OK_NAME") OK_COUNT=4 \
	BIG_GEN=$(unique_gen "$BIG_NAME") BIG_COUNT=3000 \
	timeout 90 node mcp-test.mjs)
rc=$?
[ "$rc" -eq 0 ] || fail "the MCP SDK test program ended with status $rc"

# ---- resources, subscriptions, prompts, completion, logging, progress, cancellation; SDK 2.x --
HANG_SCEN=$T/hang.json; echo '{"steps": [{"hang": 60}]}' >"$HANG_SCEN"
python3 tests/tools/fake_openai.py "$HANG_SCEN" "$T/hang.jsonl" >"$T/hang.port" 2>/dev/null &
hang_pid=$!
for _ in $(seq 50); do [ -s "$T/hang.port" ] && break; sleep 0.1; done
FEAT_NAME=mcps$$; FEAT_NAME=${FEAT_NAME:0:15}
(cd tests/mcp && NETSPYCTL=$NETSPYCTL NETSPY_SOCK=$SOCK PORT=$PORT \
	GEN=$(unique_gen "$FEAT_NAME") HANG_URL="http://127.0.0.1:$(cat "$T/hang.port")/v1" \
	timeout 120 node mcp-features.mjs)
rc=$?
kill "$hang_pid" 2>/dev/null; wait "$hang_pid" 2>/dev/null
[ "$rc" -eq 0 ] || fail "the MCP features test program ended with status $rc"

# ---- schema portability: the MCP Inspector CLI's --strict check -------------------------------
INSPECTOR=tests/mcp/node_modules/@modelcontextprotocol/inspector/clients/cli/build/index.js
timeout 60 node "$INSPECTOR" --strict --method tools/list "$NETSPYCTL" --offline --socket "$SOCK" \
	mcp >"$T/inspector.out" 2>"$T/inspector.err"
check_eq "the Inspector CLI --strict tools/list exits 0" 0 "$?"
check "the Inspector --strict check reports no warnings or errors" \
	bash -c '! grep -Eiq "^(warning|error)" "$1"' _ "$T/inspector.err"
check "the Inspector lists the tools" grep -q get_network_summary "$T/inspector.out"
for m in resources/list resources/templates/list prompts/list; do
	timeout 60 node "$INSPECTOR" --method "$m" "$NETSPYCTL" --offline --socket "$SOCK" mcp \
		>"$T/inspector.out" 2>/dev/null
	check_eq "the Inspector CLI runs $m" 0 "$?"
done
timeout 60 node "$INSPECTOR" --method prompts/get --prompt-name diagnose_process \
	--prompt-args process=curl -- "$NETSPYCTL" --offline --socket "$SOCK" mcp >"$T/inspector.out" \
	2>/dev/null
check "the Inspector CLI renders a prompt" grep -q "process 'curl'" "$T/inspector.out"
timeout 60 node "$INSPECTOR" --method resources/read --uri netspy://status "$NETSPYCTL" --offline \
	--socket "$SOCK" mcp >"$T/inspector.out" 2>/dev/null
check "the Inspector CLI reads netspy://status" grep -q uptime_seconds "$T/inspector.out"

# ---- raw stdio ------------------------------------------------------------------------------
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"sh","version":"0"}}}'
out=$(printf '%s\n' "$INIT" '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	'{"jsonrpc":"2.0","id":0,"method":"ping"}' 'not json' \
	'{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"get_network_summary"}}' \
	'{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"get_network_summary"}}' \
	'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}}' \
	'{"jsonrpc":"2.0","id":9,"method":"server/discover","params":{}}' |
	timeout 20 "$NETSPYCTL" --socket "$SOCK" mcp 2>"$T/mcp.err")
check_eq "netspyctl mcp exits 0 at end of input" 0 "$?"
check_eq "one response per request (notifications and a cancelled request get none)" 5 \
	"$(printf '%s\n' "$out" | wc -l)"
check "server/discover (revision 2026-07-28) is answered -32601: the client falls back to initialize" \
	grep -q '"id":9,"error":{"code":-32601' <<<"$out"
check "every stdout line is a JSON-RPC 2.0 message" python3 -c '
import json, sys
for line in sys.stdin:
    assert json.loads(line)["jsonrpc"] == "2.0"' <<<"$out"
check "a line that is not JSON gets -32700" grep -q '"code":-32700' <<<"$out"

# progress: a notification with the call's token before its answer
out=$(printf '%s\n' "$INIT" \
	'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_network_summary","_meta":{"progressToken":"tok-1"}}}' |
	timeout 20 "$NETSPYCTL" --socket "$SOCK" mcp 2>/dev/null)
check "tools/call with a progressToken: notifications/progress with the token, then the answer" python3 -c '
import json, sys
m = [json.loads(l) for l in sys.stdin.read().splitlines()]
assert m[1]["method"] == "notifications/progress" and m[1]["params"]["progressToken"] == "tok-1", m
assert m[2]["id"] == 5 and "result" in m[2], m' <<<"$out"

# ---- daemon restart in the middle of a session ------------------------------------------------
call() { # call ID PROCESS: a get_network_summary request line
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"get_network_summary","arguments":{"process_name":"%s","duration":300}}}\n' "$1" "$2"
}
total_of() { python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["result"]["structuredContent"]["total_connections"])' 2>/dev/null; }

# ask_total ID NAME N: asks the session for NAME's connection count until it is N (5 s at most:
# the daemon batches its deliveries); prints the last count.
ask_total() {
	local i n=
	for i in $(seq 1 25); do
		call "$1$i" "$2" >&"$mcp_in"
		read -r -t 20 line <&"$mcp_out" || break
		n=$(total_of <<<"$line")
		[ "$n" = "$3" ] && break
		sleep 0.2
	done
	echo "$n"
}

coproc MCP { timeout 90 "$NETSPYCTL" --socket "$SOCK" mcp 2>"$T/mcp-restart.err"; }
mcp_pid=$MCP_PID mcp_in=${MCP[1]} mcp_out=${MCP[0]}
echo "$INIT" >&"$mcp_in"
read -r -t 10 line <&"$mcp_out"
BEFORE_NAME=mcpr$$; BEFORE_NAME=${BEFORE_NAME:0:15}
"$(unique_gen "$BEFORE_NAME")" tcp 127.0.0.1 "$PORT" 3 >/dev/null
check_eq "before the restart: the session answers" 3 "$(ask_total 1 "$BEFORE_NAME" 3)"
stop_daemon
start_daemon || exit 1
call 2 "$BEFORE_NAME" >&"$mcp_in" # the session notices the restart and subscribes again
read -r -t 20 line <&"$mcp_out"
AFTER_NAME=mcpa$$; AFTER_NAME=${AFTER_NAME:0:15}
"$(unique_gen "$AFTER_NAME")" tcp 127.0.0.1 "$PORT" 2 >/dev/null
check_eq "after a daemon restart: new events are answered" 2 "$(ask_total 3 "$AFTER_NAME" 2)"
check "the reconnection is reported on stderr" grep -qi reconnect "$T/mcp-restart.err"
eval "exec $mcp_in>&-"
wait "$mcp_pid"
check_eq "the session ends with status 0" 0 "$?"

# ---- no daemon: the server still starts, and tool calls say what is wrong ----------------------
out=$(printf '%s\n' "$INIT" \
	'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_network_summary","arguments":{}}}' |
	timeout 20 "$NETSPYCTL" --socket "$T/nowhere.sock" mcp 2>/dev/null)
check_eq "without a daemon netspyctl mcp still serves and exits 0" 0 "$?"
check "without a daemon a tool call is an isError result naming the socket" python3 -c '
import json, sys
r = json.loads(sys.stdin.read().splitlines()[1])["result"]
assert r["isError"] is True and sys.argv[1] in r["content"][0]["text"], r' "$T/nowhere.sock" <<<"$out"
