# The recorder's HTTP + JSON API (docs/api.md), with curl over its Unix socket against a real
# netspyd: every data tool answers what `netspyctl TOOL --json` answers for the same arguments and
# traffic; the original's paths; the socket refuses users outside its group; the OpenAPI document
# validates (an OpenAPI validator from npm, tests/api) and lists every tool; hostile requests get
# a clear 4xx while the recorder keeps recording (exact counts, 0 events unaccounted); the TCP
# listener needs its bearer token; the AI tools only with --api-ai.
. "$(dirname "$0")/lib.sh"
require_root
command -v curl >/dev/null || { fail "curl is not installed (packaging/install-deps.sh)"; exit 1; }
py() { python3 -c "$@"; }
# jget FILE EXPR: EXPR over the JSON document J of FILE; jtrue FILE EXPR: whether it is true.
jget() { python3 -c 'import json,sys; J=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
jtrue() { python3 -c 'import json,sys; J=json.load(open(sys.argv[1])); sys.exit(not eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }

# netspyd attached to a cgroup of the suite's own, so that other suites' connections never reach
# it, and without drop tracing: drops are traced machine-wide, and a drop flood elsewhere (another
# suite, a benchmark) pushes this suite's events out of netspyd's backlog within seconds, after
# which no two calls could be compared on them. The drop tools are still compared (on what the
# backlog holds without drops); their content is checked against the kernel by the collector,
# drops and flood suites. The comparisons ask for this suite's generator by name.
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CGROOT/netspy-api-$$.slice
mkdir -p "$CG/apitest.service" || { fail "cannot create a test cgroup under $CGROOT"; exit 1; }
on_exit "rmdir '$CG/apitest.service' '$CG'"
in_cg() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/apitest.service" "$@"; }
start_daemon --cgroup "$CG" --no-drops || exit 1

ASOCK=$T/api.sock
MSOCK=$T/metrics.sock
"$NETSPYCTL" --socket "$SOCK" record --state-dir "$T/state" --metrics-listen none \
	--metrics-socket "$MSOCK" --api-socket "$ASOCK" --grace 1 >"$T/recorder.log" 2>&1 &
REC=$!
on_exit "kill $REC"
U=http://localhost
api() { curl -sS --max-time 60 --unix-socket "$ASOCK" "$@"; }
# code ARGS...: the HTTP status (the body goes to $T/body; 000 when the connection failed).
code() { curl -s --max-time 60 -o "$T/body" -w '%{http_code}' --unix-socket "$ASOCK" "$@"; }
for i in $(seq 1 100); do
	[ -S "$ASOCK" ] && api -o /dev/null "$U/health" 2>/dev/null && break
	sleep 0.1
done
check "the recorder serves the API on its Unix socket" test -S "$ASOCK"
check_eq "the socket is mode 0660" 660 "$(stat -c %a "$ASOCK")"

# ---- /health ----
for i in $(seq 1 50); do
	[ "$(code "$U/health")" = 200 ] && break
	sleep 0.2
done
check_eq "GET /health: 200 once netspyd is followed" 200 "$(code "$U/health")"
check_eq "  netspyd_reachable" True "$(jget "$T/body" 'J["netspyd_reachable"]')"
check_eq "  events_lost by source" "0 0 0" \
	"$(jget "$T/body" '" ".join(str(J["events_lost"][k]) for k in ("kernel","client","recorder"))')"
check_eq "  answered as application/json" application/json \
	"$(curl -s -o /dev/null -w '%{content_type}' --unix-socket "$ASOCK" "$U/health")"

# ---- traffic ----
GEN=$(unique_gen "nsapi$$"); NAME=${GEN##*/}; NAME=${NAME:0:15}
UPORT=$((20000 + $$ % 20000))
in_cg "$GEN" tcp 127.0.0.1 1 3 >/dev/null
in_cg "$GEN" tcp-local 127.0.0.1 2 >/dev/null
in_cg "$GEN" udp 127.0.0.1 "$UPORT" 2 send >/dev/null
if command -v dig >/dev/null; then
	in_cg dig +tries=1 +time=1 -p 53 @127.0.0.1 api-test.example >/dev/null 2>&1
fi
sleep 1
check "events flow (/health)" sh -c "curl -sS --unix-socket '$ASOCK' $U/health | grep -q '\"events_flowing\": *true'"

# ---- every data tool: the API's result equals netspyctl --tool NAME --json ----
# Tools (name, then the words after --help's "(name)"): the registry as netspyctl lists it.
mapfile -t TOOLS < <("$NETSPYCTL" --help | sed -n 's/^  [a-z-]\+\( [A-Z]\+\)\? .*(\([a-z_]\+\))$/\2/p')
check_ge "netspyctl --help lists the registry's tools" 8 "${#TOOLS[@]}"
DATA_TOOLS=()
for t in "${TOOLS[@]}"; do
	case $t in ai_insights | contextual_analysis) ;; *) DATA_TOOLS+=("$t") ;; esac
done
# What legitimately differs between two calls a moment apart: the window is "the last DURATION
# seconds before now", so window_start and window_end are the clock at each call, and so is every
# bound that equals one of them (coverage_start, covered_start, covered_end when the data reaches
# the window's edge). Those values are replaced by placeholders; everything else, counts, events,
# bounds that are not the window's own, must be equal.
cat >"$T/compare.py" <<'PY'
import datetime, json, sys
# find_anomalies' baseline is the BASELINE seconds before the window: its start is the clock too
# (replaced below when it is exactly window_start - baseline seconds).
def norm(doc):
    edges = {doc.get("window_start"): "<window_start>", doc.get("window_end"): "<window_end>"}
    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str) and v in edges:
            return edges[v]
        return v
    return walk(doc)
