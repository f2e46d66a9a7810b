#!/usr/bin/env bash
# The AI module against a scripted OpenAI-compatible server on loopback (tests/tools/
# fake_openai.py): the function-calling loop, retries, errors, streaming, sessions and the
# offline analyst. The assertions look at the requests the server received, not only at the
# answer. Driven through tests/tools/ai_driver (fake data tools with known results).
. "$(dirname "$0")/lib.sh"
DRIVER=$NETSPY_TESTS_BIN/ai_driver
SECRET=sk-test-$RANDOM$RANDOM-do-not-print
. "$(dirname "$0")/ai_lib.sh"

# ask ARGS...: runs the driver with the secret key, output in $T/out and $T/err, status in RC.
ask() {
	OPENAI_API_KEY=$SECRET "$DRIVER" --base-url "$URL" "$@" >"$T/out" 2>"$T/err"
	RC=$?
}
# key_mapping_nodump PID: PID has an anonymous read-write 16 kB mapping (the key's) marked dd.
key_mapping_nodump() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { anon = ($2 == "rw-p" && NF == 5) }
	     /^Size:/ { size = $2 }
	     /^VmFlags:/ && / dd/ && anon && size == 16 { found = 1 }
	     END { exit !found }' "/proc/$1/smaps"
}
no_secret() { ! grep -qF -- "$SECRET" "$T/out" "$T/err"; }

# ---- a two-step chain: the final answer carries the tools' real numbers -------------------
fake_start chain '{"steps":[
 {"tool_calls":[["get_network_summary","{\"duration\":60}"]]},
 {"tool_calls":[["get_packet_drop_summary","{}"]]},
 {"answer":"{tool.0.total_connections} connections, {tool.0.failed_connections} failed; {tool.1.total_drops} drops, NO_SOCKET {tool.1.by_reason.NO_SOCKET}."}]}'
ask --json --model test-model ask "what is happening on my network?"
check_eq "chain: exit status" 0 "$RC"
check_eq "chain: three requests" 3 "$(wc -l <"$REC")"
checkpy "chain: the answer carries the numbers the tools returned" \
	'OUT["answer"] == "4217 connections, 389 failed; 12 drops, NO_SOCKET 9."'
checkpy "chain: offered functions come from the tool list (not contextual_analysis, not hidden, not invalid names)" \
	'OFFERED(1) == ["always_fails", "analyze_patterns", "big_data", "get_network_summary", "get_packet_drop_summary", "list_connections"]'
checkpy "chain: functions carry the input schema as parameters" \
	'[t for t in B(1)["tools"] if t["function"]["name"] == "list_connections"][0]["function"]["parameters"]["properties"]["max_events"]["maximum"] == 5000 and all(t["type"] == "function" for t in B(1)["tools"])'
checkpy "chain: the system prompt calls tool data untrusted and the tools read-only" \
	'B(1)["messages"][0]["role"] == "system" and "untrusted" in B(1)["messages"][0]["content"] and "read-only" in B(1)["messages"][0]["content"]'
checkpy "chain: the question is the user message; model and stream as configured" \
	'B(1)["messages"][1] == {"role": "user", "content": "what is happening on my network?"} and B(1)["model"] == "test-model" and B(1)["stream"] is False'
checkpy "chain: request 2 answers call_1_0 with the summary as JSON" \
	'[(m["tool_call_id"], C(m)["total_connections"]) for m in TOOLS(2)] == [("call_1_0", 4217)]'
checkpy "chain: the assistant tool-call message is echoed before the tool message" \
	'B(2)["messages"][-2]["role"] == "assistant" and B(2)["messages"][-2]["tool_calls"][0]["id"] == "call_1_0" and B(2)["messages"][-2]["tool_calls"][0]["function"]["arguments"] == "{\"duration\":60}"'
checkpy "chain: request 3 holds both tool messages in order" \
	'[m["tool_call_id"] for m in TOOLS(3)] == ["call_1_0", "call_2_0"] and C(TOOLS(3)[1])["total_drops"] == 12'
