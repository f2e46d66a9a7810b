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

# The Debian mirror this machine's apt uses (deb822 sources first, then the one-line format).
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' "$f"
	done | head -1 | grep . && return 0
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' |
		grep -v security | head -1 | grep .
}

# apt_for RELEASE: sets APT_OPTS so that apt-get and apt-cache see that Debian release (e.g.
# bullseye, for an older kernel) through a private list of sources and package lists under
# $CACHE/apt-RELEASE, refreshed once a day; empty RELEASE: this machine's own sources.
apt_for() {
	local rel=$1 dir mirror
	APT_OPTS=()
	[ -n "$rel" ] || return 0
	dir=$CACHE/apt-$rel
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	APT_OPTS=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=$dir/none"
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache")
	if [ ! -f "$dir/sources.list" ]; then
		if ! mirror=$(apt_mirror); then
			echo "# no Debian mirror in this machine's apt sources for $rel"
			return 0
		fi
		# The release's own archive (its point releases' kernels), not its security updates:
		# an older release's security packages come and go.
		echo "deb $mirror $rel main" >"$dir/sources.list"
	fi
	if [ -z "$(find "$dir/lists" -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
		apt-get "${APT_OPTS[@]}" -qq update >"$T/apt-update.log" 2>&1 ||
			echo "# apt-get update for $rel failed: $(tail -1 "$T/apt-update.log")"
	fi
}

# candidates PATTERN: the packages matching PATTERN, newest first: those apt can fetch, then
# those already cached (offline runs).
candidates() {
	local pat=$1
	{
		apt-cache "${APT_OPTS[@]}" policy "$pat" 2>/dev/null | awk '
			/^[^ ].*:$/ { p = substr($1, 1, length($1) - 1) }
			/^  Candidate:/ && $2 != "(none)" { print p }'
		# shellcheck disable=SC2012
		ls "$CACHE/debs" 2>/dev/null | sed -n 's/_.*\.deb$//p' | grep -x "${pat//\*/.*}"
	} | sort -uV | tac
}

# kernel_image PACKAGE: fetches the package (once) and prints the path of its vmlinuz.
kernel_image() {
	local pkg=$1 deb dir
	deb=$(ls "$CACHE/debs/${pkg}"_*.deb 2>/dev/null | sort -V | tail -1)
	if [ -z "$deb" ]; then
		(cd "$CACHE/debs" && apt-get "${APT_OPTS[@]}" download -qq -o APT::Sandbox::User=root "$pkg") \
			>"$T/download.log" 2>&1 || { cat "$T/download.log" >&2; return 1; }
		deb=$(ls "$CACHE/debs/${pkg}"_*.deb 2>/dev/null | sort -V | tail -1)
		[ -n "$deb" ] || return 1
	fi
	dir=$CACHE/${deb##*/}
	dir=${dir%.deb}
	# Extracted once; again when the list of modules grew since.
	if [ -d "$dir/lib" ] && [ -d "$dir/lib/modules" ]; then
		for m in $VM_MODULES; do
			ls "$dir"/lib/modules/*/"$m" >/dev/null 2>&1 || { rm -rf "$dir"; break; }
		done
	fi
	if [ ! -d "$dir/lib" ]; then
		rm -rf "$dir" "$dir.tmp"
		mkdir -p "$dir.tmp"
		dpkg-deb --fsys-tarfile "$deb" | tar -C "$dir.tmp" -xf - --wildcards './boot/vmlinuz-*' ||
			return 1
		# shellcheck disable=SC2046 # one pattern per module
		dpkg-deb --fsys-tarfile "$deb" | tar -C "$dir.tmp" -xf - --wildcards \
			$(printf "./lib/modules/*/%s " $VM_MODULES) 2>/dev/null
		mkdir -p "$dir.tmp/lib" # extracted, with or without modules
		mv "$dir.tmp" "$dir"
	fi
	ls "$dir"/boot/vmlinuz-* | head -1
}

# The modules the suites need (nftables, for the firewall scenarios), in load order
# (tests/kernels/init loads them); a kernel that builds them in needs none.
VM_MODULES="kernel/lib/libcrc32c.ko kernel/net/netfilter/nfnetlink.ko kernel/net/netfilter/nf_tables.ko
	kernel/net/netfilter/nft_numgen.ko"

# vm_initrd IMAGE KVER: the initramfs followed by a second archive with KVER's modules.
vm_initrd() {
	local dir=${1%/boot/*} kver=$2 m out=$T/initrd-$2.cpio
	rm -rf "$T/mods"
	mkdir -p "$T/mods/lib/modules/$kver"
	for m in $VM_MODULES; do
		[ -f "$dir/lib/modules/$kver/$m" ] && cp "$dir/lib/modules/$kver/$m" "$T/mods/lib/modules/$kver/"
	done
	cp "$INITRD" "$out"
	(cd "$T/mods" && find . | cpio -o -H newc --quiet) >>"$out"
	echo "$out"
}

# The initramfs, rebuilt for every run: it carries this build's binaries.
INITRD=$CACHE/initramfs.cpio
if ! tests/kernels/mkinitramfs.sh "$BUILD" "$INITRD" >"$T/mkinitramfs.log" 2>&1; then
	fail "building the initramfs: $(tail -3 "$T/mkinitramfs.log")"
	exit 1
fi
ACCEL=tcg EMULATED=1
if [ -w /dev/kvm ]; then ACCEL=kvm EMULATED=0; fi

while read -r pattern suites release; do
	case $pattern in '' | '#'*) continue ;; esac
	apt_for "$release"
	# The newest package that can be fetched (an archive may list one its mirror lacks).
	image= pkg=
	for p in $(candidates "$pattern" | head -3); do
		image=$(kernel_image "$p") && [ -n "$image" ] && { pkg=$p; break; }
		image=
	done
	if [ -z "$image" ]; then
		fail "no package matching $pattern could be fetched and unpacked (apt-get update?)"
		continue
	fi
	kver=${image##*/vmlinuz-}
	echo "# $pkg: booting $kver under qemu ($ACCEL), suites $suites"
	log=$T/vm-$kver.log
	start=$(date +%s)
	timeout "$VM_TIMEOUT" qemu-system-x86_64 -accel "$ACCEL" -m 1536 -smp 2 -nographic \
		-no-reboot -kernel "$image" -initrd "$(vm_initrd "$image" "$kver")" \
		-append "console=ttyS0 quiet loglevel=3 panic=-1 netspy.suites=$suites netspy.emulated=$EMULATED netspy.build=$BUILD" \
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
	check "[$kver] the suites ran checks on this kernel" \
		grep -q "^ok - " "$log.txt"
done <"$LIST"
