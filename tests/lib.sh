# Shared helpers for the shell test suites (tests/*.test.sh). Source it first:
#   . "$(dirname "$0")/lib.sh"
# Each check prints "ok - ..." or "not ok - ..."; tests/run-all counts them. Every daemon a suite
# starts gets a private socket in a private temporary directory and is killed by the EXIT trap.
set -u
NETSPYD=${NETSPYD:-$PWD/build/netspyd}
NETSPYCTL=${NETSPYCTL:-$PWD/build/netspyctl}
NETSPY_TESTS_BIN=${NETSPY_TESTS_BIN:-$PWD/build/tests}
T=$(mktemp -d /tmp/netspy-test.XXXXXX)
chmod 755 "$T"
SOCK=$T/netspyd.sock
DAEMON_PID=
_cleanups=()

_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" >/dev/null 2>&1; done
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	rm -rf "$T"
}
trap _run_cleanups EXIT
# Adds a shell command to run at exit (in reverse order of registration).
on_exit() { _cleanups+=("$*"); }

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
# skip REASON: a check that cannot run here, as TAP writes it; tests/run-all counts it as skipped.
skip() { echo "ok - $* # SKIP"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	local d=$1; shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (expected '$2', got '$3')"; fi
}
# check_ge DESCRIPTION MIN ACTUAL (integers)
check_ge() {
	if [ "$3" -ge "$2" ] 2>/dev/null; then pass "$1"; else fail "$1 (expected >= $2, got '$3')"; fi
}

# require_root: a suite that loads eBPF programs (or needs other privileges) ends here, skipped
# with the reason, when it does not run as root.
require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		skip "$(basename "$0" .test.sh): needs root to load eBPF programs (run 'sudo make check')"
		exit 0
	fi
}

ensure_group() { getent group netspy >/dev/null || groupadd --system netspy; }

# start_daemon [NETSPYD OPTIONS...]: starts netspyd on $SOCK and waits until it answers.
start_daemon() {
	require_root
	ensure_group
	"$NETSPYD" --socket "$SOCK" --log-target console "$@" >"$T/netspyd.log" 2>&1 &
	DAEMON_PID=$!
	local i
	for i in $(seq 1 100); do
		if [ -S "$SOCK" ] && "$NETSPYCTL" --socket "$SOCK" status >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "netspyd did not start: $(tail -5 "$T/netspyd.log")"
	return 1
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	local rc=$?
	DAEMON_PID=
	return $rc
}

# A copy of the traffic generator under a unique name (its comm): unique_gen NAME -> path
unique_gen() {
	cp "$NETSPY_TESTS_BIN/trafficgen" "$T/$1"
	echo "$T/$1"
}

# Waits until `netspyctl status --json` shows at least N events in total.
wait_events() {
	local n=$1 i total
	for i in $(seq 1 50); do
		total=$("$NETSPYCTL" --socket "$SOCK" status --json 2>/dev/null |
			sed -n 's/.*"events_total": *\([0-9]*\).*/\1/p')
		[ "${total:-0}" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

# IDs of the BPF programs that process PID holds open (one per line), from its fdinfo.
prog_ids_of() {
	grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un
}

# The BPF programs process PID holds, by their full names (from their BTF: `bpftool prog show`
# cuts names at 15 characters), sorted.
prog_names_of() {
	local id
	for id in $(prog_ids_of "$1"); do
		bpftool prog dump xlated id "$id" 2>/dev/null |
			sed -n 's/^[a-z_ ]* \**\([a-z0-9_]*\)(.*/\1/p' | head -1
	done | sort
}

# Programs of process PID that have not run since the kernel's BPF statistics were switched on
# (sysctl kernel.bpf_stats_enabled), by name, one per line.
progs_never_run() {
	local id name
	for id in $(prog_ids_of "$1"); do
		name=$(bpftool prog dump xlated id "$id" 2>/dev/null |
			sed -n 's/^[a-z_ ]* \**\([a-z0-9_]*\)(.*/\1/p' | head -1)
		bpftool prog show id "$id" --json 2>/dev/null | grep -q '"run_cnt": *[1-9]' ||
			echo "$name"
	done
}

# Succeeds when none of the given program IDs exists any more. Programs are freed after an RCU
# grace period, so a just-closed one may linger for a moment: wait up to 5 s.
progs_gone() {
	local id i left
	for i in $(seq 50); do
		left=0
		for id in "$@"; do
			bpftool prog show id "$id" >/dev/null 2>&1 && left=1
		done
		[ "$left" -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# Live subscriptions, filtered by the daemon, started before the traffic: other processes on the
# machine may produce so many events that a later replay of the bounded backlog would miss ours.
# dump_start FILE FILTERS... / dump_stop FILE
declare -A DUMPERS
dump_start() {
	local f=$1; shift
	"$NETSPY_TESTS_BIN/collector_peer" "$SOCK" dump 120 "$@" >"$f" &
	DUMPERS[$f]=$!
	on_exit "kill ${DUMPERS[$f]}"
	for _ in $(seq 50); do grep -q subscribed "$f" 2>/dev/null && return 0; sleep 0.1; done
	fail "dump subscriber for $f did not start"
}
dump_stop() {
	sleep 0.5
	kill "${DUMPERS[$1]}" 2>/dev/null
	wait "${DUMPERS[$1]}" 2>/dev/null
}

# count FILE PYTHON-CONDITION: number of JSON lines in FILE (events as `watch --json` and the test
# clients print them, the "subscribed" line aside) for which the condition on e holds.
count() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    e = json.loads(line)
    if e.get("kind") == "subscribed":
        continue
    if eval(sys.argv[2], {}, {"e": e}):
        n += 1
print(n)
EOF
}

# The socket file outlives a journald that was killed: a stream connection proves one listens.
journal_up() { [ -S /run/systemd/journal/socket ] && systemd-cat -t netspy-test true 2>/dev/null; }

# A journald that answers: the running one, or one started here.
ensure_journald() {
	local jd i
	journal_up && return 0
	if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
		fail "systemd is PID 1 but /run/systemd/journal/socket does not answer"
		return 1
	fi
	for jd in /lib/systemd/systemd-journald /usr/lib/systemd/systemd-journald; do
		[ -x "$jd" ] && break
	done
	if [ ! -x "$jd" ]; then
		fail "no journald runs and systemd-journald is not installed (apt-get install systemd)"
		return 1
	fi
	mkdir -p /run/systemd/journal
	"$jd" >"$T/journald.log" 2>&1 &
	local jpid=$!
	on_exit "kill $jpid; wait $jpid"
	for i in $(seq 1 50); do
		journal_up && return 0
		kill -0 "$jpid" 2>/dev/null || break
		sleep 0.1
	done
	fail "could not start systemd-journald by hand: $(tail -3 "$T/journald.log")"
	return 1
}