checkpy "chain: the arguments reached the tool" 'C(TOOLS(2)[0])["arguments_seen"] == {"duration": 60}'
checkpy "chain: result lists the tools called with their arguments" \
	'OUT["tools_called"] == [{"name": "get_network_summary", "arguments": {"duration": 60}}, {"name": "get_packet_drop_summary", "arguments": {}}]'
checkpy "chain: iterations, stopped_early, offline, model" \
	'(OUT["iterations"], OUT["stopped_early"], OUT["offline"], OUT["model"]) == (3, False, False, "test-model")'
checkpy "chain: the key is sent as a bearer token" 'R[0]["authorization"] == "Bearer '"$SECRET"'"'
check "chain: the key appears nowhere in the output" no_secret

# ---- several tool calls in one message --------------------------------------------------------
fake_start multi '{"steps":[
 {"tool_calls":[["get_network_summary","{}"],["get_packet_drop_summary","{\"pid\":77}"],["list_connections","{\"process_name\":\"gen\"}"]]},
 {"answer":"done"}]}'
ask --json --progress ask "everything?"
check_eq "multi: each call is announced on the progress stream" 3 "$(grep -c "^netspy: calling " "$T/err")"
check_eq "multi: exit status" 0 "$RC"
checkpy "multi: every call answered in order with its id" \
	'[m["tool_call_id"] for m in TOOLS(2)] == ["call_1_0", "call_1_1", "call_1_2"]'
checkpy "multi: each tool message holds its own tool's result" \
	'"total_connections" in C(TOOLS(2)[0]) and C(TOOLS(2)[1])["total_drops"] == 12 and C(TOOLS(2)[1])["arguments_seen"] == {"pid": 77} and len(C(TOOLS(2)[2])["events"]) == 4'
checkpy "multi: the tool messages follow the assistant message directly" \
	'[m["role"] for m in B(2)["messages"]][-4:] == ["assistant", "tool", "tool", "tool"]'
checkpy "multi: three tools called" 'len(OUT["tools_called"]) == 3 and OUT["iterations"] == 2'

# ---- malformed arguments: answered as an error the model can correct -----------------------
fake_start badjson '{"steps":[
 {"tool_calls":[["get_network_summary","{\"duration\": 6"]]},
 {"tool_calls":[["get_network_summary","{\"pid\":\"seventy\"}"]]},
 {"tool_calls":[["get_network_summary","{\"duration\":60}"]]},
 {"answer":"{tool.-1.total_connections}"}]}'
ask --json ask "q"
check_eq "bad arguments: no crash, exit 0" 0 "$RC"
checkpy "bad arguments: invalid JSON is answered with an error" \
	'"error" in C(TOOLS(2)[0]) and "not a valid JSON object" in C(TOOLS(2)[0])["error"] and TOOLS(2)[0]["tool_call_id"] == "call_1_0"'
checkpy "bad arguments: arguments that fail the schema are answered with the validator's message" \
	'"invalid arguments for get_network_summary" in C(TOOLS(3)[1])["error"] and "pid" in C(TOOLS(3)[1])["error"]'
checkpy "bad arguments: the corrected call succeeds" 'OUT["answer"] == "4217"'
checkpy "bad arguments: unparsable calls are not listed as called" \
	'[c["arguments"] for c in OUT["tools_called"]] == [{"pid": "seventy"}, {"duration": 60}]'

# ---- unknown functions (and contextual_analysis, which is not offered) ----------------------
fake_start unknown '{"steps":[
 {"tool_calls":[["delete_everything","{}"],["contextual_analysis","{\"query\":\"x\"}"],["list_packet_drops","{}"]]},
 {"answer":"ok"}]}'
ask --json ask "q"
check_eq "unknown function: exit 0" 0 "$RC"
checkpy "unknown function: each is answered with an error naming the available functions" \
	'all("unknown function" in C(m)["error"] and "get_network_summary" in C(m)["error"] for m in TOOLS(2)) and len(TOOLS(2)) == 3'
checkpy "unknown function: nothing was called" 'OUT["tools_called"] == []'

# ---- finish_reason is not trusted: no tool calls means an answer -------------------------------
fake_start finish '{"steps":[{"tool_calls":[],"content":"final words","finish_reason":"tool_calls"},{"answer":"never"}]}'
ask --json ask "q"
checkpy "finish_reason tool_calls without tool calls is an answer" 'OUT["answer"] == "final words" and len(R) == 1'

# ---- a failing tool -----------------------------------------------------------------------------
fake_start toolfail '{"steps":[{"tool_calls":[["always_fails","{}"]]},{"answer":"ok"}]}'
ask --json ask "q"
checkpy "failing tool: its message reaches the model as an error" \
	'C(TOOLS(2)[0]) == {"error": "this tool always fails"} and OUT["answer"] == "ok"'

# ---- retries ----------------------------------------------------------------------------------
fake_start r429 '{"steps":[
 {"status":429,"headers":{"Retry-After":"1"},"json":{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}},
 {"answer":"after the wait"}]}'
t0=$(date +%s%N)
ask --json ask "q"
t1=$(date +%s%N)
check_eq "429: retried and succeeded" "0 2" "$RC $(wc -l <"$REC")"
check_ge "429: waited the Retry-After second (ms)" 1000 $(((t1 - t0) / 1000000))
checkpy "429: the answer is the second response" 'OUT["answer"] == "after the wait"'

fake_start r429date '{"steps":[
 {"status":429,"headers":{"Retry-After":"{date+3}"},"json":{"error":{"message":"slow down"}}},
 {"answer":"after the date"}]}'
t0=$(date +%s%N)
ask --json ask "q"
t1=$(date +%s%N)
check_eq "429 with an HTTP-date Retry-After: retried and succeeded" "0 2" "$RC $(wc -l <"$REC")"
check_ge "429 with an HTTP-date Retry-After: waited until about that date (ms)" 1000 $(((t1 - t0) / 1000000))

fake_start r500 '{"steps":[
 {"status":500,"json":{"error":{"message":"boom"}}},
 {"status":503,"json":{"error":{"message":"busy"}}},
 {"answer":"third time lucky"}]}'
ask --json --progress ask "q"
check_eq "500 twice: retried and succeeded" "0 3" "$RC $(wc -l <"$REC")"
check_eq "500 twice: each retry is announced on the progress stream" 2 "$(grep -c "is busy or failing; retrying in" "$T/err")"
checkpy "500 twice: every attempt sent the same request" 'B(1) == B(2) == B(3)'

fake_start r500x '{"steps":[{"status":502,"json":{"error":{"message":"bad gateway"}}}]}'
ask --json ask "q"
check_eq "5xx forever: gives up after 4 attempts with exit 4" "4 4" "$RC $(wc -l <"$REC")"
check "5xx forever: the message names the status" grep -q "HTTP 502 after retries: bad gateway" "$T/err"

CLOSED=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
OPENAI_API_KEY=$SECRET "$DRIVER" --base-url "http://127.0.0.1:$CLOSED/v1" --progress --json ask "q" \
	>"$T/out" 2>"$T/err"
check_eq "connection refused: exit 4" 4 $?
check_eq "connection refused: retried (3 notices)" 3 "$(grep -c "could not be reached; retrying" "$T/err")"
check "connection refused: clear message" grep -q "cannot reach the model server at http://127.0.0.1:$CLOSED/v1" "$T/err"

# ---- errors that must not be retried; the key never printed -----------------------------------
printf '%s\n' "$SECRET" >"$T/keyfile"
fake_start r401 '{"steps":[{"status":401,"json":{"error":{"message":"Incorrect API key provided: '"$SECRET"'","code":"invalid_api_key"}}}]}'
"$DRIVER" --base-url "$URL" --api-key-file "$T/keyfile" --json ask "q" >"$T/out" 2>"$T/err"
RC=$?
check_eq "401: exit 4" 4 "$RC"
check_eq "401: not retried" 1 "$(wc -l <"$REC")"
check "401: clear message" grep -q "the API key was rejected (HTTP 401)" "$T/err"
check "401: the key (echoed by the server) is not printed" no_secret
checkpy "401: the key file's key was sent, trimmed" 'R[0]["authorization"] == "Bearer '"$SECRET"'"'

fake_start r403 '{"steps":[{"status":403,"json":{"error":{"message":"no"}}}]}'
ask --json ask "q"
check_eq "403: exit 4, not retried" "4 1" "$RC $(wc -l <"$REC")"
check "403: clear message" grep -q "refused access (HTTP 403)" "$T/err"

fake_start quota '{"steps":[{"status":429,"json":{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}}]}'
ask --json ask "q"
check_eq "quota exhausted: exit 4, not retried" "4 1" "$RC $(wc -l <"$REC")"
check "quota exhausted: clear message" grep -q "no quota left" "$T/err"

fake_start garbage '{"steps":[{"status":200,"json":["not","a","completion"]}]}'
ask --json ask "q"
check_eq "malformed response: exit 4" 4 "$RC"
check "malformed response: clear message" grep -q "could not be understood" "$T/err"

# ---- a server that hangs ----------------------------------------------------------------------
fake_start hang '{"steps":[{"hang":30}]}'
t0=$(date +%s)
"$DRIVER" --base-url "$URL" --api-key-file "$T/keyfile" --json --timeout 2 ask "q" \
	>"$T/out" 2>"$T/err" &
dpid=$!
for i in $(seq 1 40); do [ -s "$REC" ] && break; sleep 0.05; done
# A process that made itself non-dumpable has a root-owned /proc/PID/smaps.
if [ "$(id -u)" -eq 0 ]; then
	check "hang: the key sits in a mapping excluded from core dumps" \
		key_mapping_nodump "$dpid"
else
	skip "hang: the key's no-dump mapping: reading a non-dumpable process's smaps needs root"
fi
check "hang: the key is not in the command line" sh -c "! grep -qaF -- '$SECRET' /proc/$dpid/cmdline"
wait $dpid
RC=$?
t1=$(date +%s)
check_eq "hang: exit 4" 4 "$RC"
check "hang: the message says it timed out" grep -q "did not answer within 2 s" "$T/err"
check "hang: gave up well before the server would answer (s)" test $((t1 - t0)) -lt 20
check_eq "hang: a request that reached the server is not retried" 1 "$(wc -l <"$REC")"
NETSPY_AI_TIMEOUT=1 ask --json ask "q"
check "hang: NETSPY_AI_TIMEOUT sets the limit" grep -q "did not answer within 1 s" "$T/err"

# ---- the iteration cap ------------------------------------------------------------------------
fake_start cap '{"steps":[{"tool_calls":[["get_network_summary","{}"]],"content":"still looking ({req})"}]}'
ask --json ask "q"
check_eq "cap: exit 0" 0 "$RC"
check_eq "cap: stops after 8 requests" 8 "$(wc -l <"$REC")"
checkpy "cap: says so (stopped_early, a sentence, iterations)" \
	'OUT["stopped_early"] is True and "Stopped early" in OUT["answer"] and OUT["iterations"] == 8'
NETSPY_AI_MAX_ITERATIONS=3 ask --json ask "q"
check_eq "cap: NETSPY_AI_MAX_ITERATIONS lowers it" 11 "$(wc -l <"$REC")"

# ---- the byte bounds ----------------------------------------------------------------------------
fake_start big '{"steps":[{"tool_calls":[["big_data","{\"kb\":200}"]]},{"answer":"ok"}]}'
ask --json ask "q"
checkpy "bytes: a result over the per-tool limit is replaced by an error the model can act on" \
	'"too large" in C(TOOLS(2)[0])["error"] and "narrower" in C(TOOLS(2)[0])["error"] and len(TOOLS(2)[0]["content"]) < 1000'
