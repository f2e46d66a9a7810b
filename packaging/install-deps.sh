#!/bin/sh
# Installs everything netspy needs to build and run its tests on Debian 12 (run as root).
# Used by .ci/run; safe to run again. With --build-only, only what building and running netspy
# needs (packaging/quickstart.sh): not the test, packaging and benchmark tools.
set -eu
export DEBIAN_FRONTEND=noninteractive

build_only=
case ${1:-} in
'') ;;
--build-only) build_only=1 ;;
*)
	echo "Usage: $0 [--build-only]" >&2
	exit 1
	;;
esac
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (sudo $0)" >&2
	exit 1
fi

apt-get update -qq
# Building and running (curl and python3: the quick start's checks and traffic).
apt-get install -y -qq --no-install-recommends \
	make gcc clang llvm pkg-config \
	libbpf-dev bpftool libelf-dev zlib1g-dev \
	protobuf-c-compiler libprotobuf-c-dev \
	libcurl4-openssl-dev libjson-c-dev libsystemd-dev libedit-dev \
	libsqlite3-dev libmicrohttpd-dev curl python3 ca-certificates >/dev/null
if [ -n "$build_only" ]; then
	echo "install-deps.sh: build dependencies are installed"
	exit 0
fi
apt-get install -y -qq --no-install-recommends \
	sqlite3 iproute2 procps nftables dnsutils >/dev/null
# (sqlite3 and curl: the history and Prometheus suites read the recorder's database and
# /metrics with them.)
# (nftables: the firewall scenario of tests/failures.test.sh; dnsutils: dig, the DNS client of
# tests/dns.test.sh and of the fuzz corpus's recordings.)
# Packaging and the booted-container test (make check-distro): debhelper and lintian for the .deb,
# rpm for the spec, debootstrap and systemd-nspawn for the container, systemd for
# systemd-analyze and journald, man-db for checking the man pages.
apt-get install -y -qq --no-install-recommends \
	debhelper dpkg-dev fakeroot lintian rpm debootstrap systemd-container systemd \
	man-db util-linux >/dev/null
# The Prometheus suite (tests/prometheus.test.sh) scrapes the recorder with a real Prometheus
# server, started by the test on loopback with its own configuration and data directory.
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# Proof: libFuzzer (clang's runtime), valgrind for the analyzer's memory checks, bpftrace as a
# benchmark peer.
apt-get install -y -qq --no-install-recommends libclang-rt-14-dev valgrind bpftrace >/dev/null
# The kernel matrix (make check-kernels): Debian's kernels booted under qemu with an initramfs of
# busybox and this machine's programs.
apt-get install -y -qq --no-install-recommends qemu-system-x86 busybox-static cpio >/dev/null

# The MCP tests drive netspyctl with the official MCP SDK, which needs Node.js 18 or newer; the API
# suite validates the recorder's OpenAPI document with an OpenAPI validator (tests/api).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
for d in tests/mcp tests/api; do
	if [ -f "$d/package.json" ]; then
		(cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
	fi
done
echo "install-deps.sh: build and test dependencies are installed"
