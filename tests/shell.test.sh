#!/usr/bin/env bash
# netspyctl shell through a pseudo-terminal (tests/shell-pty.py): prompt, help, the original's
# command forms over traffic made after the shell started, history, errors that leave the shell
# running, reconnection after a daemon restart, quit and Ctrl-D; then the shell fed from a pipe.
. "$(dirname "$0")/lib.sh"

start_daemon || exit 1
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
name=shl$$; name=${name:0:15}
gen=$(unique_gen "$name")
mkdir -p "$T/state"

coproc PTY { python3 tests/shell-pty.py "$NETSPYCTL" "$SOCK" "$gen" "$port" "$T/state" 2>&1; }
pty_pid=$PTY_PID pty_in=${PTY[1]} pty_out=${PTY[0]}
failures=0
while IFS= read -r -t 120 line <&"$pty_out"; do
	if [ "$line" = RESTART ]; then
		stop_daemon
		start_daemon || exit 1
		echo go >&"$pty_in"
	else
		echo "$line"
		[[ $line == "not ok"* ]] && failures=$((failures + 1))
	fi
done
wait "$pty_pid"
rc=$?
[ "$rc" -ne 0 ] && [ "$failures" -eq 0 ] && fail "the pseudo-terminal driver ended with status $rc"

# Scripted: no terminal, no prompt, one command per line, errors on stderr, status 0.
out=$(printf 'help\nfrobnicate\nsummary --pid 1 --duration 5 --json\nquit\nhelp\n' |
	timeout 20 "$NETSPYCTL" --socket "$SOCK" shell 2>"$T/err")
check_eq "scripted shell exits 0" 0 "$?"
check "scripted shell prints no prompt" bash -c '! grep -q "netspy-mcp> " <<<"$1"' _ "$out"
check "scripted shell answers each line" grep -q '"total_connections"' <<<"$out"
check "scripted shell reports errors on stderr" grep -q "unknown command" "$T/err"
check_eq "scripted shell stops at quit" 1 "$(grep -c '^Commands:' <<<"$out")"

# No daemon: a clear message and exit status 2 (the contract's "cannot reach the daemon").
msg=$(echo summary | timeout 20 "$NETSPYCTL" --socket "$T/nowhere.sock" shell 2>&1)
check_eq "without a daemon the shell exits 2" 2 "$?"
check "without a daemon the shell names the socket" grep -q "$T/nowhere.sock" <<<"$msg"