fake_start bigtotal '{"steps":[{"tool_calls":[["big_data","{\"kb\":40}"]]}]}'
NETSPY_AI_MAX_BYTES=100000 ask --json ask "q"
check_eq "bytes: the conversation limit stops the loop" "0 3" "$RC $(wc -l <"$REC")"
checkpy "bytes: and says so" 'OUT["stopped_early"] is True and "reached netspy'"'"'s limit of 100000 bytes" in OUT["answer"] and OUT["iterations"] == 3'

# ---- streaming, with tool-call deltas split across chunks -------------------------------------
fake_start stream '{"steps":[
 {"chunk_bytes":7,"sse":[
  {"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_s1","type":"function","function":{"name":"get_network_summary","arguments":""}}]},"finish_reason":null}]},
  {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"dura"}}]},"finish_reason":null}]},
  {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"tion\":30}"}}]},"finish_reason":null}]},
  {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_s2","type":"function","function":{"name":"get_packet_drop_summary","arguments":"{}"}}]},"finish_reason":null}]},
  {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}]},
 {"chunk_bytes":5,"sse":[
  {"choices":[{"index":0,"delta":{"role":"assistant","content":"Total: "},"finish_reason":null}]},
  {"choices":[{"index":0,"delta":{"content":"{tool.0.total_connections} connections\u001b[31m, "},"finish_reason":null}]},
  {"choices":[{"index":0,"delta":{"content":"{tool.1.total_drops} drops\u001b]0;owned\u0007."},"finish_reason":null}]},
  {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}]}]}'
ask --stream ask "stream it"
check_eq "stream: exit 0" 0 "$RC"
checkpy "stream: asked for a streamed reply" 'B(1)["stream"] is True'
checkpy "stream: tool-call deltas were accumulated (ids, names, argument fragments)" \
	'[(m["tool_call_id"], C(m)["arguments_seen"]) for m in TOOLS(2)] == [("call_s1", {"duration": 30}), ("call_s2", {})]'
checkpy "stream: finish_reason stop with tool calls did not end the loop" 'len(R) == 2'
check "stream: the answer streamed, escape sequences stripped" \
	grep -qx "Total: 4217 connections, 12 drops." "$T/out"
check "stream: no escape character reached the terminal" sh -c "! grep -q \$(printf '\\033') '$T/out'"
check_eq "stream: the answer is printed once" 1 "$(grep -c "^Total:" "$T/out")"
check "stream: footer lists the tools used" grep -q 'get_network_summary {"duration":30}' "$T/out"

# ---- what the servers people run send (recorded shapes) -----------------------------------------
# Every streamed tool call at index 0, told apart by its id (as some OpenAI-compatible servers do).
fake_start index0 '{"steps":[
 {"chunk_bytes":9,"sse":[
  {"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_network_summary","arguments":"{\"duration\":"}}]}}]},
  {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"45}"}}]}}]},
  {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_b","type":"function","function":{"name":"get_packet_drop_summary","arguments":"{}"}}]}}]},
  {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}]},
 {"answer":"{tool.0.total_connections} and {tool.1.total_drops}"}]}'
ask --stream ask "q"
checkpy "index 0 for every call: two calls answered, each with its own arguments" \
	'[(m["tool_call_id"], C(m)["arguments_seen"]) for m in TOOLS(2)] == [("call_a", {"duration": 45}), ("call_b", {})]'
check "index 0 for every call: the answer uses both results" grep -qx "4217 and 12" "$T/out"
# No index at all in the deltas.
fake_start noindex '{"steps":[
 {"sse":[
  {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","function":{"name":"list_connections","arguments":"{\"max_"}}]}}]},
  {"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"events\":3}"}}]}}]},
  {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"c2","function":{"name":"get_network_summary","arguments":"{}"}}]}}]},
  {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}]},
 {"answer":"ok"}]}'