docs = [json.load(open(f)) for f in sys.argv[1:3]]
for d in docs:
    bl = d.get("baseline")
    if isinstance(bl, dict) and isinstance(bl.get("seconds"), int) and d.get("window_start"):
        ws = datetime.datetime.fromisoformat(d["window_start"].replace("Z", "+00:00"))
        want = (ws - datetime.timedelta(seconds=bl["seconds"])).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if bl.get("start") == want:
            bl["start"] = "<window_start - baseline seconds>"
a, b = (norm(d) for d in docs)
# When netspyd's backlog pushed events out between the two calls (a flood elsewhere on the
# machine), how much of the window it still holds moved on: those bookkeeping fields may differ
# then, and only then; the answers themselves may not.
if a.get("events_evicted") or b.get("events_evicted"):
    for d in (a, b):
        for k in ("events_evicted", "coverage_start", "complete", "covered_start"):
            d.pop(k, None)
        if isinstance(d.get("totals"), dict):
            d["totals"].pop("drops", None)

if a != b:
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            print("#   %s: api %s, cli %s" % (k, json.dumps(a.get(k))[:200], json.dumps(b.get(k))[:200]))
    sys.exit(1)
PY
# same TOOL CLI-WORDS... -- JSON-BODY: one comparison (retried once: a call that straddles the
# recorder writing a minute may see the history change under it).
same() {
	local t=$1 body=$2; shift 2
	local try out
	for try in 1 2; do
		out=$(code -H 'Content-Type: application/json' -d "$body" "$U/api/v1/tools/$t")
		cp "$T/body" "$T/api.json"
		"$NETSPYCTL" --socket "$SOCK" --history "$T/state/history.db" --json --tool "$t" "$@" \
			>"$T/cli.json" 2>"$T/cli.err"
		[ "$out" = 200 ] && python3 "$T/compare.py" "$T/api.json" "$T/cli.json" >"$T/diff" && break
	done
	if [ "$out" = 200 ] && [ ! -s "$T/diff" ]; then
		pass "POST /api/v1/tools/$t $body equals netspyctl --tool $t $* --json"
	else
		fail "POST /api/v1/tools/$t $body equals netspyctl --tool $t $* --json (HTTP $out: $(head -c 300 "$T/api.json"))"
		cat "$T/diff"
	fi
}
for t in "${DATA_TOOLS[@]}"; do
	same "$t" "{\"process_name\":\"$NAME\"}" --process "$NAME"
	same "$t" "{\"process_name\":\"$NAME\",\"duration\":300}" --process "$NAME" --duration 300
