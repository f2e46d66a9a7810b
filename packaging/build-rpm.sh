#!/bin/sh
# Builds the RPM from packaging/rpm/netspy.spec and a source tarball of the tree (without build/
# and .git). On a non-RPM distribution (Debian) the BuildRequires cannot be checked against an
# RPM database, so they are skipped (--nodeps) and no debuginfo package is made; the build, the
# install into the buildroot and the file list are still checked. Results go to build/rpm/.
set -eu
cd "$(dirname "$0")/.."
out=$PWD/build/rpm
version=$(sed -n 's/^Version: *//p' packaging/rpm/netspy.spec)
tmp=$(mktemp -d /tmp/netspy-rpm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/SOURCES" "$tmp/src/netspy-$version"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		grep -zv '^build/' | xargs -0 tar cf - | tar xf - -C "$tmp/src/netspy-$version"
else
	tar cf - --exclude=./build --exclude=./.git . | tar xf - -C "$tmp/src/netspy-$version"
fi
tar czf "$tmp/SOURCES/netspy-$version.tar.gz" -C "$tmp/src" "netspy-$version"
cp systemd/netspy.sysusers "$tmp/SOURCES/"

nodeps=
command -v dpkg >/dev/null 2>&1 && ! rpm -q rpm >/dev/null 2>&1 && nodeps=--nodeps
rpmbuild -bb $nodeps --define "_topdir $tmp" --define 'debug_package %{nil}' \
	packaging/rpm/netspy.spec >"$tmp/build.log" 2>&1 || {
	tail -30 "$tmp/build.log" >&2
	echo "build-rpm.sh: rpmbuild failed" >&2
	exit 1
}
rm -rf "$out"
mkdir -p "$out"
cp "$tmp/build.log" "$out/"
find "$tmp/RPMS" -name '*.rpm' -exec cp {} "$out/" \;
echo "build-rpm.sh: built $(ls "$out"/*.rpm)"
