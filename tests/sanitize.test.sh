# The sanitizer build inside every `make check`: builds everything with ASan+UBSan
# (make SANITIZE=1, into build/san), runs the unit tests and the fuzz corpora with it, and drives
# a sanitized netspyd (which must still load its eBPF programs) with sanitized clients.
# Skipped when the whole run already is the sanitizer build (make check SANITIZE=1).
. "$(dirname "$0")/lib.sh"
BUILD=${NETSPY_BUILD:-build}
SAN=build/san
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

if [ "$BUILD" = "$SAN" ] || [ "${SANITIZE:-}" = 1 ]; then
	skip "this run is the sanitizer build already"
	exit 0
fi
if ! make -s SANITIZE=1 check-build >"$T/build.log" 2>&1; then
	fail "make SANITIZE=1 check-build: $(grep -m3 -E 'error|Error' "$T/build.log")"
	exit 0
fi
pass "make SANITIZE=1 check-build"

# Unit tests: their own ok/not ok lines, marked as the sanitized run's.
for t in "$SAN"/tests/unit_*; do
	[ -x "$t" ] || continue
	"$t" 2>"$T/unit.err" | sed -e 's/^ok - /ok - [asan] /' -e 's/^not ok - /not ok - [asan] /'
	rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] || fail "[asan] ${t##*/} exited with $rc: $(grep -m2 -E 'ERROR|runtime error' "$T/unit.err")"
done
for r in "$SAN"/fuzz/replay_*; do
	[ -x "$r" ] || continue
	n=${r##*/replay_}
	check "[asan] fuzz corpus of $n replays cleanly" "$r" "fuzz/corpus/$n"
done

# A sanitized daemon with sanitized clients. Any sanitizer report fails the suite.
NETSPYD=$PWD/$SAN/netspyd
NETSPYCTL=$PWD/$SAN/netspyctl
# The storm below is about sanitizer reports, not speed: a backlog that holds all of it, so that a
# sanitized (slower) daemon does not cut its sanitized subscriber off.
start_daemon --backlog-events 2097152 || exit 0
check "[asan] netspyd loaded and attached its programs" grep -q 'ready: programs attached' "$T/netspyd.log"
ctl() { "$NETSPYCTL" --socket "$SOCK" "$@" >/dev/null 2>>"$T/ctl.err"; }
check "[asan] netspyctl status" ctl status
out=$("$NETSPYCTL" --socket "$SOCK" --json status)
check "[asan] netspyctl --json status has events_total" grep -q '"events_total"' <<<"$out"

comm=san$$
"$SAN/tests/subscriber" "$SOCK" --comm "$comm" >"$T/sub.out" 2>"$T/sub.err" &
sub=$!
for i in $(seq 50); do grep -q ready "$T/sub.out" && break; sleep 0.1; done
"$NETSPYCTL" --socket "$SOCK" --json --process "$comm" --max-events 5 --timeout 20 watch \
	>"$T/watch.out" 2>"$T/watch.err" &
watch=$!
sleep 0.5
"$SAN/tests/storm" connect 1 "$comm" >"$T/storm.out"
gen=$(sed -n 's/.*ops=\([0-9]*\).*/\1/p' "$T/storm.out")
kill -USR1 $sub
wait $sub
wait $watch
check_eq "[asan] watch --json printed 5 events of the storm" 5 "$(grep -c "\"process\":\"$comm\"" "$T/watch.out")"
check_eq "[asan] subscriber received all $gen connects of the storm" \
	"events=$gen kernel_loss=0 client_loss=0" "$(grep -o 'events=[0-9]* kernel_loss=[0-9]* client_loss=[0-9]*' "$T/sub.out")"
stop_daemon
check_eq "[asan] netspyd exits 0 on SIGTERM" 0 $?
touch "$T/ctl.err"
for f in "$T"/netspyd.log "$T"/sub.err "$T"/watch.err "$T"/ctl.err; do
	if grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error' "$f"; then
		fail "[asan] sanitizer report in ${f##*/}: $(grep -m1 -E 'Sanitizer|runtime error' "$f")"
	else
		pass "[asan] no sanitizer report in ${f##*/}"
	fi
done
