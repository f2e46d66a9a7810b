#!/usr/bin/env bash
# The RPM spec builds with rpmbuild (on Debian without checking BuildRequires) and the package
# holds the same files as `make install`.
. "$(dirname "$0")/lib.sh"

if ! command -v rpmbuild >/dev/null; then
	fail "rpmbuild is not installed (packaging/install-deps.sh installs the rpm package)"
	exit 1
fi
packaging/build-rpm.sh >"$T/rpm.log" 2>&1
check "packaging/build-rpm.sh builds the RPM ($(tail -1 "$T/rpm.log"))" test $? -eq 0
RPM=$(ls build/rpm/netspy-*.x86_64.rpm 2>/dev/null | head -1)
[ -n "$RPM" ] || exit 1
rpm -qlp "$RPM" >"$T/files" 2>/dev/null
for f in /usr/sbin/netspyd /usr/bin/netspyctl /usr/lib/systemd/system/netspyd.service \
	/usr/lib/sysusers.d/netspy.conf /usr/share/bash-completion/completions/netspyctl; do
	check "RPM ships $f" grep -qx "$f" "$T/files"
done
check "RPM ships netspyd(8)" grep -q '^/usr/share/man/man8/netspyd.8' "$T/files"
check "RPM ships netspyctl(1)" grep -q '^/usr/share/man/man1/netspyctl.1' "$T/files"
check "RPM requires the libraries netspyd links" \
	sh -c "rpm -qp --requires '$RPM' 2>/dev/null | grep -q '^libbpf.so.1'"
