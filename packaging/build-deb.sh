#!/bin/sh
# Builds the Debian package from a clean copy of the tree: copies the source (without build/ and
# .git) and packaging/debian to ./debian in a temporary directory, runs
# `dpkg-buildpackage -us -uc -b` there and then lintian. Results go to build/deb/.
# Usage: packaging/build-deb.sh [--no-lintian]   (DEB_BUILD_OPTIONS=nocheck skips the tests)
set -eu
cd "$(dirname "$0")/.."
top=$PWD
out=$top/build/deb
lintian=yes
[ "${1:-}" = --no-lintian ] && lintian=no

tmp=$(mktemp -d /tmp/netspy-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/netspy
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		grep -zv '^build/' | xargs -0 tar cf - | tar xf - -C "$src"
else
	tar cf - --exclude=./build --exclude=./.git . | tar xf - -C "$src"
fi
rm -rf "$src/debian"
cp -r packaging/debian "$src/debian"

(cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 || {
	tail -40 "$tmp/build.log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed" >&2
	exit 1
}
rm -rf "$out"
mkdir -p "$out"
cp "$tmp/build.log" "$out/"
find "$tmp" -maxdepth 1 -type f \( -name '*.deb' -o -name '*.buildinfo' -o -name '*.changes' \) \
	-exec cp {} "$out/" \;
deb=$(ls "$out"/netspy_*.deb)
echo "build-deb.sh: built $deb"
if [ "$lintian" = yes ]; then
	# Errors fail the build; warnings and information are shown.
	lintian --fail-on error --info "$out"/*.changes | tee "$out/lintian.log"
fi
