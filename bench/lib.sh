# What the benchmark scripts (bench/*.sh) share: the knobs, a private directory removed at exit
# (run.sh adds its own cleanup on top), the median of alternated runs and reading a key=value field
# of a tool's output. Source it first, from the top of the tree: . bench/lib.sh
# Knobs (environment): BENCH_SECONDS (one storm, default 2), BENCH_REPS (alternated runs per
# configuration, default 5), BENCH_CPU (core the storm is pinned to, default 1).
BUILD=${NETSPY_BUILD:-build}
SECS=${BENCH_SECONDS:-2}
REPS=${BENCH_REPS:-5}
CPU=${BENCH_CPU:-1}
T=$(mktemp -d /tmp/netspy-bench.XXXXXX)
SOCK=$T/netspyd.sock
# The netspyd a script started, stopped at exit.
DPID=

bench_cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap bench_cleanup EXIT
getent group netspy >/dev/null || groupadd --system netspy

# median: the median of the numbers on stdin, one a line ("nan" when there are none).
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# field KEY FILE: the last KEY=NUMBER in FILE.
field() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" "$2" | tail -1; }

# bench_daemon_start NETSPYD [VAR=VALUE...]: starts that netspyd binary (with those variables in
# its environment) on $SOCK as $DPID and waits until it answers; exits when it does not start.
bench_daemon_start() {
	local bin=$1
	shift
	env "$@" "$bin" --socket "$SOCK" --log-target console >"$T/netspyd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do "$BUILD/netspyctl" --socket "$SOCK" status >/dev/null 2>&1 && return; sleep 0.1; done
	echo "netspyd ($bin $*) did not start: $(tail -3 "$T/netspyd.log")" >&2
	exit 1
}
bench_daemon_stop() { kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }
