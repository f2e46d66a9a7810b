#!/usr/bin/env bash
# The README's quick start on a really fresh Debian 12: a fresh copy of the minimal Debian of
# `make check-distro` (tests/distro_lib.sh), booted with systemd-nspawn, /run noexec as Debian's
# initramfs mounts it, the source tree copied in as a clean `git archive` of HEAD (never the build
# directory). There `sudo packaging/quickstart.sh` must install what building needs from the
# Debian archive, build, start netspyd and the recorder and show the events it promises; the
# daemons it leaves must answer as the README says; a second run must start nothing twice; and
# the stop command it prints must stop everything. Slow and needs root and the Debian archive:
# only `make check-distro` runs it (NETSPY_CHECK_DISTRO=1); plain `make check` skips it.
. "$(dirname "$0")/lib.sh"

if [ "${NETSPY_CHECK_DISTRO:-}" != 1 ]; then
	echo "# quickstart: skipped (run 'make check-distro')"
	exit 0
fi
require_root
. "$(dirname "$0")/distro_lib.sh"
ROOT=$CACHE/quickstart
# The .debs apt downloads in the container are kept here between runs (apt still resolves and
# installs everything afresh; only the download is saved).
ARCHIVES=$CACHE/apt-archives
SRC=/root/netspy

for tool in debootstrap systemd-nspawn nsenter bpftool; do
	if ! command -v "$tool" >/dev/null; then
		fail "$tool is not installed (packaging/install-deps.sh installs it)"
		exit 1
	fi
done
# The container shares this machine's network (apt needs the archive): the recorder's port must
# be free here.
if (exec 3<>/dev/tcp/127.0.0.1/9464) 2>/dev/null; then
	skip "quickstart: 127.0.0.1:9464 is in use on this machine, and the quick start's recorder needs it"
	exit 0
fi

# 1. A fresh Debian with the source tree and two users (a member of group netspy is made once the
# quick start has created the group).
distro_base || exit 1
distro_copy "$ROOT" netspy-quickstart-test
mkdir -p "$ROOT$SRC" "$ARCHIVES/partial"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git archive --format=tar HEAD | tar -x -C "$ROOT$SRC"
	check "the source tree is git archive HEAD ($(git rev-parse --short HEAD))" \
		test -x "$ROOT$SRC/packaging/quickstart.sh"
	[ -z "$(git status --porcelain --untracked-files=no)" ] ||
		echo "# quickstart: uncommitted changes are not tested (commit them first)"
else
	tar cf - --exclude=./build --exclude=./.git . | tar xf - -C "$ROOT$SRC"
	check "the source tree (no git: a copy without build/)" test -x "$ROOT$SRC/packaging/quickstart.sh"
fi
chroot "$ROOT" useradd -m mallory

# 2. Boot it, /run as a real Debian 12 has it.
distro_boot "$ROOT" netspy-quickstart-test --bind="$ARCHIVES:/var/cache/apt/archives" || exit 1
ns mount -o remount,noexec /run
check "/run is noexec, as Debian's initramfs mounts it" \
	ns sh -c 'findmnt -no OPTIONS /run | grep -qw noexec'

# quickstart: runs the quick start as the README says (root, from the checkout), in a
# transient unit so that it runs in the container's cgroups as a login shell would; the daemons
# it starts stay when it ends (KillMode=process), as they stay after a shell's sudo.
quickstart() {
	NS_TIMEOUT=1800 ns systemd-run --quiet --wait --pipe --collect -p KillMode=process \
		bash -c "cd $SRC && packaging/quickstart.sh" </dev/null
}
# Processes of the container named COMM (its /proc: minbase has no pgrep).
procs() { ns sh -c "grep -lx '$1' /proc/[0-9]*/comm 2>/dev/null" | sed 's|/proc/\([0-9]*\)/comm|\1|'; }
count_procs() { procs "$1" | grep -c .; }
# has_line TEXT RE / lacks_line TEXT RE: whether a line of TEXT matches the extended regex RE.
has_line() { grep -Eq -- "$2" <<<"$1"; }
lacks_line() { ! has_line "$@"; }

