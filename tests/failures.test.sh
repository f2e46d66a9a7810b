# Failures as users mean them, against the real kernel, in network namespaces this suite makes:
# connects that fail inside the syscall (no route), connects their application abandons behind a
# firewall that drops the SYNs (and those drops, named after the process that sent them), and a
# Happy Eyeballs client whose slower attempt is abandoned by design.
. "$(dirname "$0")/lib.sh"
require_root

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
# jq_py FILE EXPRESSION: a Python expression on the JSON document J of FILE, printed.
jq_py() { python3 -c 'import json,sys; J=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
ctl() { "$NETSPYCTL" --socket "$SOCK" "$@"; }

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
ctl summary --process nsnoroute --duration 300 --json >"$T/noroute.sum"
check_eq "summary: 6 attempts, 6 failed, all unreachable, none pending" "6 6 6 0" \
	"$(jq_py "$T/noroute.sum" '"%d %d %d %d" % (J["total_connections"], J["failed_connections"], J["by_outcome"].get("unreachable", 0), J["by_outcome"].get("pending", 0))')"
ctl list --process nsnoroute --duration 300 --json >"$T/noroute.list"
check_eq "list: each failed inside connect() with ENETUNREACH" 6 \
	"$(jq_py "$T/noroute.list" 'sum(1 for e in J["events"] if e["failed"] and e["in_connect"] and e["errno"] == "ENETUNREACH")')"
ctl --offline ask "why can't nsnoroute reach anything?" --duration 300 --json >"$T/noroute.ask"
check "ask (offline): a routing problem, its destination and process in the first lines" \
	python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["answer"].splitlines()[:5]; t="\n".join(a); sys.exit(0 if "routing problem" in t and "192.0.2.10:5432" in t and "nsnoroute" in t else 1)' "$T/noroute.ask"

# --- a UDP connect refused inside the syscall after its route was found -------------------------
# (a broadcast address without SO_BROADCAST: EACCES, which no route lookup says): the socket closes
# unconnected, and its connect reads error, errno not known, rather than sent.
dump_start "$T/bcast.json" comm nsbcast
gen=$(unique_gen nsbcast)
in_netns "ip addr add 10.77.0.1/24 brd + dev lo && '$gen' udp 10.77.0.255 53 2 && '$gen' udp 10.77.0.2 53 1" \
	>"$T/bcast.out"
dump_stop "$T/bcast.json"
check_eq "the client saw 2 connects fail, 1 succeed" "ok=0 ok=1" "$(tr '\n' ' ' <"$T/bcast.out" | sed 's/ $//')"
ctl list --process nsbcast --duration 300 --json >"$T/bcast.list"
check_eq "list: the 2 broadcast connects failed inside connect() (error), the third was sent" \
	"error True True 10.77.0.255;error True True 10.77.0.255;sent False False 10.77.0.2" \
	"$(jq_py "$T/bcast.list" '";".join("%s %s %s %s" % (e["outcome"], e["failed"], e["in_connect"], e["destination_ip"]) for e in sorted(J["events"], key=lambda e: e["destination_ip"], reverse=True))')"

# --- refused by another cgroup program (a sandbox's or container's firewall): EPERM ------------
# deny_connect attaches programs refusing every connect to a cgroup of its own; netspy's, on the
# cgroup2 root, run after them and read their verdict.
CG2=$(findmnt -n -t cgroup2 -o TARGET | head -1)
deny_scenario() { # LABEL
	local gen out
	gen=$(unique_gen nsdenied)
	dump_start "$T/denied-$1.json" comm nsdenied
	"$NETSPY_TESTS_BIN/deny_connect" "$CG2/netspy-test-deny-$$" bash -c \
		"'$gen' tcp 127.0.0.1 7 2; '$gen' udp 127.0.0.1 53 1; '$gen' tcp ::1 7 1" >"$T/denied-$1.out"
	dump_stop "$T/denied-$1.json"
	check_eq "$1: the client saw its connects refused" "ok=0 refused=0 other=2;ok=0;ok=0 refused=0 other=1" \
		"$(paste -sd';' "$T/denied-$1.out")"
	check_eq "$1: 3 TCP connects (2 IPv4, 1 IPv6) error EPERM inside the syscall" 3 \
		"$(count "$T/denied-$1.json" "e['kind']=='tcp_outcome' and e['protocol']=='TCP' and e['outcome']=='error' and e['errno']==1 and e['in_connect'] and e['process']=='nsdenied'")"
	check_eq "$1: the UDP connect error EPERM, not sent" 1 \
		"$(count "$T/denied-$1.json" "e['kind']=='tcp_outcome' and e['protocol']=='UDP' and e['outcome']=='error' and e['errno']==1 and e['in_connect']")"
	check_eq "$1: no TCP connect left pending" 0 "$(unresolved "$T/denied-$1.json")"
}
if [ -n "$CG2" ]; then
	deny_scenario default
	ctl list --process nsdenied --duration 300 --json >"$T/denied.list"
	check_eq "list: 4 connects failed inside connect() with EPERM" 4 \
		"$(jq_py "$T/denied.list" 'sum(1 for e in J["events"] if e["failed"] and e["in_connect"] and e["errno"] == "EPERM")')"
	ctl --offline ask "why can't nsdenied connect?" --duration 300 --json >"$T/denied.ask"
	check "ask (offline): a local policy refuses 127.0.0.1:7 for nsdenied, in the first lines" \
		python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["answer"].splitlines()[:5]; t="\n".join(a); sys.exit(0 if "local policy refuses" in t and "127.0.0.1:7" in t and "nsdenied" in t and "EPERM" in t else 1)' "$T/denied.ask"
else
	skip "refused by a cgroup program: no cgroup2 mount"
fi

# --- no free local port: EADDRNOTAVAIL after SYN_SENT, no SYN sent --------------------------------
dump_start "$T/noport.json" comm nsnoport
gen=$(unique_gen nsnoport)
# tcp_state_wait STATE PORT: waits (up to 10 s) for an IPv4 TCP socket on local port PORT (hex) in
# STATE (hex, /proc/net/tcp's: 0A listening, 01 established), however slow the machine.
tcp_state_wait() {
	for _ in $(seq 100); do
		awk -v s="$1" -v p=":$2" '$4 == s && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
			/proc/net/tcp && return 0
		sleep 0.1
	done
	return 1
}
export -f tcp_state_wait
in_netns "sysctl -qw net.ipv4.ip_local_port_range='40000 40000';
	'$gen' listen 127.0.0.1 7000 20 & tcp_state_wait 0A 1B58
	'$gen' hold 127.0.0.1 7000 20 & tcp_state_wait 01 9C40
	'$gen' tcp 127.0.0.1 7000 1; kill %1 %2; wait" \
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
		tcp dport 5432 tcp flags syn counter drop
		tcp dport 5433 tcp flags syn drop
	}
}
NFT
	'$gen' listen 127.0.0.1 5432 7 & sleep 0.3; '$gen' tcp-giveup 127.0.0.1 5432 3 1500; '$quick' tcp-giveup 127.0.0.1 5433 1 200
	kill %1
	nft list chain inet nstest input | sed -n 's/.*dport 5432 .*counter packets \([0-9]*\).*/\1/p' >'$T/fw.count'" >"$T/fw.out"
	dump_stop "$T/fw.json"
	dump_stop "$T/fwdrops.json"
	check_eq "the application gave up 3 times" "ok=0 gaveup=3 other=0" "$(head -1 "$T/fw.out")"
	check_eq "3 abandoned connects after a SYN retransmission: timeout, abandoned" 3 \
		"$(count "$T/fw.json" "e['kind']=='tcp_outcome' and e['process']=='nsdbapp' and e['outcome']=='timeout' and e['abandoned'] and e['syn_retransmits']>=1 and not e['in_connect'] and e['errno']==0 and e['destination_port']==5432 and e['latency_ms']>=1400")"
	check_eq "their source ports are known (not 0)" 3 \
		"$(count "$T/fw.json" "e['kind']=='tcp_outcome' and e['process']=='nsdbapp' and e['source_port']>0")"
	# Each connect sends its SYN and retransmits it once before it gives up: 6 SYNs, as the rule
	# counts them (a retransmission the kernel counts but could not send makes it 5).
	fwsyns=$(cat "$T/fw.count")
	check_ge "the firewall dropped the SYNs of the 3 connects and some retransmissions ($fwsyns)" 5 "$fwsyns"
	check_eq "as many NETFILTER_DROP drops of those SYNs as the rule dropped, attributed to nsdbapp by flow" "$fwsyns" \
		"$(count "$T/fwdrops.json" "e['reason']=='NETFILTER_DROP' and e['destination_port']==5432 and e['process']=='nsdbapp' and e['by_flow']")"
	check_eq "none of the drops to the port left unattributed" 0 \
		"$(count "$T/fwdrops.json" "e['reason']=='NETFILTER_DROP' and e['destination_port']==5432 and e['process'] is None")"
	ctl summary --process nsdbapp --duration 300 --json >"$T/fw.sum"
	check_eq "summary: 3 attempts, 3 failed (timeout)" "3 3 3" \
		"$(jq_py "$T/fw.sum" '"%d %d %d" % (J["total_connections"], J["failed_connections"], J["by_outcome"].get("timeout", 0))')"
	ctl drops --process nsdbapp --duration 300 --json >"$T/fw.drops"
	check_eq "drops: the $fwsyns NETFILTER_DROP drops are nsdbapp's" "$fwsyns" \
		"$(jq_py "$T/fw.drops" 'J["by_reason"].get("NETFILTER_DROP", 0)')"
	ctl --offline ask "why can't nsdbapp reach its database?" --duration 300 --json >"$T/fw.ask"
	python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["answer"].splitlines()[:6]))' "$T/fw.ask" | sed 's/^/# /'
	check "ask (offline): a firewall drops the traffic to 127.0.0.1:5432, for nsdbapp, in the first lines" \
		python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["answer"].splitlines()[:5]; t="\n".join(a); sys.exit(0 if "a firewall drops the traffic to 127.0.0.1:5432" in t and "nsdbapp" in t else 1)' "$T/fw.ask"
	ctl summary --process nsquick --duration 300 --json >"$T/quick.sum"
	check_eq "summary: the 200 ms abandon is not a failure" "1 0" \
		"$(jq_py "$T/quick.sum" '"%d %d" % (J["total_connections"], J["failed_connections"])')"
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
ctl summary --direction out --process nsg-he --duration 300 --json >"$T/he.sum"
check_eq "summary: Happy Eyeballs, 2 attempts, 0 failed" "2 0" \
	"$(jq_py "$T/he.sum" '"%d %d" % (J["total_connections"], J["failed_connections"])')"
ctl list --direction out --process nsg-he --duration 300 --json >"$T/he.list"
check_eq "list: the IPv6 loser reads aborted and abandoned, not failed" 1 \
	"$(jq_py "$T/he.list" 'sum(1 for e in J["events"] if e["family"] == "IPv6" and e["outcome"] == "aborted" and e["abandoned"] and not e["failed"])')"

# --- the refusal again with the connect programs of kernels before 6.2 (bpf_get_retval) -------
if [ -n "$CG2" ]; then
	stop_daemon
	export NETSPYD_TEST_HIDE_FEATURES=kern_ctx
	start_daemon || exit 1
	unset NETSPYD_TEST_HIDE_FEATURES
	deny_scenario compat
fi