ask --stream --json ask "q"
checkpy "no index: the calls are split by id; finish_reason stop with tool calls runs them" \
	'[(m["tool_call_id"], C(m)["arguments_seen"]) for m in TOOLS(2)] == [("c1", {"max_events": 3}), ("c2", {})]'
# A whole (not streamed) reply with tool calls and finish_reason "stop".
fake_start stopcalls '{"steps":[
 {"status":200,"json":{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"get_packet_drop_summary","arguments":"{}"}}]}}]}},
 {"answer":"{tool.0.total_drops} drops"}]}'
ask --json ask "q"
checkpy "finish_reason stop with tool calls: the calls run, then the answer" \
	'len(R) == 2 and TOOLS(2)[0]["tool_call_id"] == "t1" and OUT["answer"] == "12 drops"'
# A thinking model: its reasoning stays out of the answer, streamed or not.
fake_start reasoning '{"steps":[
 {"sse":[
  {"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"SECRET-THOUGHT one"}}]},
  {"choices":[{"index":0,"delta":{"reasoning":"SECRET-THOUGHT two"}}]},
  {"choices":[{"index":0,"delta":{"content":"Nothing failed."}}]},
  {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}]}]}'
ask --stream ask "q"
check "reasoning: the streamed answer is printed" grep -qx "Nothing failed." "$T/out"
check "reasoning: reasoning / reasoning_content never reach the answer" \
	sh -c "! grep -q SECRET-THOUGHT '$T/out' '$T/err'"
