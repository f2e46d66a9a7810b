#!/usr/bin/env python3
"""Drives `netspyctl shell` through a pseudo-terminal for tests/shell.test.sh and prints
"ok - ..." / "not ok - ..." lines. When it needs the daemon restarted it prints RESTART and waits
for a line on stdin.

usage: shell-pty.py NETSPYCTL SOCKET TRAFFICGEN PORT STATE_DIR
"""
import os
import pty
import re
import select
import subprocess
import sys
import time

netspyctl, sock, gen, port, state = sys.argv[1:6]
failures = 0


def report(desc, cond, detail=""):
    global failures
    line = ("ok - " if cond else "not ok - ") + desc
    if not cond and detail:
        line += " (" + detail[-400:].replace("\n", "\\n") + ")"
    print(line, flush=True)
    failures += 0 if cond else 1


class Shell:
    def __init__(self, command=("shell",)):
        env = dict(os.environ, XDG_STATE_HOME=state, TERM="xterm")
        env.pop("OPENAI_API_KEY", None)
        env.pop("OPENAI_BASE_URL", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            # --offline: the AI commands never call a model from the tests.
            os.execve(netspyctl, [netspyctl, "--offline", "--socket", sock, *command], env)
        self.buf = ""
        self.log = ""  # everything the shell printed

    def expect(self, pattern, timeout=15):
        """Reads until pattern matches; returns the text up to and including the match, or
        None on timeout or end of output."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.buf)
            if m:
                text, self.buf = self.buf[: m.end()], self.buf[m.end():]
                return text
            left = deadline - time.time()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return None
            if not data:
                return None
            text = data.decode("utf-8", "replace")
            self.buf += text
            self.log += text

    def send(self, text):
        os.write(self.fd, text.encode())

    def command(self, line, timeout=15):
        """Sends a command line and returns its output up to the next prompt."""
        self.send(line + "\r")
        return self.expect(r"netspy-mcp> ", timeout)

    def wait(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 65536)
            except OSError:
                pass
            time.sleep(0.05)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        return None


def total_of(text):
    m = re.search(r'"total_connections"\s*:\s*(\d+)', text or "")
    return int(m.group(1)) if m else None


def summary_until(sh, pid, n, timeout=15):
    """Runs summary --pid PID --duration 120 --json until it counts n (5 s at most: the daemon
    batches its deliveries); returns the last output. Repeats are one history entry."""
    for _ in range(25):
        out = sh.command(f"summary --pid {pid} --duration 120 --json", timeout)
        if total_of(out) == n:
            break
        time.sleep(0.2)
    return out


sh = Shell()
out = sh.expect(r"netspy-mcp> ")
report("the prompt 'netspy-mcp> ' is shown", out is not None, sh.buf)

out = sh.command("help")
report("help lists the commands", out is not None and all(
    w in out for w in ("summary", "list", "analyze", "insights", "quit")), out or sh.buf)

# Traffic made after the shell started, by a uniquely named process with a known pid.
proc = subprocess.Popen([gen, "tcp", "127.0.0.1", port, "3"], stdout=subprocess.DEVNULL)
gen_pid = proc.pid
proc.wait()
out = summary_until(sh, gen_pid, 3)
report("summary --pid N --duration 120 counts the traffic made after the shell started",
       total_of(out) == 3, out or sh.buf)
out = sh.command(f"summary --pid {gen_pid} --duration 120")
report("summary prints a readable answer", out is not None and "error" not in out.lower()
       and "3" in out, out or sh.buf)
name = os.path.basename(gen)
out = sh.command(f"list --process {name} --max-events 20")
report("list --process NAME --max-events 20 shows the events", out is not None and
       out.count(port) >= 3, out or sh.buf)

# History: the up arrow three times brings back the summary --json line.
sh.send("\x1b[A\x1b[A\x1b[A\r")
out = sh.expect(r"netspy-mcp> ")
report("history: the up arrow recalls an earlier command", total_of(out) == 3, out or sh.buf)

out = sh.command("frobnicate")
report("an unknown command prints an error and the shell continues",
       out is not None and "unknown command" in out, out or sh.buf)
out = sh.command("summary --pid notanumber")
report("bad arguments print an error and the shell continues",
       out is not None and "error" in out.lower(), out or sh.buf)
sh.send("half a command")
sh.expect(r"half a command", 5)
time.sleep(0.2)  # as a person would: the shell is waiting for input
sh.send("\x03")
out = sh.expect(r"netspy-mcp> ", 5)
report("Ctrl-C at the prompt abandons the line, not the shell", out is not None, sh.buf)
out = sh.command('insights "3 of 8 connections failed"')
if out is not None and "not built into this netspyctl" in out:
    print("ok - insights # SKIP this build has no AI module yet", flush=True)
else:
    report('insights "..." answers (offline analyst)', out is not None and
           "error" not in out.lower() and len(out) > 60, out or sh.buf)

# The daemon restarts: the next command says the shell reconnected and still answers.
print("RESTART", flush=True)
sys.stdin.readline()
proc = subprocess.Popen([gen, "tcp", "127.0.0.1", port, "2"], stdout=subprocess.DEVNULL)
after_pid = proc.pid
proc.wait()
out = summary_until(sh, after_pid, 2, timeout=30)
report("after a daemon restart the shell says it reconnected",
       "reconnect" in sh.log.lower(), out or sh.buf)
report("after a daemon restart new events are answered", total_of(out) == 2, out or sh.buf)

sh.send("quit\r")
report("quit exits with status 0", sh.wait() == 0)
hist = os.path.join(state, "netspy", "history")
try:
    with open(hist, encoding="utf-8", errors="replace") as f:
        saved = f.read()
except OSError:
    saved = ""
report("the history is saved under $XDG_STATE_HOME/netspy/history",
       f"summary --pid {gen_pid}" in saved.replace("\\040", " "), saved)

# A new session: the saved history is there, and Ctrl-D leaves with status 0.
sh = Shell()
sh.expect(r"netspy-mcp> ")
sh.send("\x1b[A")
out = sh.expect(r"quit", timeout=5)
report("history is loaded by the next session", out is not None, sh.buf)
sh.send("\x15\x04")  # clear the line, then Ctrl-D on an empty line
report("Ctrl-D exits with status 0", sh.wait() == 0)
# Plain netspyctl on a terminal is the shell too.
sh = Shell(command=())
out = sh.expect(r"netspy-mcp> ")
report("plain netspyctl on a terminal starts the shell", out is not None, sh.buf)
sh.send("exit\r")
report("exit leaves with status 0", sh.wait() == 0)
sys.exit(1 if failures else 0)
