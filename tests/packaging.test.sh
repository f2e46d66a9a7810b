#!/usr/bin/env bash
# Installation and service files: `make install`/`uninstall` with DESTDIR and PREFIX, the unit
# passes `systemd-analyze verify` and scores 3.0 or better in `systemd-analyze security`, the
# sysusers entry creates the group, the man pages and the completion cover every option.
. "$(dirname "$0")/lib.sh"
BUILD=${NETSPY_BUILD:-build}
R=$T/root

make -s install BUILD="$BUILD" DESTDIR="$R" PREFIX=/usr >"$T/install.log" 2>&1
check "make install DESTDIR=... PREFIX=/usr succeeds ($(tail -1 "$T/install.log"))" test $? -eq 0
for f in usr/sbin/netspyd usr/bin/netspyctl; do
	check "installed executable /$f" test -x "$R/$f"
done
for f in usr/share/man/man8/netspyd.8 usr/share/man/man1/netspyctl.1 \
	lib/systemd/system/netspyd.service lib/systemd/system/netspy-recorder.service \
	lib/systemd/system/netspy-recorder.socket usr/lib/sysusers.d/netspy.conf \
	usr/share/bash-completion/completions/netspyctl; do
	check_eq "installed /$f mode 644" 644 "$(stat -c %a "$R/$f" 2>/dev/null)"
done

make -s install BUILD="$BUILD" DESTDIR="$T/local" >/dev/null 2>&1
check "default PREFIX puts netspyd in /usr/local/sbin" test -x "$T/local/usr/local/sbin/netspyd"
check_eq "the unit's ExecStart follows SBINDIR" "ExecStart=/usr/local/sbin/netspyd" \
	"$(grep '^ExecStart=' "$T/local/lib/systemd/system/netspyd.service")"

# verify checks ExecStart and the Documentation= man pages on this machine: point both at the
# staged tree.
sed "s|^ExecStart=.*|ExecStart=$R/usr/sbin/netspyd|" "$R/lib/systemd/system/netspyd.service" \
	>"$T/netspyd.service"
out=$(MANPATH="$R/usr/share/man" systemd-analyze verify "$T/netspyd.service" 2>&1)
check "systemd-analyze verify is clean${out:+: $out}" test -z "$out"

score=$(systemd-analyze security --offline=yes systemd/netspyd.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for netspyd.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security exposure is 3.0 or lower (got '$score')" \
	awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 3.0) }'
check "docs/service.md reports the current exposure score $score" \
	grep -q "exposure level.*$score" docs/service.md

# The recorder's unit: verified, hardened at least as well as netspyd's, no capabilities.
check_eq "the recorder's ExecStart follows BINDIR" "ExecStart=/usr/local/bin/netspyctl record" \
	"$(grep '^ExecStart=' "$T/local/lib/systemd/system/netspy-recorder.service")"
sed "s|^ExecStart=.*|ExecStart=$R/usr/bin/netspyctl record|" \
	"$R/lib/systemd/system/netspy-recorder.service" >"$T/netspy-recorder.service"
cp "$R/lib/systemd/system/netspy-recorder.socket" "$T/"
out=$(MANPATH="$R/usr/share/man" systemd-analyze verify "$T/netspy-recorder.service" 2>&1)
check "systemd-analyze verify netspy-recorder.service is clean${out:+: $out}" test -z "$out"
out=$(MANPATH="$R/usr/share/man" systemd-analyze verify "$T/netspy-recorder.socket" 2>&1)
check "systemd-analyze verify netspy-recorder.socket is clean${out:+: $out}" test -z "$out"
check "the API socket is group netspy, mode 0660" \
	sh -c "grep -qx 'SocketGroup=netspy' systemd/netspy-recorder.socket && grep -qx 'SocketMode=0660' systemd/netspy-recorder.socket"
rscore=$(systemd-analyze security --offline=yes systemd/netspy-recorder.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for netspy-recorder.service: \([0-9.]*\).*/\1/p')
check "netspy-recorder.service is hardened at least as well as netspyd ($rscore <= $score)" \
	awk -v r="$rscore" -v s="$score" 'BEGIN { exit !(r != "" && r + 0 <= s + 0) }'
check "the recorder has no capabilities" grep -qx 'CapabilityBoundingSet=' systemd/netspy-recorder.service
check "the recorder runs as user and group netspy" \
	sh -c "grep -qx 'User=netspy' systemd/netspy-recorder.service && grep -qx 'Group=netspy' systemd/netspy-recorder.service"

check "the unit keeps only CAP_BPF CAP_PERFMON CAP_NET_ADMIN" \
	grep -qx 'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN' systemd/netspyd.service

if command -v systemd-sysusers >/dev/null; then
	mkdir -p "$R/etc"
	systemd-sysusers --root="$R" >/dev/null 2>&1
	check "sysusers entry creates group netspy" grep -q '^netspy:' "$R/etc/group"
	check "sysusers entry creates user netspy in group netspy, home /var/lib/netspy" \
		grep -q '^netspy:x:[0-9]*:[0-9]*:.*:/var/lib/netspy:' "$R/etc/passwd"
fi

make -s uninstall BUILD="$BUILD" DESTDIR="$R" PREFIX=/usr >/dev/null 2>&1
left=$(find "$R" -type f ! -path "$R/etc/*" | sed "s|^$R||")
check "make uninstall removes every installed file${left:+ (left: $left)}" test -z "$left"

# Every long option of both --help outputs is documented and completed.
for opt in $("$NETSPYD" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	check "netspyd.8 documents $opt" grep -q -- "${opt//-/\\\\-}" docs/netspyd.8
done
for opt in $("$NETSPYCTL" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	check "netspyctl.1 documents $opt" grep -q -- "${opt//-/\\\\-}" docs/netspyctl.1
	check "completion offers $opt" grep -q -- "$opt" packaging/bash-completion/netspyctl
done
man_warnings() { MANWIDTH=80 man --warnings -l docs/netspyd.8 docs/netspyctl.1 2>&1 >/dev/null; }
check_eq "man pages format without warnings" "" "$(man_warnings)"

# The completion itself, with bash-completion's _init_completion stubbed.
complete_words() {
	bash -c '
		_init_completion() {
			cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
			words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
		}
		. packaging/bash-completion/netspyctl
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_netspyctl; echo "${COMPREPLY[*]}"' _ "$@"
}
check_eq "completion: netspyctl li" "list list-drops list-dns" "$(complete_words netspyctl li)"
check_eq "completion: netspyctl --tool get_n" "get_network_summary" \
	"$(complete_words netspyctl --tool get_n)"
check_eq "completion: no second command" "" "$(complete_words netspyctl summary st)"
