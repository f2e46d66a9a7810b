# The recorder's /metrics scraped by a real Prometheus server (Debian's prometheus package), on
# loopback with its own configuration and data directory: what Prometheus's query API returns
# for known traffic equals the traffic: connections, latency, drops, DNS queries by rcode, TCP
# connection ends with their bytes, resets and retransmits. Also the exposition itself (names, labels, TYPE lines,
# histogram buckets), the series cap (--max-series: process="other", totals exact) and the
# guarded listener (a Unix socket, mode 0660).
. "$(dirname "$0")/lib.sh"
require_root

PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || echo /usr/bin/prometheus)}
if [ ! -x "$PROMETHEUS" ]; then
	fail "prometheus is not installed (packaging/install-deps.sh installs Debian's package)"
	exit 1
fi
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-prom-$$.slice
mkdir -p "$CG/promtest.service" || { fail "cannot create a test cgroup under $CGROOT"; exit 1; }
on_exit "rmdir '$CG/promtest.service' '$CG'"
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/promtest.service" "$@"; }
start_daemon --cgroup "$CG" || exit 1

PORT=$((30000 + $$ % 15000))
PPORT=$((PORT + 15000))
USOCK=$T/metrics.sock
"$NETSPYCTL" --socket "$SOCK" record --api-socket none --state-dir "$T/state" --metrics-listen "127.0.0.1:$PORT" \
	--metrics-socket "$USOCK" >"$T/recorder.log" 2>&1 &
REC=$!
on_exit "kill $REC"
for i in $(seq 1 100); do
	curl -fsS -o /dev/null "http://127.0.0.1:$PORT/metrics" 2>/dev/null && break
	sleep 0.1
done
check "the recorder serves /metrics on 127.0.0.1:$PORT" curl -fsS -o /dev/null "http://127.0.0.1:$PORT/metrics"
# A second recorder with --max-series 5, following from now on (netspyd's backlog may lose this
# suite's first events to drops elsewhere on the machine before a late start could replay them).
"$NETSPYCTL" --socket "$SOCK" record --api-socket none --state-dir "$T/state2" --metrics-listen "127.0.0.1:$((PORT + 1))" \
	--max-series 5 >"$T/recorder2.log" 2>&1 &
REC2=$!
on_exit "kill $REC2"

mkdir -p "$T/prom"
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: netspy
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
"$PROMETHEUS" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
	--web.listen-address="127.0.0.1:$PPORT" >"$T/prometheus.log" 2>&1 &
PROM=$!
on_exit "kill $PROM"
API=http://127.0.0.1:$PPORT/api/v1
# promq QUERY: the query's first value (or "none").
promq() {
	curl -fsS --get "$API/query" --data-urlencode "query=$1" 2>/dev/null |
		json 'd["data"]["result"][0]["value"][1] if d["data"]["result"] else "none"' 2>/dev/null
}
for i in $(seq 1 100); do
	[ "$(promq 'up{job="netspy"}')" = 1 ] && break
	sleep 0.2
done
check_eq "Prometheus scrapes the recorder (up == 1)" 1 "$(promq 'up{job="netspy"}')"

