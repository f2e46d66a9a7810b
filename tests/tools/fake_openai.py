#!/usr/bin/env python3
"""A scripted OpenAI-compatible Chat Completions server for the AI tests (loopback only).

    fake_openai.py SCENARIO.json RECORD.jsonl

Binds 127.0.0.1 on a free port, prints the port on stdout, then answers each POST to
.../chat/completions with the next step of the scenario (the last step repeats). Every request is
appended to RECORD.jsonl as {"n", "path", "authorization", "body"} so that tests can assert what
the client sent.

A scenario is {"steps": [STEP, ...]}; a STEP is one of
  {"answer": "text"}                       a final assistant message
  {"tool_calls": [[NAME, ARGS_TEXT], ...], "content": "optional text"}
  {"sse": [CHUNK, ...], "chunk_bytes": N}  a streamed response (data: lines, then [DONE]),
                                           written N bytes at a time
  {"status": 429, "headers": {...}, "json": {...}}   any status, headers and JSON body
  {"hang": SECONDS}                        accept the request and say nothing
Header values may use {date+N} (an HTTP date N seconds from now). Strings in answers, tool-call
arguments and SSE chunks may use {req} (the request number,
from 1) and {tool.I.KEY.KEY} (a field of the JSON content of the I-th tool message of the
request, counting from 0; negative I counts from the end).
"""
import json
import re
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCENARIO = json.load(open(sys.argv[1]))
RECORD = sys.argv[2]
LOCK = threading.Lock()
COUNT = [0]


def tool_messages(body):
    return [m for m in body.get("messages", []) if m.get("role") == "tool"]


def expand(value, body, req):
    """Fills the placeholders of a string (recursively for lists and objects)."""
    if isinstance(value, list):
        return [expand(v, body, req) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, body, req) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    tools = tool_messages(body)

    def field(m):
        parts = m.group(1).split(".")
        try:
            node = json.loads(tools[int(parts[0])]["content"])
            for p in parts[1:]:
                node = node[int(p)] if isinstance(node, list) else node[p]
        except (IndexError, KeyError, ValueError, TypeError):
            return "<missing>"
        return json.dumps(node) if isinstance(node, (dict, list)) else str(node)

    value = value.replace("{req}", str(req))
    return re.sub(r"\{tool\.(-?\d+(?:\.[A-Za-z0-9_]+)*)\}", field, value)


def completion(message, finish):
    return {"id": "chatcmpl-test", "object": "chat.completion", "model": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, re.sub(r"\{date\+(\d+)\}", lambda m: formatdate(
                time.time() + int(m.group(1)), usegmt=True), v))
        self.end_headers()
        self.wfile.write(data)

    def send_sse(self, chunks, step):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        data = "".join("data: %s\n\n" % json.dumps(c) for c in chunks) + "data: [DONE]\n\n"
        data = data.encode()
        n = step.get("chunk_bytes", len(data)) or len(data)
        for i in range(0, len(data), n):
            self.wfile.write(data[i:i + n])
            self.wfile.flush()
            time.sleep(0.002)
        self.close_connection = True

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsable": raw.decode("utf-8", "replace")}
        with LOCK:
            COUNT[0] += 1
            req = COUNT[0]
            with open(RECORD, "a") as f:
                f.write(json.dumps({"n": req, "path": self.path,
                                    "authorization": self.headers.get("Authorization"),
                                    "body": body}) + "\n")
        if not self.path.endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": "no such path", "code": "not_found"}})
            return
        steps = SCENARIO["steps"]
        step = steps[min(req, len(steps)) - 1]
        if "hang" in step:
            time.sleep(step["hang"])
            self.close_connection = True
            return
        if "sse" in step:
            self.send_sse(expand(step["sse"], body, req), step)
        elif "answer" in step:
            msg = {"role": "assistant", "content": expand(step["answer"], body, req)}
            self.send_json(200, completion(msg, "stop"))
        elif "tool_calls" in step:
            calls = [{"id": "call_%d_%d" % (req, i), "type": "function",
                      "function": {"name": name, "arguments": expand(args, body, req)}}
                     for i, (name, args) in enumerate(step["tool_calls"])]
            msg = {"role": "assistant", "content": step.get("content"), "tool_calls": calls}
            self.send_json(200, completion(msg, step.get("finish_reason", "tool_calls")))
        else:
            self.send_json(step.get("status", 200), step.get("json", {}), step.get("headers"))


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