done
same list_connections "{\"process_name\":\"$NAME\",\"max_events\":2}" --process "$NAME" --max-events 2
# The generator's connections reach the API: its 3 refused TCP connects and 2 UDP sends by
# outcome, and list_connections lists as many connections as get_network_summary counts.
api -d "{\"process_name\":\"$NAME\",\"duration\":600}" "$U/api/v1/tools/get_network_summary" >"$T/s.json"
check_eq "the generator's connections reach the API (get_network_summary: 3 refused, 2 sent)" "3 2" \
	"$(jget "$T/s.json" '"%s %s" % (J["by_outcome"].get("refused"), J["by_outcome"].get("sent"))')"
TOTAL=$(jget "$T/s.json" 'J["total_connections"]')
check_ge "  at least the 7 connects it made" 7 "$TOTAL"
api -d "{\"process_name\":\"$NAME\",\"duration\":600}" "$U/api/v1/tools/list_connections" >"$T/l.json"
check_eq "  and list_connections lists them all" "$TOTAL $TOTAL" "$(jget "$T/l.json" '"%s %s" % (J["total_matching"], len(J["events"]))')"

# ---- the original's paths ----
api -d "{\"process_name\":\"$NAME\",\"duration\":300}" "$U/api/connection-summary" >"$T/alias.json"
api -d "{\"process_name\":\"$NAME\",\"duration\":300}" "$U/api/v1/tools/get_network_summary" >"$T/tool.json"
check "POST /api/connection-summary is get_network_summary" python3 "$T/compare.py" "$T/alias.json" "$T/tool.json"
check_eq "  total_connections $TOTAL" "$TOTAL" "$(jget "$T/alias.json" 'J["total_connections"]')"
api "$U/api/list-connections?process_name=$NAME&duration=300&max_events=3&pid=$$" >"$T/alias.json"
check_eq "GET /api/list-connections?pid&process_name&duration&max_events: the filter echoed" \
	"$$ $NAME" "$(jget "$T/alias.json" '"%s %s" % (J["filter"]["pid"], J["filter"]["process_name"])')"
api "$U/api/list-connections?process_name=$NAME&duration=300&max_events=3" >"$T/alias.json"
api -d "{\"process_name\":\"$NAME\",\"duration\":300,\"max_events\":3}" "$U/api/list-connections" >"$T/tool.json"
check "GET with query parameters equals POST with a body" python3 "$T/compare.py" "$T/alias.json" "$T/tool.json"
check_eq "  max_events=3: 3 events of $TOTAL" "3 $TOTAL" "$(jget "$T/alias.json" '"%s %s" % (len(J["events"]), J["total_matching"])')"
check_eq "GET /api/list-connections?pid=abc: 400" 400 "$(code "$U/api/list-connections?pid=abc")"
check "  with the parameter named" grep -q '"error": *"invalid arguments for list_connections: pid needs a whole number' "$T/body"

