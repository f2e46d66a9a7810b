#!/usr/bin/env bash
# The recorder under the connect storm: netspyd (default options) and `netspyctl record` (default
# caps), a pinned UDP connect() storm under a unique comm, then: events the storm made (its own
# count), events the history holds for it once its minutes are written, events unaccounted
# (minutes.unaccounted, netspy_events_lost_total), the recorder's CPU time per million events
# (utime + stime from /proc) and its peak resident memory (VmHWM); then the cost of one /metrics
# scrape (median of 21 curl requests, at the series the run left).
# Run from the top of the tree as root: bench/recorder.sh   (BENCH_SECONDS, default 5; BENCH_CPU)
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
SECS=${BENCH_SECONDS:-5}
STORM=$PWD/$BUILD/tests/storm
COMM=nsrecbench$$
COMM=${COMM:0:15}
PORT=$((30000 + $$ % 20000))
DB=$T/state/history.db

cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
bench_daemon_start "$BUILD/netspyd"
"$BUILD/netspyctl" --socket "$SOCK" record --api-socket none --state-dir "$T/state" \
	--metrics-listen "127.0.0.1:$PORT" >"$T/recorder.log" 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null; wait $RPID 2>/dev/null; bench_cleanup' EXIT
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/metrics" 2>/dev/null && break; sleep 0.1; done
sleep 2
HZ=$(getconf CLK_TCK)
# The recorder's CPU while idle (netspyd followed, nothing to record), to tell its fixed cost
# (polling, status, empty minutes) from what the events cost.
i0=$(cputicks "$RPID"); t0=$(date +%s.%N)
sleep 20
i1=$(cputicks "$RPID"); t1=$(date +%s.%N)
idle_ms_per_s=$(awk -v c=$((i1 - i0)) -v hz="$HZ" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", c * 1000 / hz / (b - a) }')
c0=$(cputicks "$RPID"); s0=$(date +%s.%N)
taskset -c "$CPU" "$STORM" connect "$SECS" "$COMM" >"$T/storm.out"
ops=$(field ops "$T/storm.out")
echo "storm: $ops connects in ${SECS}s ($(field rate "$T/storm.out")/s) under comm $COMM"
# Wait until the storm's last minute is written (60 s + the 15 s grace after it starts).
for _ in $(seq 240); do
	n=$(sqlite3 -readonly "$DB" "SELECT coalesce(sum(count),0) FROM connections WHERE process='$COMM'" 2>/dev/null)
	[ "${n:-0}" -ge "$ops" ] && break
	sleep 0.5
done
sleep 1
c1=$(cputicks "$RPID"); s1=$(date +%s.%N)
stored=$(sqlite3 -readonly "$DB" "SELECT coalesce(sum(count),0) FROM connections WHERE process='$COMM'")
unacc=$(sqlite3 -readonly "$DB" "SELECT coalesce(sum(unaccounted),0) FROM minutes")
events=$(sqlite3 -readonly "$DB" "SELECT coalesce(sum(events),0) FROM minutes")
M=$(curl -fsS "http://127.0.0.1:$PORT/metrics")
lost_k=$(sed -n 's/^netspy_events_lost_total{source="kernel"} //p' <<<"$M")
lost_c=$(sed -n 's/^netspy_events_lost_total{source="client"} //p' <<<"$M")
lost_r=$(sed -n 's/^netspy_events_lost_total{source="recorder"} //p' <<<"$M")
metric=$(awk -v c="$COMM" 'index($0, "netspy_connections_total{process=\"" c "\"") == 1 { n += $NF } END { print n + 0 }' <<<"$M")
cpu_ms=$(( (c1 - c0) * 1000 / HZ ))
echo "history: $stored of the storm's $ops connects stored (metrics: $metric); all events rolled up: $events"
echo "unaccounted: minutes.unaccounted=$unacc, events_lost_total kernel=$lost_k client=$lost_c recorder=$lost_r"
echo "recorder cpu: ${cpu_ms} ms for $events events = $(awk -v c="$cpu_ms" -v e="$events" 'BEGIN { printf "%.0f", e ? c * 1e6 / e : 0 }') ms per million events"
echo "  idle cost ${idle_ms_per_s} ms/s over $(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.0f", b - a }') s; without it: $(awk -v c="$cpu_ms" -v i="$idle_ms_per_s" -v a="$s0" -v b="$s1" -v e="$events" 'BEGIN { x = c - i * (b - a); if (x < 0) x = 0; printf "%.0f", e ? x * 1e6 / e : 0 }') ms per million events"
echo "recorder memory: $(grep -E 'VmHWM|VmRSS' /proc/$RPID/status | tr -s ' \t' ' ' | tr '\n' ' ')"
series=$(grep -c '^netspy_' <<<"$M")
for _ in $(seq 21); do curl -fsS -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/metrics"; done |
	median | awk -v s="$series" -v b="${#M}" '{ printf "scrape: median %.2f ms for %d series (%d bytes)\n", $1 * 1000, s, b }'
echo "database: $(stat -c %s "$DB") bytes, wal $(stat -c %s "$DB-wal" 2>/dev/null || echo 0)"
