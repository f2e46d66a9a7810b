# Fault tests against the real daemon: SIGKILL and restart under an attached client, a crowd of
# clients coming and going during a storm, a client that never reads, clients that send garbage
# or oversized frames, a tiny ring buffer under a storm (every lost event counted exactly) and
# SIGTERM under load. Events are asserted for this suite's uniquely named storms only.
. "$(dirname "$0")/lib.sh"
require_root
STORM=$NETSPY_TESTS_BIN/storm
SUBSCRIBER=$NETSPY_TESTS_BIN/subscriber
RAW=$NETSPY_TESTS_BIN/rawclient
field() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" "$2" | tail -1; }

# sub_start NAME [ARGS...]: a counting subscriber whose output goes to $T/NAME.out
sub_start() {
	local name=$1 i
	shift
	"$SUBSCRIBER" "$SOCK" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	eval "SUB_$name=$!"
	on_exit "kill $! 2>/dev/null"
	for i in $(seq 100); do
		grep -q '^ready' "$T/$name.out" && return 0
		sleep 0.1
	done
	fail "subscriber $name did not start: $(cat "$T/$name.err")"
	return 1
}
# sub_stop NAME: drains and waits; the counts are then in $T/NAME.out
sub_stop() {
	local pid
	eval "pid=\$SUB_$1"
	kill -USR1 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
# check_delivery DESCRIPTION SUBSCRIBER_NAME GENERATED: the subscriber received every event, none
# lost. A sanitized netspyd drains more slowly than a full-speed storm fills the default backlog:
# there, every event must be received or reported lost to the client, exactly.
check_delivery() {
	local out=$T/$2.out got ev kl cl
	got="$(field events "$out") $(field kernel_loss "$out") $(field client_loss "$out")"
	if [ "${SANITIZE:-}" = 1 ]; then
		read -r ev kl cl <<<"$got"
		check_eq "$1 (received + reported lost)" "$3 0" "$((ev + cl)) $kl"
	else
		check_eq "$1" "$3 0 0" "$got"
	fi
}

# ---- SIGKILL with a client attached, then a restart on the same socket -----------------------
start_daemon || exit 1
ids=$(prog_ids_of "$DAEMON_PID")
check "netspyd holds its eBPF programs" test -n "$ids"
"$NETSPYCTL" --socket "$SOCK" watch >"$T/watch.out" 2>"$T/watch.err" &
watch=$!
sleep 0.5
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
timeout 10 tail --pid=$watch -f /dev/null
wait $watch
check_eq "watch exits 2 when netspyd dies under it" 2 $?
check "watch says the daemon closed the connection" grep -q 'closed the connection' "$T/watch.err"
# shellcheck disable=SC2086
check "SIGKILL leaves no netspy program attached" progs_gone $ids
check "the socket file outlives a SIGKILL" test -S "$SOCK"
start_daemon || exit 1
pass "netspyd restarts on the socket a killed instance left behind"
ctl_status() { "$NETSPYCTL" --socket "$SOCK" status >/dev/null; }
check "a client is served after the restart" ctl_status

# ---- SIGKILL under an attached shell and MCP server: both reconnect and say so ---------------
INIT='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"faults","version":"0"}}}'
mcp_call() { # mcp_call ID PROCESS
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"get_network_summary","arguments":{"process_name":"%s","duration":300}}}\n' "$1" "$2"
}
mkfifo "$T/shell.in"
"$NETSPYCTL" --socket "$SOCK" --offline shell <"$T/shell.in" >"$T/shell.out" 2>"$T/shell.err" &
shell_pid=$!
exec 7>"$T/shell.in"
on_exit "kill $shell_pid"
coproc FMCP { timeout 120 "$NETSPYCTL" --socket "$SOCK" --offline mcp 2>"$T/mcp.err"; }
fmcp_in=${FMCP[1]} fmcp_out=${FMCP[0]}
echo "$INIT" >&"$fmcp_in"
read -r -t 10 _ <&"$fmcp_out"
mcp_call 1 none >&"$fmcp_in"
read -r -t 10 _ <&"$fmcp_out"
echo "status" >&7
sleep 1
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
start_daemon || exit 1
killgen=fkill$$
killgen=${killgen:0:15}
"$(unique_gen "$killgen")" tcp 127.0.0.1 9 2 >/dev/null
sleep 0.5
echo "summary --process $killgen --duration 300 --json" >&7
echo "quit" >&7
exec 7>&-
timeout 20 tail --pid=$shell_pid -f /dev/null
wait $shell_pid
check_eq "shell: exits 0 after living through a SIGKILL of netspyd" 0 $?
check "shell: says it reconnected" grep -qi "reconnect" "$T/shell.err"
check "shell: answers with events made after the restart" \
	grep -q '"total_connections": *2' "$T/shell.out"
line=
for i in $(seq 2 20); do
	mcp_call "$i" "$killgen" >&"$fmcp_in"
	read -r -t 20 line <&"$fmcp_out" || break
	grep -q '"total_connections":2' <<<"$line" && break
	sleep 0.3
done
check "mcp: answers with events made after the restart" grep -q '"total_connections":2' <<<"$line"
check "mcp: says on stderr that it reconnected" grep -qi "reconnect" "$T/mcp.err"
eval "exec $fmcp_in>&-"