# 3. The first run.
start=$SECONDS
out1=$(quickstart 2>&1)
rc=$?
echo "$out1" >"$CACHE/quickstart-first.log"
echo "# quickstart: the first run took $((SECONDS - start)) s"
check_eq "quickstart.sh exits 0 on a fresh Debian 12" 0 "$rc"
[ "$rc" -eq 0 ] || { echo "$out1" | tail -30 | sed 's/^/# /'; }
check "it says netspyd started" has_line "$out1" \
	'^quickstart: netspyd started \(pid [0-9]+, log /run/netspy/netspyd.log\)$'
check "it says the recorder started, with its metrics and API" has_line "$out1" \
	'^quickstart: netspy-recorder started \(pid [0-9]+, .*http://127.0.0.1:9464/metrics, the API on /run/netspy/api.sock'
check "it shows netspyctl status" has_line "$out1" '^netspyd [0-9.]+ on /run/netspy/netspyd.sock$'
check "  with the recorder's history" has_line "$out1" '^recorder history /var/lib/netspy/history.db$'
check "  and no '(null)' for minutes not written yet" lacks_line "$out1" '\(null\)'
# The events it promises: its TCP connect to port 9 refused, its UDP datagram there dropped.
ev='^[0-9:]{8} \| '
check "it shows its TCP connect to 127.0.0.1:9" has_line "$out1" \
	"${ev}connect +\\| 127\\.0\\.0\\.1:9 +\\| TCP .*\\| quickstart\\["
check "  refused" has_line "$out1" "${ev}outcome +\\| 127\\.0\\.0\\.1:9 +\\| TCP +\\| refused +\\| quickstart\\["
check "it shows its UDP datagram to 127.0.0.1:9 dropped" has_line "$out1" \
	"${ev}drop +\\| 127\\.0\\.0\\.1:9 +\\| UDP +\\| .*\\| quickstart\\["
# shown: what the quick start's watch printed, for the log when a check of it fails.
shown() { sed -n '/^== netspyctl watch/,/^$/s/^/# /p' <<<"$1"; }
has_line "$out1" "${ev}outcome +\\| 127\\.0\\.0\\.1:9 " || shown "$out1"
check "it shows the summary" has_line "$out1" '^All processes had [0-9]+ connections'
stop_cmd=$(sed -n 's/^quickstart: stop netspyd and the recorder with: sudo //p' <<<"$out1")
check_eq "it prints how to stop them" "packaging/quickstart.sh stop" "$stop_cmd"

# 4. What it leaves behind.
out=$(ns "$SRC/build/netspyctl" status 2>&1)
check "netspyctl status answers on /run/netspy/netspyd.sock (${out%%$'\n'*})" \
	grep -q '^netspyd .* on /run/netspy/netspyd.sock' <<<"$out"
check_eq "one netspyd runs" 1 "$(count_procs netspyd)"
check_eq "one recorder runs" 1 "$(count_procs netspy-recorder)"
rpid=$(procs netspy-recorder | head -1)
check_eq "the recorder runs as user and group netspy" "netspy netspy" \
	"$(ns stat -c '%U %G' "/proc/$rpid" 2>/dev/null)" # /proc/PID belongs to the process's user
check_eq "history.db is netspy:netspy" "netspy:netspy" \
	"$(ns stat -c '%U:%G' /var/lib/netspy/history.db 2>/dev/null)"
