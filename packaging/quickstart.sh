#!/bin/sh
# netspy's first run on a fresh Debian 12 machine, in one command (as root):
#   installs what building and running netspy needs, builds, starts netspyd from the build tree
#   (unless one is already running) and the recorder beside it, makes a little loopback traffic
#   and shows what netspy saw. Safe to run again. `quickstart.sh stop` stops what it started.
set -eu
cd "$(dirname "$0")/.."

usage() {
	echo "Usage: $0 [stop]"
	echo "  (no argument)  install the build dependencies, build, start netspyd and the recorder"
	echo "  stop           stop the netspyd and the recorder that $0 started"
}
case ${1:-} in
'' | stop) ;;
-h | --help)
	usage
	exit 0
	;;
*)
	usage >&2
	exit 1
	;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "quickstart: netspyd loads eBPF programs and must start as root: sudo $0" >&2
	exit 1
fi

sock=${NETSPY_SOCKET:-/run/netspy/netspyd.sock}
run=$(dirname "$sock")
# What this script starts, so that `stop` ends exactly that and a second run starts nothing twice.
netspyd_pidfile=$run/quickstart-netspyd.pid
recorder_pidfile=$run/quickstart-recorder.pid
# The recorder runs as user netspy a copy of netspyctl that this user can reach: not the build
# tree (a home directory is closed to other users), nor /run (Debian's initramfs mounts it noexec).
recorder_dir=/var/lib/netspy-quickstart
stop_hint="quickstart: stop netspyd and the recorder with: sudo $0 stop"

# alive PIDFILE COMM: prints the pid in PIDFILE when that process still runs as COMM.
alive() {
	[ -f "$1" ] || return 1
	p=$(cat "$1")
	case $p in '' | *[!0-9]*) return 1 ;; esac
	[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] || return 1
	echo "$p"
}

# stop_one PIDFILE COMM WHAT: SIGTERM, then waits up to 10 s for the process to end.
stopped=0
stop_one() {
	if p=$(alive "$1" "$2"); then
		kill -TERM "$p"
		i=0
		while [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] &&
			! grep -q '^State:.Z' "/proc/$p/status" 2>/dev/null; do
			i=$((i + 1))
			if [ "$i" -gt 100 ]; then
				echo "quickstart: $3 (pid $p) did not stop within 10 s" >&2
				return 1
			fi
			sleep 0.1
		done
		echo "quickstart: stopped $3 (pid $p)"
		stopped=$((stopped + 1))
	fi
	rm -f "$1"
}

if [ "${1:-}" = stop ]; then
	rc=0
	stop_one "$recorder_pidfile" netspy-recorder "the recorder" || rc=1
	stop_one "$netspyd_pidfile" netspyd netspyd || rc=1
	[ "$rc" -eq 0 ] || exit 1
	# The API socket's link and directory and the recorder's copy of netspyctl are this
	# script's; the history (/var/lib/netspy) and the logs stay.
	if [ -L "$run/api.sock" ] && [ "$(readlink "$run/api.sock")" = "$run/api/api.sock" ]; then
		rm -f "$run/api.sock"
	fi
	rm -rf "$run/api" "$recorder_dir"
	[ "$stopped" -gt 0 ] || echo "quickstart: nothing that $0 started is running"
	if [ -x build/netspyctl ] && build/netspyctl --socket "$sock" status >/dev/null 2>&1; then
		echo "quickstart: a netspyd that $0 did not start still answers on $sock" \
			"(the service? sudo systemctl stop netspyd)"
	fi
	echo "quickstart: the recorder's history stays in /var/lib/netspy, the logs in $run"
	exit 0
fi

sh packaging/install-deps.sh --build-only
make -j"$(nproc)"

getent group netspy >/dev/null || groupadd --system netspy
# wait_ready NAME PID LOG PIDFILE COMMAND...: waits up to 30 s for COMMAND to succeed while PID
# lives; otherwise shows LOG, stops PID and exits 2.
wait_ready() {
	wr_name=$1 wr_pid=$2 wr_log=$3 wr_pidfile=$4 wr_i=0
	shift 4
	until "$@" >/dev/null 2>&1; do
		wr_i=$((wr_i + 1))
		if [ "$wr_i" -gt 300 ] || ! kill -0 "$wr_pid" 2>/dev/null; then
			echo "quickstart: $wr_name did not start; its log ($wr_log) says:" >&2
			cat "$wr_log" >&2
			kill "$wr_pid" 2>/dev/null || true
			rm -f "$wr_pidfile"
			exit 2
		fi
		sleep 0.1
	done
}

