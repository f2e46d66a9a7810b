#!/usr/bin/env bash
# netspyd's journald records: each notable record (started, ready, client refused, events lost,
# stopping) reaches the journal with its MESSAGE_ID, priority and structured fields. Needs a
# running systemd-journald; when the machine has none (no systemd as PID 1), the suite starts one
# by hand and stops it again at the end.
. "$(dirname "$0")/lib.sh"
require_root

MSGID_STARTED=1a8d1eafe18a43f18a3d7158fbd3ec7d
MSGID_READY=26554b27536e4623b53fc15b15975e8e
MSGID_CLIENT_REFUSED=86832c3a5f8f44e18aa61cddc16f196e
MSGID_EVENTS_LOST=b3871f4761514d59bcea258d9ff0d758
MSGID_STOPPING=a5dfabecbaee4483a3af504a4a33cf29

# The MESSAGE_IDs above must be the ones the daemon uses.
for id in STARTED READY CLIENT_REFUSED EVENTS_LOST STOPPING; do
	var=MSGID_$id
	check "MSGID_$id matches collectord/log.h" \
		grep -q "define MSGID_$id \"${!var}\"" collectord/log.h
done

ensure_journald || exit 1

# find_record PID MSGID: prints the record's fields (KEY=value lines), waiting up to 5 s for it.
find_record() {
	local i out
	for i in $(seq 1 50); do
		out=$(journalctl -q --no-pager -o export "_PID=$1" "MESSAGE_ID=$2" 2>/dev/null |
			grep -a '^[A-Z_]*=' )
		if [ -n "$out" ]; then
			printf '%s\n' "$out"
			return 0
		fi
		sleep 0.1
	done
	return 1
}
field() { sed -n "s/^$1=//p" | head -1; }

# A tiny ring buffer and a world-writable socket: losses are easy to cause, and a client that is
# not in the group reaches the daemon (and its peer check) instead of failing on the file mode.
start_daemon --log-target journal --ringbuf-size 4096 --socket-mode 0666 || exit 1
pid=$DAEMON_PID

rec=$(find_record "$pid" "$MSGID_STARTED")
check "started record in the journal" test -n "$rec"
check_eq "started record priority (info)" 6 "$(field PRIORITY <<<"$rec")"
check_eq "started record names the version" "$("$NETSPYD" --version | awk '{print $2}')" \
	"$(field NETSPY_VERSION <<<"$rec")"
check_eq "started record identifier" netspyd "$(field SYSLOG_IDENTIFIER <<<"$rec")"

rec=$(find_record "$pid" "$MSGID_READY")
check "ready record in the journal" test -n "$rec"
check_eq "ready record priority (info)" 6 "$(field PRIORITY <<<"$rec")"
check_eq "ready record names the socket" "$SOCK" "$(field NETSPY_SOCKET <<<"$rec")"

# A client that is neither root nor in group netspy.
setpriv --reuid=65534 --regid=65534 --clear-groups "$NETSPYCTL" --socket "$SOCK" status \
	>"$T/refused.out" 2>&1 &
cpid=$!
wait $cpid
crc=$?
check_eq "unprivileged client is refused (exit 3)" 3 "$crc"
rec=$(find_record "$pid" "$MSGID_CLIENT_REFUSED")
check "client-refused record in the journal" test -n "$rec"
check_eq "client-refused priority (warning)" 4 "$(field PRIORITY <<<"$rec")"
check_eq "client-refused CLIENT_UID" 65534 "$(field CLIENT_UID <<<"$rec")"
check_eq "client-refused CLIENT_PID" "$cpid" "$(field CLIENT_PID <<<"$rec")"

# A 4 KiB ring buffer cannot keep up with a connect() storm: the kernel loses events.
gen=$(unique_gen nsjlost)
"$gen" udp-storm 127.0.0.1 9 1 >"$T/storm.out" 2>&1
rec=$(find_record "$pid" "$MSGID_EVENTS_LOST")
check "events-lost record in the journal ($(cat "$T/storm.out"))" test -n "$rec"
check_eq "events-lost priority (warning)" 4 "$(field PRIORITY <<<"$rec")"
check_ge "events-lost EVENTS_LOST" 1 "$(field EVENTS_LOST <<<"$rec")"
check_ge "events-lost EVENTS_LOST_TOTAL" 1 "$(field EVENTS_LOST_TOTAL <<<"$rec")"

check "netspyd stops cleanly on SIGTERM" stop_daemon
rec=$(find_record "$pid" "$MSGID_STOPPING")
check "stopping record in the journal" test -n "$rec"
check_eq "stopping priority (info)" 6 "$(field PRIORITY <<<"$rec")"
check_ge "stopping EVENTS_LOST_TOTAL" 1 "$(field EVENTS_LOST_TOTAL <<<"$rec")"
check_ge "stopping CLIENTS_REFUSED" 1 "$(field CLIENTS_REFUSED <<<"$rec")"

# journalctl's own MESSAGE_ID match, as the man page documents it.
journal_text() { journalctl -q --no-pager "_PID=$pid" "MESSAGE_ID=$1" | grep -q "$2"; }
check "journalctl MESSAGE_ID=... finds the ready record" \
	journal_text "$MSGID_READY" 'ready: programs attached'

# On a terminal (console target) the same records are readable lines without fields.
"$NETSPYD" --socket "$T/c.sock" --log-target console --ringbuf-size 4096 >"$T/console.log" 2>&1 &
c=$!
for i in $(seq 1 50); do grep -q 'ready:' "$T/console.log" && break; sleep 0.1; done
kill -TERM $c; wait $c
check "console target prints readable lines" grep -q '^netspyd: info: ready: programs attached' \
	"$T/console.log"
check "console lines carry no journal fields" \
	sh -c "! grep -q 'MESSAGE_ID\|EVENTS_' '$T/console.log'"