fake_start reasoning2 '{"steps":[
 {"status":200,"json":{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Nothing failed.","reasoning_content":"SECRET-THOUGHT","reasoning":"SECRET-THOUGHT"}}]}}]}'
ask --json ask "q"
checkpy "reasoning: a whole reply's reasoning fields stay out of the answer" \
	'OUT["answer"] == "Nothing failed."'
# The answer's length limit: max_tokens for the servers people run, max_completion_tokens for
# OpenAI; a server that refuses the field gets the other one.
fake_start limit '{"steps":[{"answer":"a"}]}'
ask --json ask "q"
checkpy "limit: a local server gets max_tokens (not max_completion_tokens)" \
	'B(1).get("max_tokens") == 4096 and "max_completion_tokens" not in B(1)'
fake_start limit400 '{"steps":[
 {"status":400,"json":{"error":{"message":"Unsupported parameter: '"'"'max_tokens'"'"' is not supported with this model. Use '"'"'max_completion_tokens'"'"' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}},
 {"answer":"fine"}]}'
ask --json ask "q"
checkpy "limit: refused max_tokens, the request is sent again with max_completion_tokens" \
	'len(R) == 2 and "max_completion_tokens" in B(2) and "max_tokens" not in B(2) and OUT["answer"] == "fine"'

fake_start nostream '{"steps":[{"answer":"plain {req}"}]}'
ask --stream ask "q"
check "stream: a server that ignores stream:true still works (JSON fallback)" \
	grep -qx "plain 1" "$T/out"
fake_start stream400 '{"steps":[{"status":400,"json":{"error":{"message":"streaming is not supported"}}},{"answer":"plain {req}"}]}'
ask --stream ask "q"
check "stream: a server that refuses streaming gets the request again without it" \
	grep -qx "plain 2" "$T/out"
checkpy "stream: the second request did not ask for streaming" 'B(1)["stream"] is True and B(2)["stream"] is False'

# ---- escape sequences in a non-streamed answer --------------------------------------------------
fake_start escapes '{"steps":[{"answer":"fine\u001b[2J\u001b]0;title\u0007 \u009b31m\u202eend"}]}'
ask --json ask "q"
checkpy "escapes: stripped from the answer" 'OUT["answer"] == "fine end"'

# ---- a local server without a key: no Authorization header --------------------------------------
fake_start nokey '{"steps":[{"answer":"local"}]}'
"$DRIVER" --base-url "$URL" --json ask "q" >"$T/out" 2>"$T/err"
check_eq "local server without a key: works" 0 $?
checkpy "local server without a key: no Authorization header" 'R[0]["authorization"] is None'
OPENAI_BASE_URL=$URL "$DRIVER" --json ask "q" >"$T/out" 2>"$T/err"
checkpy "OPENAI_BASE_URL alone selects the server" 'len(R) == 2 and OUT["offline"] is False'

mkdir -p "$T/creds"
printf '%s' "$SECRET" >"$T/creds/openai_api_key"
CREDENTIALS_DIRECTORY=$T/creds "$DRIVER" --base-url "$URL" --json ask "q" >"$T/out" 2>"$T/err"
checkpy "systemd credential: the key is read from CREDENTIALS_DIRECTORY" \
	'R[2]["authorization"] == "Bearer '"$SECRET"'"'
"$DRIVER" --base-url "$URL" --api-key-file "$T/missing" --json ask "q" >"$T/out" 2>"$T/err"
check_eq "unreadable key file: exit 4" 4 $?
check "unreadable key file: message names the file" grep -q "cannot read the API key file $T/missing" "$T/err"
: >"$T/emptykey"
"$DRIVER" --base-url "$URL" --api-key-file "$T/emptykey" --json ask "q" >"$T/out" 2>"$T/err"
check_eq "empty key file: exit 4" 4 $?
check "empty key file: says so" grep -q "the API key file $T/emptykey is empty" "$T/err"
printf 'sk-two words\n' >"$T/badkey"
"$DRIVER" --base-url "$URL" --api-key-file "$T/badkey" --json ask "q" >"$T/out" 2>"$T/err"
check "a key with spaces is refused (it would break the header)" grep -q "contains spaces or control characters" "$T/err"

# ---- a session keeps the conversation ------------------------------------------------------------
fake_start session '{"steps":[{"answer":"first answer"},{"answer":"second answer"}]}'
ask --json --progress --followup "and what about drops?" ask "what is curl doing?" --process curl
checkpy "session: the follow-up carries the earlier turn" \
	'[(m["role"], m["content"].split("\n")[0]) for m in B(2)["messages"]][1:] == [("user", "what is curl doing?"), ("assistant", "first answer"), ("user", "and what about drops?")]'
checkpy "session: the focus is passed in the user message" '"process_name=curl" in B(1)["messages"][1]["content"]'
fake_start nosession '{"steps":[{"answer":"first answer"},{"answer":"second answer"}]}'
ask --json --followup "and what about drops?" ask "what is curl doing?"
checkpy "session: without a person (MCP: no progress stream) each question stands alone" \
	'[m["role"] for m in B(2)["messages"]] == ["system", "user"]'

# ---- ai_insights: one request, no tools --------------------------------------------------------
fake_start insights '{"steps":[{"answer":"Looks fine: {req}"}]}'
ask --json insights "Total connections: 10"
checkpy "insights: one request without tools, the text as data" \
	'len(R) == 1 and "tools" not in B(1) and "Total connections: 10" in B(1)["messages"][1]["content"] and "untrusted" in B(1)["messages"][0]["content"]'
checkpy "insights: result" 'OUT == {"insights": "Looks fine: 1", "offline": False, "model": "gpt-4o-mini", "streamed": False}'

fake_start insightsstream '{"steps":[{"chunk_bytes":4,"sse":[
 {"choices":[{"index":0,"delta":{"content":"Streamed \u001b[1minsight"}}]},
 {"choices":[{"index":0,"delta":{"content":"s."}}]}]}]}'
ask --stream insights "Total connections: 10"
check_eq "insights: streamed once, terminal-safe" 1 "$(grep -cx "Streamed insights." "$T/out")"
check "insights: labelled with the model" grep -q "Answered by model" "$T/out"

