# netspyd against the real kernel: known traffic from uniquely named processes must come out of the
# socket with exact counts, protocols, families and outcomes; hostile and slow clients must not
# hurt the others; SIGTERM must leave nothing attached.
. "$(dirname "$0")/lib.sh"
require_root

PEER=$NETSPY_TESTS_BIN/collector_peer

# A TCP port with nothing listening on it (bound, never listened, so nobody else takes it).
closed_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Every program netspyd loads must run during the traffic below, on every kernel of the matrix
# (tests/kernels/list): the kernel's BPF statistics count each program's runs. They cost every
# program two clock reads, so they are switched off again before the storms.
stats_was=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
sysctl -qw kernel.bpf_stats_enabled=1
on_exit "sysctl -qw kernel.bpf_stats_enabled=$stats_was"
# The slow-client check below needs a reader that is only as fast as the machine: under qemu
# without KVM it fell more than the default backlog (131072 events) behind a storm of 438,000
# events, and the ring overtook it through no fault of the stuck client. A backlog longer than
# any 2-second storm (1.2 million connects here without netspyd; pages are touched only as it
# fills) keeps that check about the stuck client.
start_daemon --backlog-events 2097152 || exit 1
check "netspyd answers status" eval '"$NETSPYCTL" --socket "$SOCK" status >/dev/null'
check_eq "socket is mode 0660 group netspy" "660 netspy" "$(stat -c '%a %G' "$SOCK")"

