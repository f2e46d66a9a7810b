# Helpers for the AI suites (tests/ai.test.sh, tests/ai-live.test.sh): the scripted model server
# and assertions on the requests it recorded. Source after lib.sh; set SECRET first.
FAKE=$PWD/tests/tools/fake_openai.py
unset OPENAI_API_KEY OPENAI_BASE_URL NETSPY_MODEL NETSPY_AI_TIMEOUT CREDENTIALS_DIRECTORY \
	NETSPY_AI_MAX_ITERATIONS NETSPY_AI_MAX_BYTES

# fake_start NAME SCENARIO: starts a fake server; sets URL (its base URL) and REC (its record).
fake_start() {
	local pid i
	printf '%s' "$2" >"$T/$1.json"
	REC=$T/$1.jsonl
	: >"$REC"
	python3 "$FAKE" "$T/$1.json" "$REC" >"$T/$1.port" 2>"$T/$1.err" &
	pid=$!
	on_exit "kill $pid"
	for i in $(seq 1 100); do
		[ -s "$T/$1.port" ] && break
		sleep 0.05
	done
	URL=http://127.0.0.1:$(cat "$T/$1.port")/v1
}

# py EXPR: evaluates a Python expression with R (the recorded requests, a list), B(n) (the body of
# request n, from 1), TOOLS(n) (the tool messages of request n) and OUT (the driver's stdout
# parsed as JSON when it is JSON, else its text).
py() {
	python3 - "$REC" "$T/out" "$1" <<'PY'
import json, sys
R = [json.loads(l) for l in open(sys.argv[1])]
try:
    OUT = json.load(open(sys.argv[2]))
except ValueError:
    OUT = open(sys.argv[2]).read()
def B(n): return R[n - 1]["body"]
def TOOLS(n): return [m for m in B(n)["messages"] if m["role"] == "tool"]
def C(m): return json.loads(m["content"])
def OFFERED(n): return sorted(t["function"]["name"] for t in B(n).get("tools", []))
print(eval(sys.argv[3]))
PY
}
# checkpy DESCRIPTION EXPR: passes when EXPR is True.
checkpy() { check_eq "$1" True "$(py "$2" 2>&1)"; }
