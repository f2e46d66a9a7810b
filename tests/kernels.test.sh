#!/usr/bin/env bash
# The kernel matrix: boots each kernel of tests/kernels/list (Debian's own packages, fetched with
# apt and cached) under qemu-system-x86_64 with an initramfs holding the freshly built netspyd,
# netspyctl, test helpers and suites, runs the listed suites inside and reports their checks,
# prefixed with the kernel. Software emulation (TCG) unless /dev/kvm is usable. Slow: only
# `make check-kernels` runs it (NETSPY_CHECK_KERNELS=1); plain `make check` skips it, and covers
# the host's kernel, the newest point of the matrix.
. "$(dirname "$0")/lib.sh"

if [ "${NETSPY_CHECK_KERNELS:-}" != 1 ]; then
	echo "# kernels: skipped (run 'make check-kernels')"
	exit 0
fi
BUILD=${NETSPY_BUILD:-build}
# Kernel packages are kept here between runs (NETSPY_KERNELS_CACHE moves it).
CACHE=${NETSPY_KERNELS_CACHE:-$PWD/$BUILD/kernels}
LIST=${NETSPY_KERNELS_LIST:-tests/kernels/list}
# Per kernel: the boot and every suite must finish within this many seconds.
VM_TIMEOUT=${NETSPY_VM_TIMEOUT:-900}

for tool in qemu-system-x86_64 busybox cpio apt-get apt-cache dpkg-deb; do
	if ! type -P "$tool" >/dev/null; then
		fail "$tool is not installed (packaging/install-deps.sh installs it)"
		exit 1
	fi
done
mkdir -p "$CACHE/debs"

# newest_package PATTERN: the newest package matching PATTERN that apt can fetch, else the newest
# one already cached (offline runs).
newest_package() {
	local pat=$1 pkg
	pkg=$(apt-cache policy "$pat" 2>/dev/null | awk '
		/^[^ ].*:$/ { p = substr($1, 1, length($1) - 1) }
		/^  Candidate:/ && $2 != "(none)" { print p }' | sort -V | tail -1)
	if [ -z "$pkg" ]; then
		# shellcheck disable=SC2012
		pkg=$(ls "$CACHE/debs" 2>/dev/null | sed -n 's/_.*\.deb$//p' | grep -x "${pat//\*/.*}" |
			sort -V | tail -1)
	fi
	echo "$pkg"
}

# kernel_image PACKAGE: fetches the package (once) and prints the path of its vmlinuz.
kernel_image() {
	local pkg=$1 deb dir
	deb=$(ls "$CACHE/debs/${pkg}"_*.deb 2>/dev/null | sort -V | tail -1)
	if [ -z "$deb" ]; then
		(cd "$CACHE/debs" && apt-get download -qq -o APT::Sandbox::User=root "$pkg") \
			>"$T/download.log" 2>&1 || { cat "$T/download.log" >&2; return 1; }
		deb=$(ls "$CACHE/debs/${pkg}"_*.deb 2>/dev/null | sort -V | tail -1)
		[ -n "$deb" ] || return 1
	fi
	dir=$CACHE/${deb##*/}
	dir=${dir%.deb}
	if [ ! -d "$dir" ]; then
		mkdir -p "$dir.tmp"
		dpkg-deb --fsys-tarfile "$deb" | tar -C "$dir.tmp" -xf - --wildcards './boot/vmlinuz-*' ||
			return 1
		mv "$dir.tmp" "$dir"
	fi
	ls "$dir"/boot/vmlinuz-* | head -1
}

# The initramfs, rebuilt for every run: it carries this build's binaries.
INITRD=$CACHE/initramfs.cpio
if ! tests/kernels/mkinitramfs.sh "$BUILD" "$INITRD" >"$T/mkinitramfs.log" 2>&1; then
	fail "building the initramfs: $(tail -3 "$T/mkinitramfs.log")"
	exit 1
fi
ACCEL=tcg EMULATED=1
if [ -w /dev/kvm ]; then ACCEL=kvm EMULATED=0; fi

while read -r pattern suites; do
	case $pattern in '' | '#'*) continue ;; esac
	pkg=$(newest_package "$pattern")
	if [ -z "$pkg" ]; then
		fail "no package matches $pattern (apt-get update? is the archive in this machine's sources?)"
		continue
	fi
	if ! image=$(kernel_image "$pkg") || [ -z "$image" ]; then
		fail "$pkg: could not fetch or unpack the package"
		continue
	fi
	kver=${image##*/vmlinuz-}
	echo "# $pkg: booting $kver under qemu ($ACCEL), suites $suites"
	log=$T/vm-$kver.log
	start=$(date +%s)
	timeout "$VM_TIMEOUT" qemu-system-x86_64 -accel "$ACCEL" -m 1536 -smp 2 -nographic \
		-no-reboot -kernel "$image" -initrd "$INITRD" \
		-append "console=ttyS0 quiet loglevel=3 panic=-1 netspy.suites=$suites netspy.emulated=$EMULATED" \
		</dev/null >"$log" 2>&1
	rc=$?
	tr -d '\r' <"$log" >"$log.txt"
	# The suites' own lines, marked with the kernel they ran under.
	sed -n '/netspy-vm: kernel/,/^netspy-vm: done/p' "$log.txt" | sed 's/^.*netspy-vm: kernel/netspy-vm: kernel/' |
		sed -e "s/^ok - /ok - [$kver] /" -e "s/^not ok - /not ok - [$kver] /" \
			-e '/^\(not \)\{0,1\}ok - /!s/^/# /'
	check "[$kver] booted and ran its suites to the end ($(($(date +%s) - start)) s)" \
		grep -q '^netspy-vm: done' "$log.txt" ||
		{ [ "$rc" -eq 124 ] && echo "# timed out after ${VM_TIMEOUT}s"; tail -20 "$log.txt" | sed 's/^/# /'; }
	check "[$kver] netspyd loaded on this kernel (the suites ran checks)" \
		grep -q "^ok - " "$log.txt"
done <"$LIST"
