# The booted Debian 12 containers of `make check-distro` (tests/distro.test.sh: the package;
# tests/quickstart.test.sh: packaging/quickstart.sh): a minimal Debian debootstrapped once and kept,
# a fresh copy of it per suite, booted with `systemd-nspawn --boot`. Source it after lib.sh.
BUILD=${NETSPY_BUILD:-build}
# The debootstrapped base is kept here between runs (NETSPY_DISTRO_CACHE moves it, e.g. to a
# directory a CI runner keeps).
CACHE=${NETSPY_DISTRO_CACHE:-$PWD/$BUILD/distro}
BASE=$CACHE/base
SUITE=bookworm
# What the container needs besides the package: systemd to boot, and the package's libraries so
# that installing needs no download when they have not changed.
INCLUDE=systemd,systemd-sysv,dbus,passwd,util-linux,libbpf1,libprotobuf-c1,libjson-c5,libcurl4
INCLUDE=$INCLUDE,libedit2,libsystemd0,libsqlite3-0,libmicrohttpd12,curl

# The Debian mirror this machine's apt uses (deb822 sources first, then the one-line format).
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '/^URIs:/ { u = $2 } /^Suites:/ && / '"$SUITE"'( |$)/ && u { print u; exit }
		     /^$/ { u = "" }' "$f"
	done | head -1 | grep . && return 0
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" && $0 ~ " '"$SUITE"' " { for (i = 2; i <= NF; i++)
			if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' | grep .
}

# distro_base: a minimal Debian $SUITE in $BASE, debootstrapped once (again when INCLUDE changes).
distro_base() {
	local stamp=$BASE/.netspy-base-complete mirror
	if [ ! -e "$stamp" ] || [ "$(cat "$stamp")" != "$INCLUDE" ]; then
		mirror=$(apt_mirror)
		if [ -z "$mirror" ]; then
			fail "no $SUITE mirror in this machine's apt sources"
			return 1
		fi
		rm -rf "$BASE" "$BASE.tmp"
		mkdir -p "$CACHE"
		if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$BASE.tmp" "$mirror" \
			>"$CACHE/debootstrap.log" 2>&1; then
			fail "debootstrap failed: $(tail -3 "$CACHE/debootstrap.log")"
			return 1
		fi
		echo "$INCLUDE" >"$BASE.tmp/.netspy-base-complete"
		mv "$BASE.tmp" "$BASE"
	fi
	pass "minimal Debian $SUITE in $BASE"
}

# distro_copy ROOT HOSTNAME: a fresh copy of the base in ROOT.
distro_copy() {
	rm -rf "$1"
	cp -a "$BASE" "$1"
	echo "$2" >"$1/etc/hostname"
}

# distro_boot ROOT MACHINE [NSPAWN OPTION...]: boots ROOT and waits until its systemd has booted;
# sets NSPAWN (the nspawn process) and CPID (the container's systemd, for ns and as), and stops
# the container at exit. eBPF inside the container needs: CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN
# in the container's bounding set (nspawn keeps none of them by default) and bpf() and
# perf_event_open() allowed by nspawn's seccomp filter. The container shares the host's network
# (loopback traffic, and apt reaches the Debian archive) and gets its own cgroup2 subtree, which
# is the cgroup root netspyd attaches to.
distro_boot() {
	local root=$1 machine=$2 state deadline i
	shift 2
	systemd-nspawn --boot --directory="$root" --machine="$machine" --register=no --keep-unit \
		--console=passive --capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN \
		"--system-call-filter=bpf perf_event_open" "$@" >"$T/nspawn.log" 2>&1 &
	NSPAWN=$!
	on_exit kill_container
	CPID=
	for i in $(seq 1 100); do
		# nspawn forks helpers first: the container is the child that runs systemd.
		CPID=$(pgrep -P "$NSPAWN" -x systemd | head -1)
		[ -n "$CPID" ] && break
		kill -0 "$NSPAWN" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$CPID" ]; then
		fail "systemd-nspawn --boot did not start: $(tail -5 "$T/nspawn.log")"
		return 1
	fi
	# is-system-running answers only once the container's systemd listens; --wait then waits
	# for boot.
	state=
	deadline=$((SECONDS + 120))
	while [ $SECONDS -lt $deadline ]; do
		state=$(ns systemctl is-system-running --wait 2>/dev/null)
		[ -n "$state" ] && break
		sleep 0.2
	done
	check "container booted (system state '$state')" test "$state" = running -o "$state" = degraded
}

# At exit: a container still running is asked to stop (SIGTERM: nspawn shuts it down), then killed.
kill_container() {
	local i
	kill -TERM "$NSPAWN" 2>/dev/null || return 0
	for i in $(seq 1 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$NSPAWN" 2>/dev/null
	wait "$NSPAWN"
}

# ns CMD...: runs CMD inside the container (as root, outside any unit), for at most NS_TIMEOUT
# seconds (default 60).
ns() { timeout "${NS_TIMEOUT:-60}" nsenter --target "$CPID" --all "$@"; }
# as USER CMD...: runs CMD as USER in a transient unit, i.e. inside the container's cgroups.
as() { local u=$1; shift; ns systemd-run --quiet --wait --pipe --collect -p User="$u" "$@"; }