if build/netspyctl --socket "$sock" status >/dev/null 2>&1; then
	echo "quickstart: netspyd is already running on $sock"
else
	mkdir -p "$run"
	log=$run/netspyd.log
	nohup build/netspyd --socket "$sock" </dev/null >"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$netspyd_pidfile"
	# Up to 30 s: loading the programs takes the verifier a while on a busy machine.
	wait_ready netspyd "$pid" "$log" "$netspyd_pidfile" \
		build/netspyctl --socket "$sock" status
	echo "quickstart: netspyd started (pid $pid, log $log)"
fi

# The recorder beside it, unprivileged (user netspy): per-minute history in /var/lib/netspy,
# Prometheus metrics on 127.0.0.1:9464 and the HTTP + JSON API on $run/api.sock.
getent passwd netspy >/dev/null ||
	useradd --system --gid netspy --home-dir /var/lib/netspy --shell /usr/sbin/nologin netspy
if pid=$(alive "$recorder_pidfile" netspy-recorder); then
	echo "quickstart: the recorder is already running (pid $pid)"
elif curl -fsS -o /dev/null http://127.0.0.1:9464/metrics 2>/dev/null; then
	echo "quickstart: a recorder already serves http://127.0.0.1:9464/metrics"
else
	install -d -o netspy -g netspy -m 0750 /var/lib/netspy
	install -d -m 0755 "$recorder_dir"
	rec=$recorder_dir/netspy-recorder
	install -m 0755 build/netspyctl "$rec"
	reclog=$run/netspy-recorder.log
	# The API socket: user netspy cannot create files beside netspyd's socket (as under systemd,
	# where netspy-recorder.socket makes it), so it binds one in a directory of its own, and
	# api.sock beside netspyd's socket points there.
	apidir=$run/api
	install -d -o netspy -g netspy -m 0750 "$apidir"
	[ -S "$run/api.sock" ] || ln -sfn "$apidir/api.sock" "$run/api.sock"
	nohup setpriv --reuid netspy --regid netspy --init-groups "$rec" --socket "$sock" record \
		--api-socket "$apidir/api.sock" </dev/null >"$reclog" 2>&1 &
	pid=$!
	echo "$pid" >"$recorder_pidfile"
	wait_ready "the recorder" "$pid" "$reclog" "$recorder_pidfile" \
		curl -fsS -o /dev/null http://127.0.0.1:9464/metrics
	echo "quickstart: netspy-recorder started (pid $pid, log $reclog); metrics at" \
		"http://127.0.0.1:9464/metrics, the API on $run/api.sock" \
		"(curl --unix-socket $run/api.sock http://localhost/health)"
fi

# A few connections on loopback so that there is something to see even on an idle machine:
# one TCP connect to a port where nothing listens (refused) and one UDP datagram to it (dropped),
# from a process named "quickstart" so that watch shows exactly these (on a busy machine the last
# minute holds many others; a pid would not do: netspy shows the kernel's pids, not a
# container's).
python3 - <<'PY' || echo "quickstart: the test traffic (python3) failed" >&2
import ctypes, socket
ctypes.CDLL(None).prctl(15, b"quickstart", 0, 0, 0)  # PR_SET_NAME: the name netspy shows
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
echo "== netspyctl watch --replay 60 --process quickstart (the connects above: refused, and dropped)"
build/netspyctl --socket "$sock" watch --replay 60 --process quickstart --max-events 15 \
	--timeout 2 || true
if build/netspyctl summary --help >/dev/null 2>&1; then
	echo
	echo "== netspyctl summary"
	build/netspyctl --socket "$sock" summary
fi
echo
echo "Next: build/netspyctl --help, build/netspyctl shell, or sudo make install to install netspy."
if [ -f "$netspyd_pidfile" ] || [ -f "$recorder_pidfile" ]; then
	echo "$stop_hint"
fi