# --- TCP refused, TCP established, UDP, IPv6 -------------------------------------------------
port=$(closed_port)
dump_start "$T/refused.json" comm nsc-refused
dump_start "$T/est.json" comm nsc-established
dump_start "$T/udp.json" comm nsc-udp4
dump_start "$T/v6.json" comm nsc-ipv6
dump_start "$T/nb.json" comm nsc-nonblock
dump_start "$T/all.json" drops
refuser=$(unique_gen nsc-refused)
out=$("$refuser" tcp 127.0.0.1 "$port" 3)
check_eq "trafficgen saw 3 refused connects" "ok=0 refused=3 other=0" "$out"
okgen=$(unique_gen nsc-established)
out=$("$okgen" tcp-local 127.0.0.1 2)
lport=${out#port=}; lport=${lport%% *}
udpgen=$(unique_gen nsc-udp4)
"$udpgen" udp 127.0.0.1 "$port" 2 send >/dev/null
v6gen=$(unique_gen nsc-ipv6)
"$v6gen" tcp-local ::1 1 >/dev/null
"$v6gen" udp ::1 "$port" 1 send >/dev/null
nbgen=$(unique_gen nsc-nonblock)
"$nbgen" tcp-nb 127.0.0.1 "$port" 2 >/dev/null
for f in refused est udp v6 nb all; do dump_stop "$T/$f.json"; done

check_eq "3 TCP IPv4 connect events to the closed port" 3 \
	"$(count "$T/refused.json" "e['kind']=='connect' and e['protocol']=='TCP' and e['family']=='IPv4' and e['destination_port']==$port and e['destination_ip']=='127.0.0.1'")"
check_eq "3 refused outcomes with ECONNREFUSED" 3 \
	"$(count "$T/refused.json" "e['kind']=='tcp_outcome' and e['outcome']=='refused' and e['errno']==111 and e['destination_port']==$port")"
check_eq "connect events carry pid, uid and cookie" 3 \
	"$(count "$T/refused.json" "e['kind']=='connect' and e['pid']>0 and e['uid']==0 and e['cookie']>0 and e['process']=='nsc-refused'")"

check_eq "2 TCP connects to the listener" 2 \
	"$(count "$T/est.json" "e['kind']=='connect' and e['protocol']=='TCP' and e['destination_port']==$lport")"
check_eq "2 established outcomes with non-zero latency" 2 \
	"$(count "$T/est.json" "e['kind']=='tcp_outcome' and e['outcome']=='established' and e.get('latency_ms',0)>0 and e['destination_port']==$lport")"

check_eq "2 UDP IPv4 connects (protocol from the socket)" 2 \
	"$(count "$T/udp.json" "e['kind']=='connect' and e['protocol']=='UDP' and e['family']=='IPv4' and e['outcome']=='sent' and e['destination_port']==$port")"
check_eq "no TCP outcome for UDP" 0 "$(count "$T/udp.json" "e['kind']=='tcp_outcome'")"

check_eq "IPv6 TCP connect to ::1 established" 1 \
	"$(count "$T/v6.json" "e['kind']=='tcp_outcome' and e['family']=='IPv6' and e['outcome']=='established' and e['destination_ip']=='::1'")"
check_eq "IPv6 UDP connect to ::1" 1 \
	"$(count "$T/v6.json" "e['kind']=='connect' and e['protocol']=='UDP' and e['family']=='IPv6' and e['destination_ip']=='::1' and e['destination_port']==$port")"

check_eq "non-blocking connects resolved as refused" 2 \
	"$(count "$T/nb.json" "e['kind']=='tcp_outcome' and e['outcome']=='refused'")"

# Each refused SYN and each datagram to the closed port is dropped by the receiver: NO_SOCKET.
check_ge "NO_SOCKET drops for the 3+2 refused TCP connects (SYNs to the closed port)" 5 \
	"$(count "$T/all.json" "e['kind']=='drop' and e['reason']=='NO_SOCKET' and e['protocol']=='TCP' and e['destination_port']==$port")"
check_eq "NO_SOCKET drops for the 2 IPv4 datagrams to the closed port" 2 \
	"$(count "$T/all.json" "e['kind']=='drop' and e['reason']=='NO_SOCKET' and e['protocol']=='UDP' and e['family']=='IPv4' and e['destination_port']==$port")"
check_eq "NO_SOCKET drop for the IPv6 datagram" 1 \
	"$(count "$T/all.json" "e['kind']=='drop' and e['reason']=='NO_SOCKET' and e['protocol']=='UDP' and e['family']=='IPv6' and e['destination_port']==$port")"
# The SYNs and the datagrams lost their socket crossing loopback: their flow tuple still names the
# connect that sent them (TCP from sockops, UDP from the connect's route lookup).
check_eq "the refused SYNs' drops name their sender, by flow tuple" 0 \
	"$(count "$T/all.json" "e['kind']=='drop' and e['protocol']=='TCP' and e['destination_port']==$port and not (e['process'] in ('nsc-refused','nsc-nonblock') and e['by_flow'])")"
check_eq "the datagrams' drops name their sender (IPv4 and IPv6), by flow tuple" "2 1" \
	"$(count "$T/all.json" "e['kind']=='drop' and e['protocol']=='UDP' and e['destination_port']==$port and e['process']=='nsc-udp4' and e['by_flow']") $(count "$T/all.json" "e['kind']=='drop' and e['protocol']=='UDP' and e['destination_port']==$port and e['process']=='nsc-ipv6' and e['by_flow']")"
# An unconnected sendto() has no flow tuple on record, and its packet no socket at the receiver:
# its owner stays unknown, and says so.
dump_start "$T/unconnected.json" drops
python3 -c 'import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", int(sys.argv[1])))' "$port"
dump_stop "$T/unconnected.json"
check_eq "a drop without a known socket owner says so (process null, not by flow)" "1 1" \
	"$(count "$T/unconnected.json" "e['kind']=='drop' and e['protocol']=='UDP' and e['destination_port']==$port") $(count "$T/unconnected.json" "e['kind']=='drop' and e['protocol']=='UDP' and e['destination_port']==$port and e['process'] is None and not e['by_flow']")"

# --- an abortive close resets the connection ---------------------------------------------------
# close() with SO_LINGER 0 sends a reset on every kernel (before 6.10 the tcp_send_reset
# tracepoint fires for such active resets only, not for the replies to SYNs to a closed port), and
# the peer receives it: the lifecycle's reset programs run here too.
python3 - <<'PY'
import socket, struct
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
a.settimeout(2)
try:
    a.recv(1)
except OSError:
    pass
a.close(); l.close()
PY

# --- drops on a server's accepted connection name the server ---------------------------------
# An accepted socket passes neither the connect nor the bind hook: it inherits the owner of the
# port it was accepted on. The server filters everything on its accepted socket, so each segment
# its (forked, differently named) client writes is dropped there with SOCKET_FILTER.
dump_start "$T/served.json" drops
server=$(unique_gen nsc-server)
out=$("$server" serve-filtered 127.0.0.1 5)
sport=${out#port=}
dump_stop "$T/served.json"
check_ge "SOCKET_FILTER drops on the server's accepted socket" 5 \
	"$(count "$T/served.json" "e['reason']=='SOCKET_FILTER' and e['destination_port']==$sport")"
# Before Linux 6.12 the kfree_skb tracepoint does not pass the receiving socket, and these packets
# are not yet charged to it: netspyd says so at start-up. Their flow tuple still names the local
# connect that sent them (the client), and nobody else.
if grep -q "lacks the receiving socket in the kfree_skb tracepoint" "$T/netspyd.log"; then
	check_eq "without the receiving socket (kernel < 6.12) each names its sender by flow, nobody else" 0 \
		"$(count "$T/served.json" "e['reason']=='SOCKET_FILTER' and e['destination_port']==$sport and not (e['process']=='nsg-client' and e['by_flow'])")"
else
	check_eq "every one of them names the server that bound the port, not its client" 0 \
		"$(count "$T/served.json" "e['reason']=='SOCKET_FILTER' and e['destination_port']==$sport and e['process']!='nsc-server'")"
fi

check_eq "every program netspyd loaded ran during this traffic (BPF statistics)" "" \
	"$(progs_never_run "$DAEMON_PID" | tr '\n' ' ' | sed 's/ $//')"
sysctl -qw kernel.bpf_stats_enabled="$stats_was"

# --- who may connect ---------------------------------------------------------------------------
gid=$(getent group netspy | cut -d: -f3)
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$NETSPYCTL" --socket "$SOCK" status 2>&1)
rc=$?
check_eq "a user outside the group gets exit 3" 3 "$rc"
check "the refusal tells the user to join group netspy" grep -q "group netspy" <<<"$out"
check "a member of group netspy is served" eval \
	'setpriv --reuid=nobody --regid=nogroup --groups="$gid" "$NETSPYCTL" --socket "$SOCK" status >/dev/null'

# The daemon's own check (SO_PEERCRED) holds even when the file mode would let anyone in.
SOCK_OPEN=$T/open.sock
"$NETSPYD" --socket "$SOCK_OPEN" --socket-mode 0666 --no-drops --log-target console \
	>"$T/open.log" 2>&1 &
open_pid=$!
on_exit "kill $open_pid"
for _ in $(seq 50); do [ -S "$SOCK_OPEN" ] && break; sleep 0.1; done
sleep 0.5
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$NETSPYCTL" --socket "$SOCK_OPEN" status 2>&1)
check_eq "a peer outside the group is refused by the daemon (exit 3)" 3 "$?"
check "the daemon logs the refusal with the peer's uid" grep -q "refused client uid 65534" "$T/open.log"
kill "$open_pid"; wait "$open_pid" 2>/dev/null

# --- hostile clients -----------------------------------------------------------------------------
"$NETSPY_TESTS_BIN/collector_peer" "$SOCK" count nsc-hostile 6 >"$T/watcher.out" &
watcher=$!
sleep 0.5
check_eq "garbage frame: BAD_REQUEST error, then disconnect" "error=2 closed=1" "$("$PEER" "$SOCK" garbage)"
check_eq "oversized frame: disconnected before anything is allocated" "error=2 closed=1" \
	"$("$PEER" "$SOCK" oversized)"
check_eq "protocol version mismatch: VERSION_MISMATCH error" "error=1 closed=1" \
	"$("$PEER" "$SOCK" badversion)"
hostile=$(unique_gen nsc-hostile)
"$hostile" udp 127.0.0.1 "$port" 5 >/dev/null
wait "$watcher"
check_eq "another client kept receiving meanwhile" "connect=5 outcome=0 drop=0 kernel_lost=0 client_lost=0" \
	"$(cat "$T/watcher.out")"
check "netspyd survived the hostile clients" eval '"$NETSPYCTL" --socket "$SOCK" status >/dev/null'

# --- a client that never reads ------------------------------------------------------------------
"$PEER" "$SOCK" noread 15 &
noread=$!
on_exit "kill $noread"
sleep 0.3
"$PEER" "$SOCK" count nsc-storm 6 >"$T/storm.out" &
counter=$!
sleep 0.5
storm=$(unique_gen nsc-storm)
generated=$("$storm" udp-storm 127.0.0.1 "$port" 2)
generated=${generated#connects=}
wait "$counter"
read -r c _ _ kl cl < <(sed 's/[a-z_]*=//g' "$T/storm.out")
# Enough to overflow the stuck client many times over (its socket buffer holds a few thousand
# events), however busy the machine is.
check_ge "the storm made connects" 50000 "$generated"
check_eq "a reading client got every storm event despite a client that never reads" \
	"$generated" "$((c + kl))"
check_eq "the reading client lost nothing on its side" 0 "$cl"
kill "$noread" 2>/dev/null

# --- SIGTERM: clean exit, nothing left attached -------------------------------------------------
ids=$(prog_ids_of "$DAEMON_PID")
check_ge "netspyd holds its 6 programs" 6 "$(echo "$ids" | wc -w)"
stop_daemon
check_eq "SIGTERM: exit status 0" 0 "$?"
check "SIGTERM: no netspy program left attached" progs_gone $ids
check "SIGTERM: socket file removed" test ! -e "$SOCK"
check "SIGTERM: stopping record logged" grep -q "stopping:" "$T/netspyd.log"