# ---- errors ----
check_eq "a validation error: 400" 400 "$(code -d '{"duration":0}' "$U/api/v1/tools/get_network_summary")"
check "  with the validator's message" grep -q '"error": *"invalid arguments for get_network_summary: .*duration' "$T/body"
check_eq "an unknown tool: 404" 404 "$(code -d '{}' "$U/api/v1/tools/nosuchtool")"
check_eq "an AI tool without --api-ai: 404" 404 "$(code -d '{"summary_text":"x"}' "$U/api/v1/tools/ai_insights")"
check "  saying how to enable it" grep -q -- '--api-ai' "$T/body"
check_eq "GET on a tool: 405" 405 "$(code "$U/api/v1/tools/get_network_summary")"
check_eq "  with Allow: POST" POST "$(curl -s -o /dev/null -D - --unix-socket "$ASOCK" "$U/api/v1/tools/get_network_summary" | tr -d '\r' | sed -n 's/^Allow: //Ip')"
check_eq "DELETE /api/v1/tools: 405" 405 "$(code -X DELETE "$U/api/v1/tools")"
check_eq "PUT /api/list-connections: 405" 405 "$(code -X PUT -d '{}' "$U/api/list-connections")"
check_eq "text/plain body: 415" 415 "$(code -H 'Content-Type: text/plain' -d '{}' "$U/api/v1/tools/get_network_summary")"
check_eq "malformed JSON: 400" 400 "$(code -d '{"pid":' "$U/api/v1/tools/get_network_summary")"
check "  as JSON with an error" jtrue "$T/body" 'J["error"]'
check_eq "a JSON array: 400" 400 "$(code -d '[1]' "$U/api/v1/tools/get_network_summary")"
check_eq "unknown paths: 404" 404 "$(code "$U/api/v2/anything")"

# ---- the boundary: group netspy and nobody else ----
ensure_group
chgrp netspy "$ASOCK"
if getent passwd nobody >/dev/null && command -v setpriv >/dev/null; then
	as_nobody() { setpriv --reuid nobody --regid nogroup "$@"; }
	check "a user outside group netspy is refused by the socket" \
		sh -c "! setpriv --reuid nobody --regid nogroup --clear-groups curl -fsS --unix-socket '$ASOCK' $U/health >/dev/null 2>&1"
	out=$(as_nobody --groups netspy curl -s -o /dev/null -w '%{http_code}' --unix-socket "$ASOCK" "$U/health" 2>&1)
	check_eq "a member of group netspy gets /health" 200 "$out"
else
	skip "the group boundary: no user nobody or no setpriv"
fi

# ---- the OpenAPI document ----
check_eq "GET /api/v1/openapi.json: 200" 200 "$(code "$U/api/v1/openapi.json")"
cp "$T/body" "$T/openapi.json"
if command -v node >/dev/null && [ -d tests/api/node_modules/@seriousme/openapi-schema-validator ]; then
	(cd tests/api && timeout 60 node validate.mjs "$T/openapi.json" "${DATA_TOOLS[@]}") ||
		echo "# the validator exited $?"
else
	fail "the OpenAPI validator is not installed: run packaging/install-deps.sh (npm ci in tests/api)"
fi
check_eq "GET /api/v1/tools lists the data tools" "${DATA_TOOLS[*]}" \
	"$(api "$U/api/v1/tools" | py 'import json,sys; print(" ".join(t["name"] for t in json.load(sys.stdin)["tools"]))')"

# ---- hostile requests, while traffic is recorded ----
GEN2=$(unique_gen "nsapih$$"); NAME2=${GEN2##*/}; NAME2=${NAME2:0:15}
rolled_before=$(api "$U/health" | py 'import json,sys; print(json.load(sys.stdin)["events_rolled_up"])')
# A few slowloris connections: headers never finished.
cat >"$T/slow.py" <<'PY'
import socket, sys, time
path, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"POST /api/v1/tools/list_connections HTTP/1.1\r\nHost: x\r\n")
    conns.append(s)
time.sleep(hold)
closed = 0
for s in conns:
    s.settimeout(0.5)
    try:
        closed += s.recv(4096) == b""
    except OSError:
        closed += 1
