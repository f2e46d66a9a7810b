#!/bin/sh
# netspy's first run on a fresh Debian 12 machine, in one command (as root):
#   installs the build dependencies, builds, starts netspyd from the build tree (unless one is
#   already running), makes a little loopback traffic and shows what netspy saw.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "quickstart: netspyd loads eBPF programs and must start as root: sudo $0" >&2
	exit 1
fi

sh packaging/install-deps.sh
make -j"$(nproc)"

getent group netspy >/dev/null || groupadd --system netspy
sock=${NETSPY_SOCKET:-/run/netspy/netspyd.sock}
if build/netspyctl --socket "$sock" status >/dev/null 2>&1; then
	echo "quickstart: netspyd is already running on $sock"
else
	mkdir -p "$(dirname "$sock")"
	log=$(dirname "$sock")/netspyd.log
	nohup build/netspyd --socket "$sock" >"$log" 2>&1 &
	pid=$!
	i=0
	until build/netspyctl --socket "$sock" status >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt 50 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "quickstart: netspyd did not start; its log ($log) says:" >&2
			cat "$log" >&2
			exit 2
		fi
		sleep 0.1
	done
	echo "quickstart: netspyd started (pid $pid, log $log); stop it with: sudo kill $pid"
fi

# The recorder beside it, unprivileged (user netspy): per-minute history in /var/lib/netspy and
# Prometheus metrics on 127.0.0.1:9464. It runs a copy of netspyctl that user netspy can reach.
getent passwd netspy >/dev/null ||
	useradd --system --gid netspy --home-dir /var/lib/netspy --shell /usr/sbin/nologin netspy
if curl -fsS -o /dev/null http://127.0.0.1:9464/metrics 2>/dev/null; then
	echo "quickstart: a recorder already serves http://127.0.0.1:9464/metrics"
else
	install -d -o netspy -g netspy -m 0750 /var/lib/netspy
	rec=$(dirname "$sock")/netspy-recorder
	install -m 0755 build/netspyctl "$rec"
	reclog=$(dirname "$sock")/netspy-recorder.log
	# The API socket: user netspy cannot create files beside netspyd's socket (as under systemd,
	# where netspy-recorder.socket makes it), so it binds one in a directory of its own, and
	# api.sock beside netspyd's socket points there.
	apidir=$(dirname "$sock")/api
	install -d -o netspy -g netspy -m 0750 "$apidir"
	[ -S "$(dirname "$sock")/api.sock" ] || ln -sfn "$apidir/api.sock" "$(dirname "$sock")/api.sock"
	nohup setpriv --reuid netspy --regid netspy --init-groups "$rec" --socket "$sock" record \
		--api-socket "$apidir/api.sock" >"$reclog" 2>&1 &
	echo "quickstart: netspy-recorder started (pid $!, log $reclog); metrics at" \
		"http://127.0.0.1:9464/metrics, the API on $(dirname "$sock")/api.sock" \
		"(curl --unix-socket $(dirname "$sock")/api.sock http://localhost/health)"
fi

# A few connections on loopback so that there is something to see even on an idle machine:
# one TCP connect to a port where nothing listens (refused) and one UDP datagram to it (dropped).
python3 - <<'PY'
import socket
s = socket.socket()
try:
    s.connect(("127.0.0.1", 9))
except OSError:
    pass
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect(("127.0.0.1", 9))
u.send(b"netspy quickstart")
PY
sleep 0.5

echo
echo "== netspyctl status"
build/netspyctl --socket "$sock" status
echo
echo "== netspyctl watch --replay 60 --max-events 15 (the last minute of events)"
build/netspyctl --socket "$sock" watch --replay 60 --max-events 15 --timeout 2 || true
if build/netspyctl summary --help >/dev/null 2>&1; then
	echo
	echo "== netspyctl summary"
	build/netspyctl --socket "$sock" summary
fi
echo
echo "Next: build/netspyctl --help, build/netspyctl shell, or sudo make install to install netspy."
