# Failures as users mean them, against the real kernel, in network namespaces this suite makes:
# connects that fail inside the syscall (no route), connects their application abandons behind a
# firewall that drops the SYNs (and those drops, named after the process that sent them), and a
# Happy Eyeballs client whose slower attempt is abandoned by design.
. "$(dirname "$0")/lib.sh"
require_root

count() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    e = json.loads(line)
    if e.get("kind") == "subscribed":
        continue
    if eval(sys.argv[2], {}, {"e": e}):
        n += 1
print(n)
EOF
}
# TCP connects of FILE without an outcome (by socket cookie).
unresolved() {
	python3 - "$1" <<'EOF'
import json, sys
pending, done = set(), set()
for line in open(sys.argv[1]):
    e = json.loads(line) if line.strip() else {}
    if e.get("kind") == "connect" and e["protocol"] == "TCP":
        pending.add(e["cookie"])
    elif e.get("kind") == "tcp_outcome":
        done.add(e["cookie"])
print(len(pending - done))
EOF
}
# in_netns COMMAND: runs COMMAND (a bash script) in a new network namespace with loopback up.
in_netns() { unshare -n bash -c "ip link set lo up && $1"; }

start_daemon || exit 1

# --- no route: every connect fails inside the syscall with ENETUNREACH ------------------------
dump_start "$T/noroute.json" comm nsnoroute
gen=$(unique_gen nsnoroute)
in_netns "'$gen' tcp 192.0.2.10 5432 3; '$gen' udp 192.0.2.10 53 1;
	'$gen' tcp 2001:db8::10 5432 1; '$gen' udp 2001:db8::10 53 1" >"$T/noroute.out"
dump_stop "$T/noroute.json"
check_eq "the client saw every TCP connect fail (3 IPv4, 1 IPv6)" "2" \
	"$(grep -c '^ok=0 refused=0 other=[13]$' "$T/noroute.out")"
check_eq "3 IPv4 TCP connects: unreachable, ENETUNREACH, inside the syscall" 3 \
	"$(count "$T/noroute.json" "e['kind']=='tcp_outcome' and e['protocol']=='TCP' and e['family']=='IPv4' and e['outcome']=='unreachable' and e['errno']==101 and e['in_connect'] and e['destination_ip']=='192.0.2.10' and e['destination_port']==5432 and e['process']=='nsnoroute'")"
check_eq "the IPv4 UDP connect: unreachable, ENETUNREACH (not sent)" 1 \
	"$(count "$T/noroute.json" "e['kind']=='tcp_outcome' and e['protocol']=='UDP' and e['family']=='IPv4' and e['outcome']=='unreachable' and e['errno']==101 and e['in_connect'] and e['destination_port']==53")"
check_eq "IPv6: the TCP and the UDP connect unreachable, ENETUNREACH" 2 \
	"$(count "$T/noroute.json" "e['kind']=='tcp_outcome' and e['family']=='IPv6' and e['outcome']=='unreachable' and e['errno']==101 and e['in_connect'] and e['destination_ip']=='2001:db8::10'")"
check_eq "no TCP connect left pending" 0 "$(unresolved "$T/noroute.json")"

# --- no free local port: EADDRNOTAVAIL after SYN_SENT, no SYN sent --------------------------------
dump_start "$T/noport.json" comm nsnoport
gen=$(unique_gen nsnoport)
in_netns "sysctl -qw net.ipv4.ip_local_port_range='40000 40000';
	'$gen' listen 127.0.0.1 7000 3 & sleep 0.3
	'$gen' hold 127.0.0.1 7000 2 & sleep 0.3; '$gen' tcp 127.0.0.1 7000 1; wait" \
	>"$T/noport.out" 2>&1
dump_stop "$T/noport.json"
check_eq "no free local port: error EADDRNOTAVAIL, inside the syscall" 1 \
	"$(count "$T/noport.json" "e['kind']=='tcp_outcome' and e['outcome']=='error' and e['errno']==99 and e['in_connect'] and not e['abandoned']")"
check_eq "no free local port: no TCP connect left pending" 0 "$(unresolved "$T/noport.json")"

# --- a firewall drops the SYNs; the application gives up after 1.5 s ----------------------------
# nftables is not in every kernel the matrix boots (modules are not loaded there): say so.
if in_netns "nft add table inet nstest" 2>/dev/null; then
	dump_start "$T/fw.json" comm nsdbapp comm nsquick
	dump_start "$T/fwdrops.json" drops
	gen=$(unique_gen nsdbapp)
	quick=$(unique_gen nsquick)
	in_netns "nft -f - <<'NFT'
table inet nstest {
	chain input {
		type filter hook input priority 0;
		tcp dport { 5432, 5433 } tcp flags syn drop
	}
}
NFT
	'$gen' listen 127.0.0.1 5432 7 & sleep 0.3; '$gen' tcp-giveup 127.0.0.1 5432 3 1500; '$quick' tcp-giveup 127.0.0.1 5433 1 200
	kill %1" >"$T/fw.out"
	dump_stop "$T/fw.json"
	dump_stop "$T/fwdrops.json"
	check_eq "the application gave up 3 times" "ok=0 gaveup=3 other=0" "$(head -1 "$T/fw.out")"
	check_eq "3 abandoned connects after a SYN retransmission: timeout, abandoned" 3 \
		"$(count "$T/fw.json" "e['kind']=='tcp_outcome' and e['process']=='nsdbapp' and e['outcome']=='timeout' and e['abandoned'] and e['syn_retransmits']>=1 and not e['in_connect'] and e['errno']==0 and e['destination_port']==5432 and e['latency_ms']>=1400")"
	check_eq "their source ports are known (not 0)" 3 \
		"$(count "$T/fw.json" "e['kind']=='tcp_outcome' and e['process']=='nsdbapp' and e['source_port']>0")"
	check_eq "6 NETFILTER_DROP drops of those SYNs, attributed to nsdbapp by flow" 6 \
		"$(count "$T/fwdrops.json" "e['reason']=='NETFILTER_DROP' and e['destination_port']==5432 and e['process']=='nsdbapp' and e['by_flow']")"
	check_eq "none of the drops to the port left unattributed" 0 \
		"$(count "$T/fwdrops.json" "e['reason']=='NETFILTER_DROP' and e['destination_port']==5432 and e['process'] is None")"
	check_eq "abandoned after 200 ms without a retransmission: aborted (too soon to call unanswered)" 1 \
		"$(count "$T/fw.json" "e['kind']=='tcp_outcome' and e['process']=='nsquick' and e['outcome']=='aborted' and e['abandoned'] and e['syn_retransmits']==0")"
else
	echo "# nftables cannot load a table on this kernel: the firewall scenario is not run"
fi

# --- Happy Eyeballs: IPv6 first, IPv4 250 ms later wins, IPv6 abandoned 1.2 s after ----------
dump_start "$T/he.json" comm nsg-he
gen=$(unique_gen nsg-he)
out=$(in_netns "'$gen' happy-eyeballs ::1 127.0.0.1 1200")
dump_stop "$T/he.json"
check "the client's IPv4 attempt won" grep -q "winner=IPv4" <<<"$out"
check_eq "the IPv4 attempt is established" 1 \
	"$(count "$T/he.json" "e['kind']=='tcp_outcome' and e['family']=='IPv4' and e['outcome']=='established'")"
check_eq "the IPv6 attempt is abandoned without an answer (its own facts: timeout, abandoned)" 1 \
	"$(count "$T/he.json" "e['kind']=='tcp_outcome' and e['family']=='IPv6' and e['abandoned'] and e['outcome']=='timeout'")"
