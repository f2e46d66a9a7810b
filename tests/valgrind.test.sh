# The analyzer under valgrind: every netspyctl command we can run against a real daemon must
# finish without invalid accesses, uninitialised reads or leaks (memcheck, --error-exitcode).
. "$(dirname "$0")/lib.sh"
if [ "${SANITIZE:-}" = 1 ]; then
	skip "valgrind cannot run ASan binaries: this suite runs in the plain build"
	exit 0
fi
if ! command -v valgrind >/dev/null 2>&1; then
	fail "valgrind is not installed (packaging/install-deps.sh installs it)"
	exit 0
fi
VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
	--errors-for-leak-kinds=definite,indirect,possible --track-origins=yes)

# vg DESCRIPTION EXPECTED_EXIT ARGS...: netspyctl ARGS under memcheck
vg() {
	local d=$1 want=$2 rc
	shift 2
	"${VG[@]}" --log-file="$T/vg.log" "$NETSPYCTL" "$@" >"$T/vg.out" 2>&1 </dev/null
	rc=$?
	if [ "$rc" -eq 99 ]; then
		fail "valgrind: netspyctl $d: $(grep -m3 -E 'Invalid|uninitialised|definitely|indirectly|possibly' "$T/vg.log" | tr '\n' ' ')"
	elif [ "$rc" -ne "$want" ]; then
		fail "valgrind: netspyctl $d exits $want (got $rc: $(tail -2 "$T/vg.out"))"
	else
		pass "valgrind: netspyctl $d is clean"
	fi
}

vg "--help" 0 --help
vg "with an unknown command" 1 no-such-command
vg "status without a daemon" 2 --socket "$T/absent.sock" status
start_daemon || exit 0
gen=$(unique_gen vgtraffic)
"$gen" udp 127.0.0.1 9 20 send >/dev/null
"$gen" tcp 127.0.0.1 9 5 >/dev/null
wait_events 25
vg "status" 0 --socket "$SOCK" status
vg "--json status" 0 --socket "$SOCK" --json status
vg "watch --replay" 0 --socket "$SOCK" --replay 60 --max-events 20 --timeout 10 watch
vg "--json watch --replay --process" 0 --socket "$SOCK" --json --replay 60 --process vgtraffic \
	--max-events 20 --timeout 10 watch
# The analyzer's query commands, as far as this build has them.
# works ARGS...: netspyctl ARGS succeeds without valgrind (commands this build does not have yet
# are left out: their own suites fail if they should be there).
works() { "$NETSPYCTL" --socket "$SOCK" "$@" >/dev/null 2>&1; }
for cmd in summary list drops list-drops analyze; do
	works "$cmd" || { skip "valgrind: netspyctl $cmd is not available in this build"; continue; }
	vg "$cmd" 0 --socket "$SOCK" "$cmd"
	vg "--json $cmd" 0 --socket "$SOCK" --json "$cmd"
done
# The AI entry points without a key or endpoint: the built-in offline analyst, no network.
q="which processes connect most, and is anything failing?"
for cmd in ask insights; do
	OPENAI_API_KEY= OPENAI_BASE_URL= works "$cmd" "$q" ||
		{ skip "valgrind: netspyctl $cmd (offline) is not available in this build"; continue; }
	OPENAI_API_KEY= OPENAI_BASE_URL= vg "$cmd (offline)" 0 --socket "$SOCK" "$cmd" "$q"
done
# A daemon that goes away under a watching client.
"${VG[@]}" --log-file="$T/vg-watch.log" "$NETSPYCTL" --socket "$SOCK" --timeout 30 watch \
	>/dev/null 2>"$T/watch.err" &
w=$!
sleep 2
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
wait $w
rc=$?
if [ $rc -eq 99 ]; then
	fail "valgrind: netspyctl watch losing its daemon: $(grep -m3 -E 'Invalid|uninit|lost' "$T/vg-watch.log" | tr '\n' ' ')"
else
	check_eq "valgrind: netspyctl watch losing its daemon is clean and exits 2" 2 $rc
fi