GEN=$(unique_gen "nsprom$$"); NAME=${GEN##*/}; NAME=${NAME:0:15}
UPORT=$((20000 + $$ % 20000))
in_cg "$GEN" tcp 127.0.0.1 1 3 >/dev/null
in_cg "$GEN" tcp-local 127.0.0.1 2 >/dev/null
in_cg "$GEN" udp 127.0.0.1 "$UPORT" 2 send >/dev/null
# TCP quality: 2 connections of known sizes; a client that resets its connection.
PEER="python3 $PWD/tests/tools/lifepeer.py"
SRV=nspS$$; SRV=${SRV:0:15}; CLI=nspC$$; CLI=${CLI:0:15}
RSTC=nspR$$; RSTC=${RSTC:0:15}; HOLDS=nspH$$; HOLDS=${HOLDS:0:15}
# Ports the kernel has free now: a fixed one may be some connection's source port on this host
# (the listener then cannot bind, and a client connecting there may even connect to itself).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
LPORT=$(free_port) HPORT=$(free_port)
serve() {
	in_cg $PEER "$@" >"$T/srv.out" &
	SRVPID=$!
	for i in $(seq 100); do grep -q listening "$T/srv.out" 2>/dev/null && return 0; sleep 0.05; done
	fail "$1 did not start listening"
}
serve "$SRV" server "$LPORT" 2 777
in_cg $PEER "$CLI" client "$LPORT" 1000 20000
wait "$SRVPID"
serve "$HOLDS" hold-server "$HPORT"
in_cg $PEER "$RSTC" rst-client "$HPORT"
wait "$SRVPID"
# DNS: 3 NOERROR, 2 NXDOMAIN, 1 never answered, to a responder in a namespace of the suite's.
DN=nspD$$; DN=${DN:0:15}
in_cg unshare -n bash -c "
	ip link set lo up
	python3 '$PWD/tests/tools/dns_responder.py' 127.0.0.1 >'$T/responder.log' 2>&1 &
	for i in \$(seq 1 50); do grep -q ready '$T/responder.log' && break; sleep 0.1; done
	python3 '$PWD/tests/tools/dnsquery.py' '$DN' a.test a.test a.test nope.nx.test nope.nx.test never.silent.test
	kill %1"
# wait_prom QUERY VALUE: until Prometheus answers VALUE (events are counted once 15 s old, then
# scraped every second).
wait_prom() {
	local i
	for i in $(seq 1 90); do
		[ "$(promq "$1")" = "$2" ] && return 0
		sleep 0.5
	done
	return 1
}
sel="process=\"$NAME\""
# tcp-local accepts its own 2 connections: 7 connects and 2 accepted (inbound)
wait_prom "sum(netspy_connections_total{$sel})" 9
check_eq "connections_total: 9 for the generator" 9 "$(promq "sum(netspy_connections_total{$sel})")"
check_eq "  refused, TCP, outbound, its unit" 3 \
	"$(promq "netspy_connections_total{$sel,unit=\"promtest.service\",protocol=\"TCP\",outcome=\"refused\",direction=\"outbound\"}")"
check_eq "  established: 2 outbound, 2 inbound" "2 2" "$(promq "sum(netspy_connections_total{$sel,outcome=\"established\",direction=\"outbound\"})") $(promq "sum(netspy_connections_total{$sel,outcome=\"established\",direction=\"inbound\"})")"
check_eq "  UDP sent" 2 "$(promq "sum(netspy_connections_total{$sel,protocol=\"UDP\",outcome=\"sent\"})")"
check_eq "latency histogram count: 2 handshakes" 2 \
	"$(promq "sum(netspy_tcp_connect_latency_seconds_count{$sel})")"
check_eq "latency histogram +Inf bucket" 2 \
	"$(promq "sum(netspy_tcp_connect_latency_seconds_bucket{$sel,le=\"+Inf\"})")"
check_eq "histogram_quantile answers (under 1 s on loopback)" True \
	"$(promq "histogram_quantile(0.5, sum by (le) (netspy_tcp_connect_latency_seconds_bucket{$sel}))" |
		python3 -c 'import sys; print(0 < float(sys.stdin.read()) < 1)')"
# The refused connects' SYNs found no socket: 3 NO_SOCKET drops, attributed through the
# connecting socket to the generator and its unit.
check_eq "packet_drops_total: NO_SOCKET for the generator's refused TCP connects" 3 \
	"$(promq "sum(netspy_packet_drops_total{$sel,unit=\"promtest.service\",reason=\"NO_SOCKET\",protocol=\"TCP\"})")"
# DNS, by the response's rcode
wait_prom "sum(netspy_dns_queries_total{process=\"$DN\"})" 6
check_eq "dns_queries_total: NOERROR 3, NXDOMAIN 2, unanswered 1" "3 2 1" \
	"$(for rc in NOERROR NXDOMAIN unanswered; do promq "netspy_dns_queries_total{process=\"$DN\",rcode=\"$rc\"}"; done | tr '\n' ' ' | sed 's/ $//')"
# TCP quality, counted as the connections end
wait_prom "sum(netspy_tcp_connections_ended_total{process=\"$CLI\"})" 2
check_eq "tcp_connections_ended_total: the client's 2, closed, in its unit" 2 \
	"$(promq "netspy_tcp_connections_ended_total{process=\"$CLI\",unit=\"promtest.service\",end=\"closed\"}")"
check_eq "tcp_bytes_sent_total / _received_total of the client (acknowledged bytes)" "21000 1554" \
	"$(promq "netspy_tcp_bytes_sent_total{process=\"$CLI\",unit=\"promtest.service\"}") $(promq "netspy_tcp_bytes_received_total{process=\"$CLI\",unit=\"promtest.service\"}")"
check_eq "  and of the server, the other way" "1554 21000" \
	"$(promq "sum(netspy_tcp_bytes_sent_total{process=\"$SRV\"})") $(promq "sum(netspy_tcp_bytes_received_total{process=\"$SRV\"})")"
check_eq "tcp_retransmits_total: none on loopback" 0 "$(promq "sum(netspy_tcp_retransmits_total{process=\"$CLI\"})")"
wait_prom "sum(netspy_tcp_resets_sent_total{process=\"$RSTC\"})" 1
check_eq "tcp_resets_sent_total: the client that reset" 1 "$(promq "sum(netspy_tcp_resets_sent_total{process=\"$RSTC\"})")"
check_eq "tcp_resets_received_total: its server" 1 "$(promq "sum(netspy_tcp_resets_received_total{process=\"$HOLDS\"})")"
check_eq "events_lost_total has the kernel source" 0 "$(promq 'netspy_events_lost_total{source="kernel"}')"

# ---- the exposition ----
M=$(curl -fsS "http://127.0.0.1:$PORT/metrics")
for t in "netspy_connections_total counter" "netspy_tcp_connect_latency_seconds histogram" \
	"netspy_packet_drops_total counter" "netspy_events_lost_total counter" \
	"netspy_dns_queries_total counter" "netspy_tcp_retransmits_total counter" \
	"netspy_tcp_bytes_sent_total counter" "netspy_tcp_bytes_received_total counter" \
	"netspy_tcp_resets_sent_total counter" "netspy_tcp_resets_received_total counter" \
	"netspy_tcp_connections_ended_total counter"; do
	check "# TYPE $t" grep -qx "# TYPE $t" <<<"$M"
done
check_eq "Content-Type is the text format 0.0.4" "text/plain; version=0.0.4; charset=utf-8" \
	"$(curl -fsS -o /dev/null -w '%{content_type}' "http://127.0.0.1:$PORT/metrics")"
check_eq "other paths are 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")"
check_eq "POST is refused (405)" 405 "$(curl -s -o /dev/null -w '%{http_code}' -d x "http://127.0.0.1:$PORT/metrics")"
if command -v promtool >/dev/null; then
	out=$(promtool check metrics <<<"$M" 2>&1)
	check "promtool check metrics is clean${out:+: $out}" test -z "$out"
fi

# ---- the series cap: the second recorder (--max-series 5); new processes past it count as
# process="other", and the totals stay exact ----
for i in $(seq 1 45); do
	cp "$GEN" "$T/nscap$i"
	in_cg "$T/nscap$i" udp 127.0.0.1 "$UPORT" 1 >/dev/null
done
sent_total() {
	curl -fsS "http://127.0.0.1:$((PORT + 1))/metrics" 2>/dev/null |
		awk '/^netspy_connections_total\{.*protocol="UDP",outcome="sent"/ { n += $NF } END { print n + 0 }'
}
for i in $(seq 1 90); do [ "$(sent_total)" = 47 ] && break; sleep 0.5; done
check_eq "past --max-series the totals stay exact (2 + 45 UDP sends)" 47 "$(sent_total)" ||
	curl -fsS "http://127.0.0.1:$((PORT + 1))/metrics" | grep -E 'UDP",outcome="sent"|events_lost' | sed 's/^/# /'
M2=$(curl -fsS "http://127.0.0.1:$((PORT + 1))/metrics")
check "new processes past the cap count as process=\"other\"" grep -q '^netspy_connections_total{process="other",' <<<"$M2"
n=$(grep -c '^netspy_connections_total{' <<<"$M2")
check "connections series stay bounded (5 + the other series, got $n)" test "$n" -le 10

# ---- the guarded listener ----
check_eq "the Unix socket is mode 0660" 660 "$(stat -c %a "$USOCK")"
check "curl --unix-socket gets /metrics" sh -c "curl -fsS --unix-socket '$USOCK' http://localhost/metrics | grep -q '^netspy_connections_total{'"
if getent passwd nobody >/dev/null && command -v setpriv >/dev/null; then
	chmod 755 "$T"
	check "a user outside the group cannot open it" \
		sh -c "! setpriv --reuid nobody --regid nogroup --clear-groups curl -fsS --unix-socket '$USOCK' http://localhost/metrics >/dev/null 2>&1"
fi