print(closed)
PY
python3 "$T/slow.py" "$ASOCK" 5 13 >"$T/slow.out" &
SLOW=$!
in_cg "$GEN2" udp 127.0.0.1 "$UPORT" 40 send >/dev/null &
TRAFFIC=$!
sleep 0.5
start=$(date +%s%N)
check_eq "with 5 idle slowloris connections /health still answers" 200 "$(code "$U/health")"
check "  at once (under 2 s)" test $((($(date +%s%N) - start) / 1000000)) -lt 2000
head -c 1048576 /dev/zero | tr '\0' 'a' >"$T/big"
check_eq "a 1 MiB body: 413" 413 "$(code -H 'Content-Type: application/json' --data-binary @"$T/big" "$U/api/v1/tools/list_connections")"
check "  as JSON with an error" grep -q '"error": *"the body is larger than 65536 bytes"' "$T/body"
check_eq "a 1 MiB chunked body (no Content-Length): 413" 413 \
	"$(code -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' --data-binary @"$T/big" "$U/api/v1/tools/list_connections")"
head -c $((8 << 20)) /dev/zero >"$T/huge"
check_eq "an 8 MiB body with Content-Length: 413 before it is sent" 413 \
	"$(code -H 'Content-Type: application/json' --data-binary @"$T/huge" "$U/api/v1/tools/list_connections")"
curl -s --max-time 60 -o /dev/null --unix-socket "$ASOCK" -H 'Transfer-Encoding: chunked' \
	-H 'Content-Type: application/json' --data-binary @"$T/huge" "$U/api/v1/tools/list_connections"
rc=$?
check "an 8 MiB chunked body: the connection is closed (curl exit $rc)" test $rc -ne 0
check_eq "/api/v1/tools/../x (as is): 404" 404 "$(code --path-as-is "$U/api/v1/tools/../x")"
check_eq "/api/v1/tools/%2e%2e/x: 404" 404 "$(code -d '{}' "$U/api/v1/tools/%2e%2e/x")"
check_eq "/api/v1/tools/%2e%2e/%2e%2e/health: 404" 404 "$(code --path-as-is "$U/api/v1/tools/%2e%2e/%2e%2e/health")"
long=$(head -c 100000 /dev/zero | tr '\0' 'x')
st=$(code "$U/api/$long")
check "an overlong URL (100 kB): 4xx (got $st)" test "$st" -ge 400 -a "$st" -lt 500
check_eq "a deeply nested body: 400" 400 "$(code -d "$(printf '[%.0s' $(seq 1 500))" "$U/api/v1/tools/list_connections")"
check_eq "a query string on a POST: 400" 400 "$(code -d '{}' "$U/api/v1/tools/list_connections?pid=1")"
wait $TRAFFIC
wait $SLOW
check_eq "the idle connections were closed by the server (connection timeout)" 5 "$(cat "$T/slow.out")"
check_eq "after them /health answers" 200 "$(code "$U/health")"
# The recorder counted every connection of the generator, during all that.
sent() {
	curl -fsS --unix-socket "$MSOCK" http://localhost/metrics 2>/dev/null |
		awk -v p="process=\"$NAME2\"" 'index($0, p) && /^netspy_connections_total\{/ { n += $NF } END { print n + 0 }'
}
for i in $(seq 1 100); do [ "$(sent)" = 40 ] && break; sleep 0.2; done
check_eq "recording went on: the 40 UDP sends made during the hostile requests are counted" 40 "$(sent)"
api "$U/health" >"$T/health.json"
check_eq "  0 events unaccounted (the recorder's lost counts)" "0 0 0" \
	"$(jget "$T/health.json" '" ".join(str(J["events_lost"][k]) for k in ("kernel","client","recorder"))')"
check "  events_rolled_up grew by at least 40" test "$(jget "$T/health.json" 'J["events_rolled_up"]')" -ge $((rolled_before + 40))
check "the recorder is still running" kill -0 $REC