# ---- the offline analyst ------------------------------------------------------------------------
"$DRIVER" --json ask "what is gen doing?" --process gen >"$T/out" 2>"$T/err"
check_eq "offline: without key or endpoint ask still answers" 0 $?
checkpy "offline: labelled as produced without a model" \
	'OUT["offline"] is True and OUT["model"] is None and OUT["answer"].startswith("Offline analysis: no model")'
checkpy "offline: runs the plan over the same tools, focused" \
	'[c["name"] for c in OUT["tools_called"]] == ["get_network_summary", "list_connections", "get_packet_drop_summary", "list_packet_drops", "analyze_patterns"] and all(c["arguments"].get("process_name") == "gen" for c in OUT["tools_called"])'
checkpy "offline: refused and unreachable destinations counted" \
	'OUT["findings"]["refused"] == [{"destination": "127.0.0.1:9", "count": 2}] and OUT["findings"]["unreachable"] == [{"destination": "10.9.9.9:80", "count": 1}]'
checkpy "offline: failure rate from the summary" 'round(OUT["findings"]["failure_rate"], 4) == round(389 / 4217, 4) and "9.2%" in OUT["answer"]'
checkpy "offline: drop reasons explained, unknown ones generically, names from the data" \
	'[d["reason"] for d in OUT["findings"]["drops"]] == ["NO_SOCKET", "SOME_NEW_REASON"] and "closed port" in OUT["findings"]["drops"][0]["explanation"] and "kernel sources" in OUT["findings"]["drops"][1]["explanation"]'
checkpy "offline: top talkers" 'OUT["findings"]["top_talkers"][0] == {"process": "gen (pid 77)", "count": 3}'
"$DRIVER" --json ask "q" --process quiet --duration 30 >"$T/out" 2>"$T/err"
checkpy "offline: no drops for the focus -> the machine-wide drop summary too" \
	'OUT["tools_called"][5] == {"name": "get_packet_drop_summary", "arguments": {"duration": 30}} and OUT["findings"]["total_drops"] == 0 and OUT["findings"]["drops_machine_wide"][0]["reason"] == "NO_SOCKET" and "machine-wide" in OUT["answer"]'
"$DRIVER" --no-daemon --json ask "q" >"$T/out" 2>"$T/err"
check_eq "offline: without the daemon, exit 2 as the data tools" 2 $?
check "offline: and the tool's message" grep -q "cannot connect to netspyd" "$T/err"
"$DRIVER" --base-url https://api.openai.com/v1/ --json ask "q" >"$T/out" 2>"$T/err"
checkpy "offline: the default OpenAI URL without a key means no model" 'OUT["offline"] is True'
OPENAI_API_KEY=$SECRET "$DRIVER" --offline --json ask "q" >"$T/out" 2>"$T/err"
checkpy "offline: --offline wins over a configured key" 'OUT["offline"] is True'
"$DRIVER" ask "q" >"$T/out" 2>"$T/err"
check "offline: the printed report says no model was used" grep -q "no model was used" "$T/out"

"$DRIVER" --json insights "$(printf 'Total connections: 200\nFailed connections: 50\nTotal drops: 7\nNO_SOCKET: 5\nTCP_CSUM: 2')" >"$T/out" 2>"$T/err"
checkpy "offline insights: numbers extracted and commented" \
	'OUT["offline"] is True and OUT["model"] is None and "50 of 200 connection attempts failed (25.0%)" in OUT["insights"] and "NO_SOCKET (5)" in OUT["insights"] and "TCP_CSUM (2)" in OUT["insights"]'
"$DRIVER" --json insights '{"total_connections":9,"failed_connections":0,"by_reason":{"NETFILTER_DROP":4}}' >"$T/out" 2>"$T/err"
checkpy "offline insights: JSON summaries too" \
	'"0 of 9 connection attempts failed" in OUT["insights"] and "NETFILTER_DROP (4): a firewall" in OUT["insights"]'