metrics=$(ns curl -fsS --max-time 30 http://127.0.0.1:9464/metrics 2>&1)
check "/metrics answers on 127.0.0.1:9464 with netspy's metrics" \
	grep -q '^netspy_events_lost_total' <<<"$metrics"
# The recorder answers /health 503 until it has followed netspyd: wait for that.
for i in $(seq 1 100); do
	out=$(ns curl -s --max-time 30 --unix-socket /run/netspy/api.sock http://localhost/health 2>&1)
	grep -q '"netspyd_reachable": *true' <<<"$out" && break
	sleep 0.2
done
check "root calls the API on /run/netspy/api.sock (/health)" \
	grep -q '"netspyd_reachable": *true' <<<"$out"
ns useradd -m -G netspy alice
out=$(as alice curl -s --max-time 30 --unix-socket /run/netspy/api.sock http://localhost/health 2>&1)
check "  and so does a member of group netspy" grep -q '"netspyd_reachable": *true' <<<"$out"
as mallory curl -s --max-time 30 --unix-socket /run/netspy/api.sock http://localhost/health \
	>/dev/null 2>&1
rc=$?
check_eq "a user outside group netspy is refused by the API socket (curl: cannot connect)" 7 "$rc"
# (The recorder's copy of netspyctl: the build tree in /root is closed to other users.)
as mallory /var/lib/netspy-quickstart/netspy-recorder status >/dev/null 2>&1
check_eq "  and by netspyd's socket (netspyctl: permission, exit 3)" 3 $?
cg2=$(findmnt -n -t cgroup2 -o TARGET | head -1)
ccg=$(sed -n 's/^0:://p' "/proc/$CPID/cgroup")
ccg=${ccg%/init.scope}
check "netspyd's programs are attached to the container's cgroup" \
	sh -c "bpftool cgroup show '$cg2$ccg' | grep -q cgroup_connect4"

# 5. A second run is harmless.
start=$SECONDS
out2=$(quickstart 2>&1)
rc=$?
echo "$out2" >"$CACHE/quickstart-second.log"
echo "# quickstart: the second run took $((SECONDS - start)) s"
check_eq "a second run exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || { echo "$out2" | tail -30 | sed 's/^/# /'; }
check "  says netspyd is already running" has_line "$out2" \
	'^quickstart: netspyd is already running on /run/netspy/netspyd.sock$'
check "  says the recorder is already running" has_line "$out2" \
	"^quickstart: the recorder is already running \\(pid $rpid\\)\$"
check "  starts neither again" lacks_line "$out2" ' started \(pid'
check_eq "  one netspyd still" 1 "$(count_procs netspyd)"
check_eq "  one recorder still" 1 "$(count_procs netspy-recorder)"
check "  shows its new traffic refused" has_line "$out2" \
	"${ev}outcome +\\| 127\\.0\\.0\\.1:9 +\\| TCP +\\| refused +\\| quickstart\\["

# 6. The stop command it printed stops everything it started.
out=$(ns bash -c "cd $SRC && $stop_cmd" 2>&1)
rc=$?
check_eq "'$stop_cmd' exits 0" 0 "$rc"
check "  says it stopped the recorder" has_line "$out" '^quickstart: stopped the recorder \(pid [0-9]+\)$'
check "  and netspyd" has_line "$out" '^quickstart: stopped netspyd \(pid [0-9]+\)$'
check_eq "  no netspyd left" 0 "$(count_procs netspyd)"
check_eq "  no recorder left" 0 "$(count_procs netspy-recorder)"
ns "$SRC/build/netspyctl" status >/dev/null 2>&1
check_eq "  netspyctl status: netspyd unreachable (exit 2)" 2 $?
check "  netspyd's socket is gone" ns test ! -e /run/netspy/netspyd.sock
check "  the API's socket is gone" ns test ! -e /run/netspy/api.sock
check "  nothing answers on 127.0.0.1:9464" bash -c '! (exec 3<>/dev/tcp/127.0.0.1/9464) 2>/dev/null'
check "  the programs are detached from the container's cgroup" \
	sh -c "! bpftool cgroup show '$cg2$ccg' | grep -q cgroup_connect4"
check "  the history stays" ns test -s /var/lib/netspy/history.db
out=$(ns bash -c "cd $SRC && $stop_cmd" 2>&1)
rc=$?
check_eq "  stopping again exits 0" 0 "$rc"
check "  and says there is nothing to stop" has_line "$out" \
	'^quickstart: nothing that packaging/quickstart.sh started is running$'
