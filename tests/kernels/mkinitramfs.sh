#!/usr/bin/env bash
# Builds the initramfs that tests/kernels.test.sh boots each kernel of the matrix with: busybox for
# the boot, this machine's own copies of the programs the integration suites run (bash, python3,
# bpftool, coreutils...) with their libraries, and the freshly built netspyd, netspyctl, test
# helpers and suites. The suites use loopback, cgroup2, BPF and nftables: tests/kernels.test.sh
# appends, per kernel, the nftables modules of that kernel's package as a second archive.
# Usage: tests/kernels/mkinitramfs.sh BUILD OUTPUT.cpio
set -euo pipefail
BUILD=$1 OUT=$2
cd "$(dirname "$0")/../.."
R=$(mktemp -d /tmp/netspy-initramfs.XXXXXX)
chmod 755 "$R" # the image's /: every user must be able to reach the programs
trap 'rm -rf "$R"' EXIT

# Commands the suites call (tests/lib.sh, collector, rings), taken from this machine.
CMDS="bash sh bpftool taskset setpriv getent stat date cp mv mktemp seq sleep grep sed awk
	wc cut sort uniq tail head cat id kill env timeout chmod rm mkdir tee ls nproc ip sysctl tr
	dirname basename printf readlink true false test uname ps pgrep mount umount unshare
	findmnt paste nft dig"

copy_file() { # copies a file (following links) to the same path in the image
	local f=$1
	[ -e "$R$f" ] && return 0
	mkdir -p "$R$(dirname "$f")"
	cp -L "$f" "$R$f"
}
copy_with_libs() {
	local f=$1 lib
	copy_file "$f"
	for lib in $(ldd "$f" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
		copy_file "$lib"
	done
}

# Merged /usr, as on Debian 12: /bin, /sbin and /lib are links into /usr.
mkdir -p "$R"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,proc,sys,dev,tmp,run,root,netspy}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$R/$d"; done
chmod 1777 "$R/tmp"
for c in $CMDS; do
	p=$(type -P "$c" || true)
	case $p in /*) copy_with_libs "$p" ;; *) echo "mkinitramfs: $c not found" >&2 ;; esac
done
# The distribution's python3 (not one a user installed elsewhere on PATH) and its standard
# library, without its tests, tools and add-on packages.
PY=${NETSPY_VM_PYTHON:-/usr/bin/python3}
py=$(readlink -f "$PY")
copy_with_libs "$py"
ln -sf "$(basename "$py")" "$R/usr/bin/python3"
pylib=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
mkdir -p "$R$pylib"
tar -C "$pylib" --exclude=test --exclude=idlelib --exclude=tkinter --exclude=ensurepip \
	--exclude=lib2to3 --exclude=pydoc_data --exclude=site-packages --exclude=dist-packages \
	--exclude=config-\* -cf - . | tar -C "$R$pylib" -xf -
for so in "$R$pylib"/lib-dynload/*.so; do copy_with_libs "${so#"$R"}"; done
# The dynamic loader and name service (getent, setpriv --groups resolve names from /etc).
copy_file /lib64/ld-linux-x86-64.so.2
for lib in /lib/x86_64-linux-gnu/libnss_files.so.2; do [ -e "$lib" ] && copy_file "$lib"; done
cp /bin/busybox "$R/bin/busybox" 2>/dev/null || cp "$(command -v busybox)" "$R/bin/busybox"

# Users and groups the suites need: root, nobody/nogroup (refused peers) and netspy.
cat >"$R/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
P
cat >"$R/etc/group" <<'G'
root:x:0:
nogroup:x:65534:
netspy:x:999:
G
echo 'passwd: files
group: files
hosts: files dns' >"$R/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$R/etc/hosts"
# The dns suite points glibc's resolver at a responder of its own (a bind mount over this file).
echo 'nameserver 127.0.0.1' >"$R/etc/resolv.conf"

# netspy: the binaries, the helpers and the suites, laid out as in the tree.
mkdir -p "$R/netspy/$BUILD/tests" "$R/netspy/tests"
for b in "$BUILD/netspyd" "$BUILD/netspyctl" "$BUILD"/tests/*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	case $b in */unit_*) continue ;; esac
	cp "$b" "$R/netspy/$b"
	copy_with_libs "$b"
done
cp tests/run-all tests/lib.sh tests/*.test.sh "$R/netspy/tests/"
mkdir -p "$R/netspy/tests/tools"
cp tests/tools/*.py "$R/netspy/tests/tools/"
cp tests/kernels/init "$R/init"
chmod 755 "$R/init"

(cd "$R" && find . | cpio -o -H newc --quiet) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
