#!/usr/bin/env bash
# find_anomalies (netspyctl anomalies) against a real netspyd: traffic made before the window is
# the baseline; in the window a process talks to a new destination, another's connects start to
# fail (and its SYNs are dropped: NO_SOCKET); a process whose traffic does not change gives no
# finding. Uniquely named generators in a private cgroup; each check filters by process.
. "$(dirname "$0")/lib.sh"
require_root

ctl() { "$NETSPYCTL" --socket "$SOCK" "$@"; }
jq_() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-anom-$$.slice
mkdir -p "$CG/nsanom.service" || { fail "cannot create a test cgroup under $CGROOT"; exit 1; }
on_exit "rmdir '$CG/nsanom.service' '$CG'"
start_daemon --cgroup "$CG" || exit 1
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/nsanom.service" "$@"; }
name_of() { local n=${1##*/}; echo "${n:0:15}"; }

NEW=$(unique_gen "nsn$$"); STEADY=$(unique_gen "nss$$"); FAILS=$(unique_gen "nsf$$")
P1=$((22000 + $$ % 9000)); P2=$((P1 + 1)); P3=$((P1 + 2))
# ---- baseline ----
in_cg "$NEW" tcp 127.0.0.1 "$P1" 6 >/dev/null
in_cg "$STEADY" tcp 127.0.0.1 "$P2" 3 >/dev/null
in_cg "$FAILS" tcp-local 127.0.0.1 4 >/dev/null
sleep 14
# ---- the window (the last 10 seconds) ----
in_cg "$NEW" tcp 127.0.0.1 "$P1" 1 >/dev/null
in_cg "$NEW" tcp 127.0.0.1 "$P3" 4 >/dev/null   # a destination it never used
in_cg "$STEADY" tcp 127.0.0.1 "$P2" 3 >/dev/null # the same as before
in_cg "$FAILS" tcp 127.0.0.1 "$P1" 5 >/dev/null  # its connects now fail: refused, and the
						  # SYNs to the closed port are NO_SOCKET drops
sleep 0.5

anom() { ctl anomalies --duration 10 --process "$(name_of "$1")" --json; }
anom "$NEW" >"$T/new.json"
check_eq "new destination: one finding, kind new_destination" "['new_destination']" \
	"$(jq_ '[f["kind"] for f in d["findings"]]' <"$T/new.json")"
check_eq "new destination: the destination and its evidence" \
	"127.0.0.1:$P3 4 6 1" \
	"$(jq_ '"%s %d %d %d" % (d["findings"][0]["destination"], *[d["findings"][0]["evidence"][k] for k in ("recent_connections", "process_baseline_connections", "process_baseline_destinations")])' <"$T/new.json")"
out=$(ctl anomalies --duration 10 --process "$(name_of "$NEW")")
check "human output: the finding and what was not checked" \
	bash -c 'grep -q "\[new_destination\].*127.0.0.1:$1" <<<"$2" && grep -q "not checked: dns_failure_burst" <<<"$2"' _ "$P3" "$out"
anom "$STEADY" >"$T/steady.json"
check_eq "steady traffic: no finding" 0 "$(jq_ 'len(d["findings"])' <"$T/steady.json")"
anom "$FAILS" >"$T/fails.json"
check "failure spike: found, with the rates as evidence" jq_ \
	'1/0 if not [f for f in d["findings"] if f["kind"] == "failure_spike" and f["evidence"]["recent_failed"] == 5 and f["evidence"]["recent_failure_rate"] == 1 and f["evidence"]["baseline_failure_rate"] == 0 and f["evidence"]["baseline_connections"] == 4] else 0' <"$T/fails.json"
check "drop spike: NO_SOCKET, 5 in the window and none before" jq_ \
	'1/0 if not [f for f in d["findings"] if f["kind"] == "drop_spike" and f["reason"] == "NO_SOCKET" and f["evidence"]["recent_drops"] == 5 and f["evidence"]["baseline_drops"] == 0] else 0' <"$T/fails.json"
check_eq "kinds that need data netspy does not collect yet are listed as unavailable" \
	"['new_listening_port', 'retransmit_spike', 'dns_failure_burst']" \
	"$(jq_ '[k["kind"] for k in d["kinds"] if not k["available"]]' <"$T/new.json")"
check_eq "source and windows" "live 10" "$(jq_ 'd["source"] + " " + str(d["recent"]["seconds"])' <"$T/new.json")"
check_eq "--baseline is validated" 1 "$(ctl anomalies --baseline 0 >/dev/null 2>&1; echo $?)"
