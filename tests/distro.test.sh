#!/usr/bin/env bash
# The Debian package on a real systemd: builds the .deb, installs it into a minimal Debian 12
# (debootstrap, cached in $BUILD/distro/base), boots that with `systemd-nspawn --boot`, and checks
# that netspyd.service runs hardened, answers netspyctl for a member of group netspy, logs to the
# journal and stops cleanly. Slow and needs root: only `make check-distro` runs it
# (NETSPY_CHECK_DISTRO=1); plain `make check` skips it.
. "$(dirname "$0")/lib.sh"

if [ "${NETSPY_CHECK_DISTRO:-}" != 1 ]; then
	echo "# distro: skipped (run 'make check-distro')"
	exit 0
fi
require_root
. "$(dirname "$0")/distro_lib.sh"
ROOT=$CACHE/root

MSGID_STARTED=1a8d1eafe18a43f18a3d7158fbd3ec7d
MSGID_READY=26554b27536e4623b53fc15b15975e8e
MSGID_STOPPING=a5dfabecbaee4483a3af504a4a33cf29

for tool in debootstrap systemd-nspawn dpkg-buildpackage nsenter bpftool; do
	if ! command -v "$tool" >/dev/null; then
		fail "$tool is not installed (packaging/install-deps.sh installs it)"
		exit 1
	fi
done

# 1. The package, built from a clean copy of the tree, lintian clean of errors.
packaging/build-deb.sh >"$T/build-deb.log" 2>&1
check "packaging/build-deb.sh builds the package, lintian reports no errors" test $? -eq 0 ||
	{ tail -20 "$T/build-deb.log"; exit 1; }