# ---- TCP: opt-in, with a bearer token from a file ----
PORT=$((30000 + $$ % 15000))
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$T/token"
chmod 0640 "$T/token"
timeout 20 "$NETSPYCTL" --socket "$SOCK" record --state-dir "$T/state2" --metrics-listen none \
	--api-socket none --api-listen "127.0.0.1:$PORT" >"$T/r.log" 2>&1
check_eq "--api-listen without --api-token-file: refused (exit 1)" 1 $?
check "  saying so" grep -q -- '--api-listen needs --api-token-file' "$T/r.log"
cp "$T/token" "$T/token-open"
chmod 0644 "$T/token-open"
timeout 20 "$NETSPYCTL" --socket "$SOCK" record --state-dir "$T/state2" --metrics-listen none \
	--api-socket none --api-listen "127.0.0.1:$PORT" --api-token-file "$T/token-open" >"$T/r.log" 2>&1
check_eq "a token file readable by every user: refused (exit 1)" 1 $?
env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u NETSPY_MODEL "$NETSPYCTL" --socket "$SOCK" record \
	--state-dir "$T/state2" --metrics-listen none --api-socket none \
	--api-listen "127.0.0.1:$PORT" --api-token-file "$T/token" --api-ai >"$T/recorder2.log" 2>&1 &
REC2=$!
on_exit "kill $REC2"
for i in $(seq 1 100); do
	curl -s -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break
	sleep 0.1
done
tcode() { curl -s --max-time 60 -o "$T/body" -w '%{http_code}' "$@"; }
check_eq "TCP without a token: 401" 401 "$(tcode "http://127.0.0.1:$PORT/health")"
check "  with WWW-Authenticate: Bearer" sh -c "curl -s -D - -o /dev/null http://127.0.0.1:$PORT/health | grep -qi '^WWW-Authenticate: Bearer'"
check_eq "TCP with a wrong token: 401" 401 "$(tcode -H "Authorization: Bearer ${TOKEN}x" "http://127.0.0.1:$PORT/health")"
check_eq "TCP with a token one character short: 401" 401 "$(tcode -H "Authorization: Bearer ${TOKEN%?}" "http://127.0.0.1:$PORT/health")"
# 503 until this recorder follows netspyd (slow under the sanitizers): the token is accepted either way.
for i in $(seq 1 150); do
	code=$(tcode -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/health")
	[ "$code" = 200 ] && break
	sleep 0.1
done
check_eq "TCP with the token: 200" 200 "$code"
check_eq "TCP with the token: a tool answers" 200 "$(tcode -H "Authorization: Bearer $TOKEN" -d "{\"process_name\":\"$NAME\",\"duration\":600}" "http://127.0.0.1:$PORT/api/v1/tools/get_network_summary")"
check_eq "  the same count as on the socket" "$TOTAL" "$(jget "$T/body" 'J["total_connections"]')"
check "the token never appears in the recorder's command line or log" \
	sh -c "! grep -q '$TOKEN' /proc/$REC2/cmdline '$T/recorder2.log'"

# ---- the AI tools, with --api-ai (the offline analyst answers: no model is configured) ----
tapi() { curl -s --max-time 60 -H "Authorization: Bearer $TOKEN" "$@"; }
check "with --api-ai, GET /api/v1/tools lists ai_insights and contextual_analysis" sh -c \
	"curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/tools | grep -q '\"name\": *\"contextual_analysis\"'"
check_eq "POST /api/v1/tools/ai_insights: 200" 200 \
	"$(tcode -H "Authorization: Bearer $TOKEN" -d '{"summary_text":"3 refused connections to 127.0.0.1:1"}' "http://127.0.0.1:$PORT/api/v1/tools/ai_insights")"
tapi "http://127.0.0.1:$PORT/api/v1/openapi.json" >"$T/openapi-ai.json"
check "  and the OpenAPI document lists it" jtrue "$T/openapi-ai.json" '"/api/v1/tools/ai_insights" in J["paths"]'
