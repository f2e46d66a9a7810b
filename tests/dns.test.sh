# Names (DNS), against the real kernel, in a network namespace this suite makes, with a DNS
# responder of its own (tests/tools/dns_responder.py) on 127.0.0.1:53 and [::1]:53: queries with
# their process, rcode (NOERROR, NXDOMAIN), answers (A, AAAA, a CNAME chain) and latency, over UDP
# and TCP; a query never answered; hostile responses that must not crash or stall anything; and
# the connects that follow a lookup, named after it.
. "$(dirname "$0")/lib.sh"
require_root
command -v dig >/dev/null || { skip "dns: dig is not installed (packaging/install-deps.sh installs dnsutils)"; exit 0; }

jq_py() { python3 -c 'import json,sys; J=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
ctl() { "$NETSPYCTL" --socket "$SOCK" "$@"; }

# netspyd attached to a cgroup of the suite's own (every process below runs in it): other tests'
# floods elsewhere on the machine never reach its backlog.
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-dns-$$.slice
mkdir -p "$CG/dnstest.service" || { fail "cannot create a test cgroup under $CGROOT"; exit 1; }
on_exit "rmdir '$CG/dnstest.service' '$CG'"
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/dnstest.service" "$@"; }
start_daemon --cgroup "$CG" || exit 1

echo "nameserver 127.0.0.1" >"$T/resolv.conf"
echo "options timeout:1 attempts:1" >>"$T/resolv.conf"
# A client that names itself (its threads' comm) "dnsclient", resolves each name with glibc's
# getaddrinfo() (the resolver runs in its own thread) and UDP-connects to the first address
# (a connect sends no packet). Prints its pid, then one line per name.
cat >"$T/client.py" <<'PY'
import socket, sys
open("/proc/thread-self/comm", "w").write("dnsclient")
print(__import__("os").getpid(), flush=True)
for arg in sys.argv[1:]:
    fam, name = arg.split(":", 1)
    family = socket.AF_INET6 if fam == "6" else socket.AF_INET
    try:
        addr = socket.getaddrinfo(name, 9, family, socket.SOCK_DGRAM)[0][4]
    except socket.gaierror as e:
        print(name, "error", e.errno, flush=True)
        continue
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.connect(addr)
    s.close()
    print(name, addr[0], flush=True)
PY

# Everything runs in one new network and mount namespace: loopback up, the responder on port 53,
# /etc/resolv.conf pointing at it for glibc's resolver.
in_cg unshare -n -m bash -c "
	ip link set lo up
	mount --bind '$T/resolv.conf' /etc/resolv.conf
	python3 '$PWD/tests/tools/dns_responder.py' 127.0.0.1 ::1 >'$T/responder.log' 2>&1 &
	for i in \$(seq 1 50); do grep -q ready '$T/responder.log' && break; sleep 0.1; done
	python3 '$T/client.py' 4:a.test 6:a.test 4:www.chain.test 4:nope.nx.test 4:slow.test >'$T/client.out' 2>&1
	dig +tcp @127.0.0.1 tcp.a.test >'$T/dig-tcp.out' 2>&1
	dig @::1 v6.a.test AAAA >'$T/dig-v6.out' 2>&1
	dig +tries=1 +time=1 @127.0.0.1 never.silent.test >/dev/null 2>&1
	dig @127.0.0.1 big.test >/dev/null 2>&1
	for h in loop range count label; do dig +tries=1 +time=1 @127.0.0.1 \$h.hostile.test >/dev/null 2>&1; done
	dig @127.0.0.1 after.a.test >'$T/dig-after.out' 2>&1
	kill %1
"
pid=$(head -1 "$T/client.out")
check "the client resolved through the responder ($(tr '\n' ' ' <"$T/client.out"))" \
	grep -q '^www.chain.test 127.0.0.11$' "$T/client.out"
check "dig over TCP and to [::1] got answers" \
	bash -c "grep -q 'status: NOERROR' '$T/dig-tcp.out' && grep -q 'status: NOERROR' '$T/dig-v6.out'"
check "the responder is still answering after the hostile responses" grep -q 'status: NOERROR' "$T/dig-after.out"
check "netspyd survived it all" kill -0 "$DAEMON_PID"

# watch shows the messages as they went (here replayed from netspyd's backlog), parsed.
timeout 20 "$NETSPYCTL" --socket "$SOCK" watch --replay 300 --process dnsclient --timeout 2 >"$T/watch.txt" 2>&1
check "watch: the client's query for nope.nx.test to 127.0.0.1:53, then its NXDOMAIN, with pid and name" \
	bash -c "grep -q '| dns     | 127.0.0.1:53 .*| UDP  | query A nope.nx.test | dnsclient\[$pid\]' '$T/watch.txt' &&
		grep -q '| dns     | 127.0.0.1:53 .*| UDP  | NXDOMAIN A nope.nx.test | dnsclient\[$pid\]' '$T/watch.txt'"
timeout 20 "$NETSPYCTL" --socket "$SOCK" --json watch --replay 300 --process dnsclient --timeout 2 >"$T/watch.json" 2>&1
check_eq "watch --json: the response for www.chain.test with its CNAME chain and address" "True" \
	"$(python3 -c 'import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(any(e["kind"] == "dns" and e["message"] == "response" and e["name"] == "www.chain.test" and e["type"] == "A" and e["rcode"] == "NOERROR" and "127.0.0.11" in e["answers"] and e["direction"] == "received" and e["source_port"] == 53 for e in ev))' "$T/watch.json")"

timeout 20 "$NETSPYCTL" --socket "$SOCK" list-dns --process dnsclient --max-events 50 --duration 300 --json >"$T/client.json"
check_eq "the client's queries: A and AAAA of a.test, www.chain.test, nope.nx.test, slow.test (glibc asks A and AAAA for each)" \
	"a.test A 127.0.0.10|a.test AAAA ::1|nope.nx.test A NXDOMAIN|slow.test A 127.0.0.12|www.chain.test A edge.chain.test,cdn.chain.test,127.0.0.11" \
	"$(jq_py "$T/client.json" '"|".join(sorted(set("%s %s %s" % (q["name"], q["type"], ",".join(q["answers"]) or q["rcode"]) for q in J["queries"] if q["type"] in ("A", "AAAA") and (q["answers"] or q["rcode"] != "NOERROR") and not (q["name"] == "a.test" and q["type"] == "A" and "::1" in q["answers"]))))')"
check_eq "every query of the client carries its pid and name" "True" \
	"$(jq_py "$T/client.json" 'len(J["queries"]) >= 5 and all(q["pid"] == '"$pid"' and q["process"] == "dnsclient" for q in J["queries"])')"
check_eq "NOERROR and NXDOMAIN, each with a latency, from 127.0.0.1:53 over UDP" "True" \
	"$(jq_py "$T/client.json" 'any(q["rcode"] == "NXDOMAIN" for q in J["queries"]) and all(q["rcode"] in ("NOERROR", "NXDOMAIN") and q["latency_ms"] is not None and q["latency_ms"] >= 0 and q["server_ip"] == "127.0.0.1" and q["server_port"] == 53 and q["protocol"] == "UDP" and q["status"] == "answered" for q in J["queries"])')"
check_eq "slow.test answered after the responder's 200 ms" "True" \
	"$(jq_py "$T/client.json" 'any(q["name"] == "slow.test" and q["type"] == "A" and q["latency_ms"] >= 200 for q in J["queries"])')"

ctl list-dns --name a.test --max-events 50 --duration 300 --json >"$T/a.json"
check_eq "TCP: dig +tcp's query of tcp.a.test, NOERROR, 127.0.0.10" "TCP NOERROR 127.0.0.10" \
	"$(jq_py "$T/a.json" 'next(("%s %s %s" % (q["protocol"], q["rcode"], ",".join(q["answers"])) for q in J["queries"] if q["name"] == "tcp.a.test"), "none")')"
check_eq "IPv6: dig @::1's query of v6.a.test, AAAA ::1 from [::1]:53" "::1 AAAA ::1" \
	"$(jq_py "$T/a.json" 'next(("%s %s %s" % (q["server_ip"], q["type"], ",".join(q["answers"])) for q in J["queries"] if q["name"] == "v6.a.test"), "none")')"
check_eq "--name a.test matches a.test and the names below it, nothing else" "True" \
	"$(jq_py "$T/a.json" 'all(q["name"] == "a.test" or q["name"].endswith(".a.test") for q in J["queries"]) and len(J["queries"]) >= 4')"

# The hostile responses: recorded, answered as far as they parse, and no tool stalls on them.
timeout 20 "$NETSPYCTL" --socket "$SOCK" list-dns --name hostile.test --duration 300 --json >"$T/hostile.json"
check_eq "the four hostile queries are listed (the tool answered, nothing crashed)" 4 \
	"$(jq_py "$T/hostile.json" 'len(set(q["name"] for q in J["queries"]))')"
check_eq "a compression loop, an out-of-range pointer, absurd counts, a runaway label: no answer taken from them" "0" \
	"$(jq_py "$T/hostile.json" 'sum(len(q["answers"]) for q in J["queries"])')"
ctl list-dns --name big.test --duration 300 --json >"$T/big.json"
check_eq "a response longer than 512 bytes: its first answers, marked incomplete" "True" \
	"$(jq_py "$T/big.json" 'any(q["answers_incomplete"] and len(q["answers"]) == 8 and q["rcode"] == "NOERROR" for q in J["queries"])')"

# Unanswered: reported as such once the 5 s timeout has passed.
sleep 5
ctl list-dns --name silent.test --duration 300 --json >"$T/silent.json"
check_eq "never.silent.test: unanswered, rcode and latency null" "unanswered None None" \
	"$(jq_py "$T/silent.json" '" ".join(str(x) for x in next(((q["status"], q["rcode"], q["latency_ms"]) for q in J["queries"]), ("none", "", "")))')"
ctl dns --duration 300 --json >"$T/summary.json"
check_eq "dns: NXDOMAIN counted as failed, the silent query as unanswered, top names and processes" "True" \
	"$(jq_py "$T/summary.json" 'J["failed_queries"] >= 1 and J["by_rcode"].get("NXDOMAIN", 0) >= 1 and J["unanswered_queries"] >= 1 and J["total_queries"] >= 12 and any(p["process"] == "dnsclient" for p in J["processes"]) and J["latency_ms"]["p50"] is not None and len(J["top_names"]) > 0')"
ctl dns --duration 300 >"$T/summary.txt"
check "dns (text) names the failing names" grep -q 'nope.nx.test' "$T/summary.txt"

# The connects that followed the lookups carry the name the process asked for.
ctl list --process dnsclient --duration 300 --max-events 50 --json >"$T/conns.json"
check_eq "the connect to 127.0.0.11:9 is www.chain.test (the CNAME chain followed back to the name asked)" "www.chain.test" \
	"$(jq_py "$T/conns.json" 'next((e["destination_name"] for e in J["events"] if e["destination_ip"] == "127.0.0.11"), "none")')"
check_eq "the connects to 127.0.0.10:9 and [::1]:9 are a.test" "a.test a.test" \
	"$(jq_py "$T/conns.json" '" ".join(str(e["destination_name"]) for e in J["events"] if e["destination_port"] == 9 and e["destination_ip"] in ("127.0.0.10", "::1"))')"
check_eq "the connects to the DNS server have no name" "None" \
	"$(jq_py "$T/conns.json" 'set(e["destination_name"] for e in J["events"] if e["destination_port"] == 53).pop() if any(e["destination_port"] == 53 for e in J["events"]) else None')"
ctl list --process dnsclient --duration 300 >"$T/conns.txt"
check "human output: www.chain.test (127.0.0.11):9" grep -q 'www.chain.test (127.0.0.11):9' "$T/conns.txt"
ctl list --dest chain.test --duration 300 --json >"$T/dest.json"
check_eq "--dest chain.test: the one connect looked up below it" "127.0.0.11" \
	"$(jq_py "$T/dest.json" '",".join(e["destination_ip"] for e in J["events"])')"
ctl list --dest 127.0.0.10 --port 9 --protocol udp --duration 300 --json >"$T/dest2.json"
check_eq "--dest 127.0.0.10 --port 9 --protocol udp: the one connect" "1" "$(jq_py "$T/dest2.json" 'J["total_matching"]')"
ctl analyze --process dnsclient --duration 300 --json >"$T/analyze.json"
check_eq "analyze: top destinations carry destination_name" "True" \
	"$(jq_py "$T/analyze.json" 'any(d["destination_name"] == "www.chain.test" and d["destination"] == "127.0.0.11:9" for d in J["top_destinations"])')"
ctl --offline ask "are there DNS problems?" --duration 300 --json >"$T/ask.json"
check "ask (offline): the failing names and the unanswered query" \
	python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["answer"]; sys.exit(0 if "nope.nx.test" in t and "NXDOMAIN" in t and "never.silent.test" in t else 1)' "$T/ask.json"

# netspyd --no-dns: no DNS hook, no DNS event.
stop_daemon
start_daemon --no-dns --cgroup "$CG" || exit 1
in_cg unshare -n bash -c "ip link set lo up
	python3 '$PWD/tests/tools/dns_responder.py' 127.0.0.1 >'$T/responder2.log' 2>&1 &
	for i in \$(seq 1 50); do grep -q ready '$T/responder2.log' && break; sleep 0.1; done
	dig @127.0.0.1 a.test >/dev/null 2>&1; kill %1"
ctl dns --duration 60 --json >"$T/nodns.json"
check_eq "netspyd --no-dns: no DNS query seen" 0 "$(jq_py "$T/nodns.json" 'J["total_queries"]')"