DEB=$(ls "$BUILD"/deb/netspy_*_*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || { fail "no .deb in $BUILD/deb"; exit 1; }
dpkg -c "$DEB" >"$T/contents"
for f in ./usr/sbin/netspyd ./usr/bin/netspyctl ./lib/systemd/system/netspyd.service \
	./lib/systemd/system/netspy-recorder.service ./lib/systemd/system/netspy-recorder.socket \
	./usr/lib/sysusers.d/netspy.conf ./usr/share/man/man8/netspyd.8.gz \
	./usr/share/man/man1/netspyctl.1.gz ./usr/share/bash-completion/completions/netspyctl; do
	check "package ships ${f#.}" grep -q " $f\$" "$T/contents"
done

# hardening=+all: position independent, full RELRO, stack protector, fortified calls.
dpkg -x "$DEB" "$T/x"
for bin in usr/sbin/netspyd usr/bin/netspyctl; do
	check "$bin is PIE" sh -c "readelf -h '$T/x/$bin' | grep -q 'Type:.*DYN'"
	check "$bin has full RELRO" sh -c "readelf -d '$T/x/$bin' | grep -q 'FLAGS.*NOW'"
	check "$bin has fortified calls" sh -c "readelf -W --dyn-syms '$T/x/$bin' | grep -q '__.*_chk'"
done

# 2. A minimal Debian 12, debootstrapped once and kept.
distro_base || exit 1

# 3. A fresh copy of it with the package installed (apt resolves the dependencies).
distro_copy "$ROOT" netspy-distro-test
cp "$DEB" "$ROOT/var/cache/netspy.deb"
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /var/cache/netspy.deb \
	>"$T/install.log" 2>&1
check "apt-get install of the package in the container tree" test $? -eq 0 ||
	{ tail -20 "$T/install.log"; exit 1; }
check "installing created group netspy" grep -q '^netspy:' "$ROOT/etc/group"
check "installing enabled netspyd.service" \
	test -L "$ROOT/etc/systemd/system/multi-user.target.wants/netspyd.service"
chroot "$ROOT" useradd -m -G netspy alice
chroot "$ROOT" useradd -m mallory

# 4. Boot it.
distro_boot "$ROOT" netspy-distro-test || exit 1

# 5. The service.
for i in $(seq 1 100); do
	[ "$(ns systemctl is-active netspyd 2>/dev/null)" = active ] && break
	sleep 0.1
done
check_eq "netspyd.service is active" active "$(ns systemctl is-active netspyd 2>/dev/null)"
[ "$(ns systemctl is-active netspyd)" = active ] ||
	ns journalctl -b -u netspyd --no-pager | tail -20
check_eq "netspyd.service is enabled" enabled "$(ns systemctl is-enabled netspyd 2>/dev/null)"
check_eq "socket is root:netspy 0660" "root:netspy 660" \
	"$(ns stat -c '%U:%G %a' /run/netspy/netspyd.sock 2>/dev/null)"
ns_grep() { local re=$1; shift; ns "$@" 2>/dev/null | grep -q -- "$re"; }
journal_has() { ns_grep . journalctl -q -b -u netspyd "MESSAGE_ID=$1"; }
check "STATUS= shows live counters" ns_grep 'events, .* lost' systemctl show -p StatusText netspyd
check_eq "WatchdogSec=30s" 30s "$(ns systemctl show -p WatchdogUSec --value netspyd)"
check "watchdog pinged" ns_grep '^WatchdogTimestampMonotonic=[1-9]' \
	systemctl show -p WatchdogTimestampMonotonic netspyd
mainpid=$(ns systemctl show -p MainPID --value netspyd)
check_eq "netspyd holds no capability after setup" 0000000000000000 \
	"$(ns sed -n 's/^CapEff:\t//p' "/proc/$mainpid/status")"
check_eq "bounding set is CAP_BPF CAP_PERFMON CAP_NET_ADMIN" \
	"$(printf '%016x' $(((1 << 12) | (1 << 38) | (1 << 39))))" \
	"$(ns sed -n 's/^CapBnd:\t//p' "/proc/$mainpid/status")"
out=$(ns systemd-analyze verify --man=no /lib/systemd/system/netspyd.service 2>&1)
check "systemd-analyze verify clean in the container${out:+: $out}" test -z "$out"

# The programs are attached to the container's cgroup2 root (its subtree of the host's).
cg2=$(findmnt -n -t cgroup2 -o TARGET | head -1)
ccg=$(sed -n 's/^0:://p' "/proc/$CPID/cgroup")
ccg=${ccg%/init.scope}
check "cgroup/connect4 attached to the container's cgroup" \
	sh -c "bpftool cgroup show '$cg2$ccg' | grep -q cgroup_connect4"

# 6. netspyctl as a member of netspy, with traffic made inside the container.
out=$(as alice netspyctl status 2>&1)
check "netspyctl status as a member of netspy (${out%%$'\n'*})" \
	grep -q 'netspyd .* on /run/netspy/netspyd.sock' <<<"$out"
as alice bash -c 'for i in 1 2 3; do echo >/dev/tcp/127.0.0.1/9; done' >/dev/null 2>&1
connects=0
for i in $(seq 1 50); do
	connects=$(as alice netspyctl --json status 2>/dev/null |
		sed -n 's/.*"connects_total": *\([0-9]*\).*/\1/p')
	[ "${connects:-0}" -ge 3 ] && break
	sleep 0.2
done
check_ge "netspyd saw the container's connects" 3 "${connects:-0}"
out=$(as alice netspyctl summary 2>&1)
rc=$?
check "netspyctl summary as a member of netspy (exit $rc: ${out%%$'\n'*})" test $rc -eq 0
total=$(as alice netspyctl --json summary --process bash --duration 600 2>/dev/null |
	sed -n 's/.*"total_connections": *\([0-9]*\).*/\1/p')
check_ge "netspyctl summary counts the container's connects" 3 "${total:-0}"
as mallory netspyctl status >/dev/null 2>&1
check_eq "netspyctl as a user outside netspy: permission denied (exit 3)" 3 $?

# 6b. The recorder: user netspy, its state directory, history and metrics (on loopback).
for i in $(seq 1 100); do
	[ "$(ns systemctl is-active netspy-recorder 2>/dev/null)" = active ] && break
	sleep 0.1
done
check_eq "netspy-recorder.service is active" active "$(ns systemctl is-active netspy-recorder 2>/dev/null)"
[ "$(ns systemctl is-active netspy-recorder)" = active ] ||
	ns journalctl -b -u netspy-recorder --no-pager | tail -20
rpid=$(ns systemctl show -p MainPID --value netspy-recorder)
check_eq "the recorder runs as user and group netspy" "netspy netspy" \
	"$(ns stat -c '%U %G' "/proc/$rpid" 2>/dev/null)" # /proc/PID belongs to the process's user
check_eq "the recorder holds no capability" 0000000000000000 \
	"$(ns sed -n 's/^CapEff:\t//p' "/proc/$rpid/status")"
check_eq "history.db is netspy:netspy 0640" "netspy:netspy 640" \
	"$(ns stat -c '%U:%G %a' /var/lib/netspy/history.db 2>/dev/null)"
out=$(ns systemd-analyze verify --man=no /lib/systemd/system/netspy-recorder.service 2>&1)
check "systemd-analyze verify netspy-recorder.service clean${out:+: $out}" test -z "$out"
check "/metrics answers on 127.0.0.1:9464" ns_grep '^netspy_events_lost_total' bash -c \
	'exec 3<>/dev/tcp/127.0.0.1/9464; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3'
out=$(as alice netspyctl status 2>&1)
check "netspyctl status shows the recorder's history to a member of netspy" \
	grep -q 'recorder history /var/lib/netspy/history.db' <<<"$out"
# The API: /run/netspy/api.sock from netspy-recorder.socket, root:netspy 0660, beside netspyd's.
check_eq "netspy-recorder.socket is active" active "$(ns systemctl is-active netspy-recorder.socket 2>/dev/null)"
check_eq "/run/netspy/api.sock is root:netspy 0660" "root:netspy 660" \
	"$(ns stat -c '%U:%G %a' /run/netspy/api.sock 2>/dev/null)"
out=$(as alice curl -s --max-time 30 --unix-socket /run/netspy/api.sock http://localhost/health 2>&1)
check "a member of netspy calls the API (/health)" grep -q '"netspyd_reachable": *true' <<<"$out"
out=$(as alice curl -s --max-time 60 --unix-socket /run/netspy/api.sock \
	-d '{"process_name":"bash","duration":600}' http://localhost/api/v1/tools/get_network_summary 2>&1)
check "  and a tool (get_network_summary)" grep -q '"total_connections"' <<<"$out"
as mallory curl -s --max-time 30 --unix-socket /run/netspy/api.sock http://localhost/health >/dev/null 2>&1
check "a user outside netspy is refused by the API socket (curl exit $?)" test $? -ne 0

# 7. The journal.
for id in STARTED READY; do
	var=MSGID_$id
	check "journalctl -u netspyd MESSAGE_ID=... finds the ${id,,} record" journal_has "${!var}"
done

# 8. Restart=on-failure: a crash brings it back.
ns systemctl kill -s SIGKILL netspyd
for i in $(seq 1 100); do
	n=$(ns systemctl show -p NRestarts --value netspyd)
	[ "${n:-0}" -ge 1 ] && [ "$(ns systemctl is-active netspyd)" = active ] && break
	sleep 0.1
done
check "restarted after a crash (NRestarts=$n)" test "${n:-0}" -ge 1
check_eq "active again after the restart" active "$(ns systemctl is-active netspyd)"

# 9. A clean stop: programs detached, stopping record logged, socket gone.
ns systemctl stop netspyd
check_eq "stopped cleanly (Result)" success "$(ns systemctl show -p Result --value netspyd)"
check_eq "inactive after stop" inactive "$(ns systemctl is-active netspyd)"
check "stopping record in the journal" journal_has "$MSGID_STOPPING"
check "programs detached from the container's cgroup" \
	sh -c "! bpftool cgroup show '$cg2$ccg' | grep -q cgroup_connect4"
check "socket removed" ns test ! -e /run/netspy/netspyd.sock

# 10. Purge removes what the package added.
ns systemctl start netspyd
ns env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q netspy >"$T/purge.log" 2>&1
check "apt-get purge succeeds" test $? -eq 0
check_eq "purge stopped the service" inactive "$(ns systemctl is-active netspyd)"
check "purge removed netspyd" test ! -e "$ROOT/usr/sbin/netspyd"
check "purge removed the unit" test ! -e "$ROOT/lib/systemd/system/netspyd.service"
check "purge removed the enablement" \
	test ! -e "$ROOT/etc/systemd/system/multi-user.target.wants/netspyd.service"
check "purge removed group netspy" sh -c "! grep -q '^netspy:' '$ROOT/etc/group'"

# 11. Installing on a running system creates the group again and starts the service at once.
ns env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /var/cache/netspy.deb \
	>"$T/reinstall.log" 2>&1
check "apt-get install on the running system" test $? -eq 0
for i in $(seq 1 100); do
	[ "$(ns systemctl is-active netspyd)" = active ] && break
	sleep 0.1
done
check_eq "installing started netspyd.service" active "$(ns systemctl is-active netspyd)"
check "installing created group netspy again" grep -q '^netspy:' "$ROOT/etc/group"
ns usermod -aG netspy alice
check "netspyctl status works after reinstalling" ns_grep 'netspyd .* on ' \
	systemd-run --quiet --wait --pipe --collect -p User=alice netspyctl status

# 12. Power the container off: netspyd stops with the system.
ns systemctl poweroff >/dev/null 2>&1
for i in $(seq 1 300); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$NSPAWN" 2>/dev/null; then
	fail "container did not power off within 30 s"
	kill -KILL "$NSPAWN"
fi
wait "$NSPAWN"
check_eq "container powered off cleanly" 0 $?
# Three clean stops were logged: systemctl stop, purge, and this poweroff.
stops=$(journalctl -q -D "$ROOT/var/log/journal" -u netspyd "MESSAGE_ID=$MSGID_STOPPING" 2>/dev/null |
	grep -c 'stopping: ')
check_eq "a stopping record for each stop, the poweroff included" 3 "$stops"
