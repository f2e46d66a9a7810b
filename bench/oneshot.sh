#!/usr/bin/env bash
# One-shot `netspyctl summary`: connect, replay a 100,000-event backlog, answer. Starts a private
# netspyd whose connect hooks watch only a private cgroup, fills its backlog with a UDP connect
# storm on loopback run inside that cgroup, then times `netspyctl summary --json` against
# `netspyctl status` (connect + one round trip, no replay) as the baseline, medians of RUNS runs.
# Run as root from the top of the tree after `make` and `make build/tests/trafficgen`.
set -eu
BUILD=${NETSPY_BUILD:-build}
EVENTS=${EVENTS:-100000}
RUNS=${RUNS:-11}
T=$(mktemp -d /tmp/netspy-oneshot.XXXXXX)
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-oneshot-$$.slice
SOCK=$T/netspyd.sock
DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rmdir "$CG/storm.scope" "$CG" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$CG/storm.scope"
getent group netspy >/dev/null || groupadd --system netspy
"$BUILD/netspyd" --socket "$SOCK" --cgroup "$CG" --backlog-events "$EVENTS" \
	--log-target console >"$T/netspyd.log" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do "$BUILD/netspyctl" --socket "$SOCK" status >/dev/null 2>&1 && break; sleep 0.1; done
cp "$BUILD/tests/trafficgen" "$T/nsstorm"
backlog_events() {
	"$BUILD/netspyctl" --socket "$SOCK" status --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["backlog_events"])'
}
# Storm until the backlog holds EVENTS (a loaded machine makes fewer connects per second).
for _ in $(seq 1 20); do
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/storm.scope" "$T/nsstorm" \
		udp-storm 127.0.0.1 9 0.3 >/dev/null
	sleep 0.2
	[ "$(backlog_events)" -ge "$EVENTS" ] && break
done
backlog=$(backlog_events)

median_ms() { # COMMAND...: median wall time in ms of RUNS runs
	local i t0 t1 times=()
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
	done
	printf '%s\n' "${times[@]}" | sort -n | sed -n "$((RUNS / 2 + 1))p" | awk '{ printf "%.1f", $1 / 1000 }'
}
base=$(median_ms "$BUILD/netspyctl" --socket "$SOCK" status --json)
summ=$(median_ms "$BUILD/netspyctl" --socket "$SOCK" summary --json)
total=$("$BUILD/netspyctl" --socket "$SOCK" summary --json --duration 3600 | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_connections"])')
echo "oneshot: backlog of $backlog events ($total connects in the last hour)"
echo "netspyctl status --json (baseline)   $base ms (median of $RUNS)"
echo "netspyctl summary --json             $summ ms  $(awk -v a="$summ" -v b="$base" 'BEGIN { printf "%.1fx baseline", a / b }')"
# How much of that is netspyctl itself (decoding and storing) rather than netspyd replaying.
[ -x /usr/bin/time ] || exit 0
cpu=$( { /usr/bin/time -f '%U %S' "$BUILD/netspyctl" --socket "$SOCK" summary --json >/dev/null; } 2>&1 |
	awk '{ printf "%.0f", ($1 + $2) * 1000 }')
echo "netspyctl summary CPU time (user+sys) $cpu ms (one run; 10 ms resolution)"