# ---- hundreds of clients coming and going while events flow ----------------------------------
comm=fcrowd$$
sub_start crowd --comm "$comm"
"$STORM" connect 3 "$comm" >"$T/crowd-storm.out" &
storm=$!
ok=0
for batch in $(seq 10); do
	pids=()
	for i in $(seq 30); do
		"$NETSPYCTL" --socket "$SOCK" status >/dev/null 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
	"$SUBSCRIBER" "$SOCK" --max-seconds 0 >/dev/null 2>&1 &
done
wait $storm
sub_stop crowd
check_eq "300 short-lived clients during a storm are all served" 300 $ok
check "netspyd survives the crowd" kill -0 "$DAEMON_PID"
gen=$(field ops "$T/crowd-storm.out")
check_delivery "a subscriber receives every event of the storm meanwhile" crowd "$gen"

# ---- clients that send garbage or oversized frames -------------------------------------------
comm=fbad$$
sub_start bad --comm "$comm"
for mode in garbage oversized no-hello hello-garbage; do
	"$RAW" "$SOCK" $mode >"$T/raw.out" 2>&1
	check "a client sending $mode gets an error and is disconnected" \
		grep -q -E '^error=.*(malformed|Hello).* closed=1$' "$T/raw.out"
done
"$STORM" connect 1 "$comm" >"$T/bad-storm.out"
sub_stop bad
check_delivery "other clients keep receiving after the bad ones" bad "$(field ops "$T/bad-storm.out")"
stop_daemon

# ---- a client that never reads ---------------------------------------------------------------
# The backlog holds the whole storm, so the reader loses nothing on the way from netspyd; what is
# tested is that the stuck client does not hold the loop up: the reader has everything while the
# stuck client is still connected, and only later is it cut off.
start_daemon --stall-timeout 8 --backlog-events 1048576 || exit 1
comm=fslow$$
sub_start stuck --never-read
sub_start reader --comm "$comm"
"$STORM" connect 1 "$comm" >"$T/slow-storm.out"
sub_stop reader
clients=$("$NETSPYCTL" --socket "$SOCK" --json status | sed -n 's/.*"clients": *\([0-9]*\).*/\1/p')
gen=$(field ops "$T/slow-storm.out")
read -r ev kl cl <<<"$(field events "$T/reader.out") $(field kernel_loss "$T/reader.out") $(field client_loss "$T/reader.out")"
if [ "${SANITIZE:-}" = 1 ]; then
	# A sanitized netspyd can drain the kernel's rings more slowly than a fast storm fills them:
	# every event is then received or reported lost, exactly (check_delivery's rule).
	check_eq "a reading client receives all $gen events, or is told of each one lost, while a client that never reads is connected" \
		"$gen 0" "$((ev + kl)) $cl"
else
	check_eq "a reading client receives all $gen events while a client that never reads is connected" \
		"$gen 0" "$ev $cl"
fi
check_eq "the client that never reads was still connected meanwhile (it and this status)" 2 "$clients"
for i in $(seq 100); do
	grep -q 'stopped reading' "$T/netspyd.log" && break
	sleep 0.1
done
check "the client that never reads is cut off after --stall-timeout" grep -q 'stopped reading' "$T/netspyd.log"
sub_stop stuck
stop_daemon

# ---- tiny kernel buffers under a storm: every event delivered or counted lost -----------------
# The storm runs in a private cgroup that is the only one netspyd watches, and drops are off, so
# nearly all events are the storm's; any other event the kernel loses (a TCP outcome elsewhere)
# would make the count too large, never too small: then the round is tried again.
cg="$(awk '$9 == "cgroup2" && $4 == "/" { print $5; exit }' /proc/self/mountinfo)/netspy-faults-$$"
mkdir "$cg" && on_exit "rmdir '$cg'"
start_daemon --ringbuf-size 4096 --cgroup "$cg" --no-drops || exit 1
for round in 1 2 3; do
	comm=ftiny$$r$round
	sub_start tiny --comm "$comm"
	sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" connect 1 "$3"' sh "$cg" "$STORM" "$comm" \
		>"$T/tiny-storm.out"
	sub_stop tiny
	gen=$(field ops "$T/tiny-storm.out")
	del=$(field events "$T/tiny.out")
	lost=$(field lost_stats "$T/tiny.out")
	notices=$(field kernel_loss "$T/tiny.out")
	[ "$lost" -gt $((gen - del)) ] || break
	echo "# round $round: another process lost events too ($lost lost, $((gen - del)) ours); again"
done
check "4 KiB of kernel buffers lose events under a storm ($lost of $gen)" test "$lost" -gt 0
check_eq "kernel loss reported equals generated minus delivered, exactly" "$((gen - del))" "$lost"
check_eq "the loss notices the client received add up to the same" "$lost" "$notices"
stop_daemon

# ---- SIGTERM under load ----------------------------------------------------------------------
start_daemon || exit 1
ids=$(prog_ids_of "$DAEMON_PID")
comm=fterm$$
sub_start term --comm "$comm"
"$STORM" connect 3 "$comm" >/dev/null &
storm=$!
sleep 1
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
check_eq "netspyd exits 0 on SIGTERM under load" 0 $?
DAEMON_PID=
wait $storm
check "SIGTERM removes the socket" test ! -e "$SOCK"
# shellcheck disable=SC2086
check "SIGTERM under load leaves no netspy program attached" progs_gone $ids
sub_stop term
check "the subscriber is told the daemon went away" grep -q 'daemon_gone=1' "$T/term.out"
