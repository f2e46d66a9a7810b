#!/usr/bin/env bash
# netspyctl mcp against a real netspyd: the official MCP TypeScript SDK client (tests/mcp) after
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

# Waits (up to 5 s) until the daemon has delivered N connection events of process NAME: it
# batches its deliveries, so events reach clients a fraction of a second after they happen.
wait_total() {
	local i n
	for i in $(seq 1 50); do
		n=$("$NETSPYCTL" --socket "$SOCK" summary --process "$1" --duration 300 --json 2>/dev/null |
			sed -n 's/^ *"total_connections": *\([0-9]*\).*/\1/p')
		[ "${n:-0}" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

FAIL_NAME=mcpf$$; FAIL_NAME=${FAIL_NAME:0:15}
OK_NAME=mcpo$$; OK_NAME=${OK_NAME:0:15}
PORT=$(free_port)
FAIL_TCP=5 FAIL_UDP=3 OK_COUNT=4
gen_fail=$(unique_gen "$FAIL_NAME")
gen_ok=$(unique_gen "$OK_NAME")
"$gen_fail" tcp 127.0.0.1 "$PORT" "$FAIL_TCP" >/dev/null
"$gen_fail" udp 127.0.0.1 "$PORT" "$FAIL_UDP" >/dev/null
"$gen_ok" tcp-local 127.0.0.1 "$OK_COUNT" >/dev/null
BIG_NAME=mcpb$$; BIG_NAME=${BIG_NAME:0:15} BIG_COUNT=3000
gen_big=$(unique_gen "$BIG_NAME")
"$gen_big" udp 127.0.0.1 "$PORT" "$BIG_COUNT" >/dev/null
check "the daemon delivered the test traffic" wait_total "$FAIL_NAME" $((FAIL_TCP + FAIL_UDP))
wait_total "$OK_NAME" "$OK_COUNT"
wait_total "$BIG_NAME" "$BIG_COUNT"

(cd tests/mcp && NETSPYCTL=$NETSPYCTL NETSPY_SOCK=$SOCK FAIL_NAME=$FAIL_NAME FAIL_PORT=$PORT \
	FAIL_TCP=$FAIL_TCP FAIL_UDP=$FAIL_UDP OK_NAME=$OK_NAME OK_COUNT=$OK_COUNT \
	BIG_NAME=$BIG_NAME BIG_COUNT=$BIG_COUNT \
	timeout 60 node mcp-test.mjs)

# ---- raw stdio ------------------------------------------------------------------------------
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"sh","version":"0"}}}'
out=$(printf '%s\n' "$INIT" '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
	'{"jsonrpc":"2.0","id":0,"method":"ping"}' 'not json' \
	'{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"get_network_summary"}}' |
	timeout 20 "$NETSPYCTL" --socket "$SOCK" mcp 2>"$T/mcp.err")
check_eq "netspyctl mcp exits 0 at end of input" 0 "$?"
check_eq "one response per request (notifications get none)" 4 "$(printf '%s\n' "$out" | wc -l)"
check "every stdout line is a JSON-RPC 2.0 message" python3 -c '
import json, sys
for line in sys.stdin:
    assert json.loads(line)["jsonrpc"] == "2.0"' <<<"$out"
check "a line that is not JSON gets -32700" grep -q '"code":-32700' <<<"$out"

# ---- daemon restart in the middle of a session ------------------------------------------------
call() { # call ID PROCESS: a get_network_summary request line
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"get_network_summary","arguments":{"process_name":"%s","duration":300}}}\n' "$1" "$2"
}
total_of() { python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["result"]["structuredContent"]["total_connections"])' 2>/dev/null; }

coproc MCP { timeout 60 "$NETSPYCTL" --socket "$SOCK" mcp 2>"$T/mcp-restart.err"; }
mcp_pid=$MCP_PID mcp_in=${MCP[1]}
echo "$INIT" >&"${MCP[1]}"
read -r -t 10 line <&"${MCP[0]}"
call 2 "$FAIL_NAME" >&"${MCP[1]}"
read -r -t 10 line <&"${MCP[0]}"
check_eq "before the restart: the session answers" "$((FAIL_TCP + FAIL_UDP))" "$(total_of <<<"$line")"
stop_daemon
start_daemon || exit 1
AFTER_NAME=mcpa$$; AFTER_NAME=${AFTER_NAME:0:15}
gen_after=$(unique_gen "$AFTER_NAME")
"$gen_after" tcp 127.0.0.1 "$PORT" 2 >/dev/null
wait_total "$AFTER_NAME" 2
call 3 "$AFTER_NAME" >&"${MCP[1]}"
read -r -t 20 line <&"${MCP[0]}"
check_eq "after a daemon restart: new events are answered" 2 "$(total_of <<<"$line")"
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
