#!/usr/bin/env python3
"""A DNS responder for the tests: answers UDP and TCP on ADDR:53 from a fixed table of names.

Usage: dns_responder.py ADDR [ADDR...]   (prints "ready" once every socket is bound)

Names (case-insensitive, any of them may carry a prefix label for uniqueness, e.g. x1.a.test):
  a.test            A 127.0.0.10 (TTL 300) and AAAA ::1
  www.chain.test    CNAME edge.chain.test -> CNAME cdn.chain.test -> A 127.0.0.11
  *.nx.test         NXDOMAIN
  fail.test         SERVFAIL
  slow.test         A 127.0.0.12 after 200 ms
  silent.test       never answered
  big.test          40 A records (longer than the 512 bytes netspyd copies)
  loop.hostile.test     an answer whose name is a compression loop
  range.hostile.test    an answer whose name points past the message
  count.hostile.test    ancount 65535 and nothing after the question
  label.hostile.test    a label running past the message
Anything else: NXDOMAIN.
"""
import socket
import struct
import sys
import threading
import time


def qname_end(msg):
    i = 12
    while msg[i] != 0:
        i += 1 + msg[i]
    return i + 1


def name_bytes(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(name_ref, rtype, ttl, rdata):
    return name_ref + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def answer(msg):
    """The response bytes for query msg, or None for no response."""
    ident, flags = struct.unpack("!HH", msg[:4])
    end = qname_end(msg)
    qtype = struct.unpack("!H", msg[end:end + 2])[0]
    question = msg[12:end + 4]
    labels = []
    i = 12
    while msg[i]:
        labels.append(msg[i + 1:i + 1 + msg[i]].decode("ascii", "replace").lower())
        i += 1 + msg[i]
    name = ".".join(labels)
    rd = flags & 0x0100

    def reply(rcode, answers=b"", ancount=0, extra=b""):
        hdr = struct.pack("!HHHHHH", ident, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1,
                          ancount, 0, 0)
        return hdr + question + answers + extra

    qref = b"\xc0\x0c"  # pointer to the question's name
    if name == "silent.test" or name.endswith(".silent.test"):
        return None
    if name.endswith(".nx.test") or name == "nx.test":
        return reply(3)
    if name == "fail.test" or name.endswith(".fail.test"):
        return reply(2)
    if name == "a.test" or name.endswith(".a.test"):
        if qtype == 1:
            return reply(0, rr(qref, 1, 300, socket.inet_aton("127.0.0.10")), 1)
        if qtype == 28:
            return reply(0, rr(qref, 28, 300, socket.inet_pton(socket.AF_INET6, "::1")), 1)
        return reply(0)
    if name == "www.chain.test" or name.endswith(".www.chain.test"):
        edge = name_bytes("edge.chain.test")
        # offsets: header 12 + question; the first CNAME's rdata holds edge.chain.test
        a1 = rr(qref, 5, 60, edge)
        edge_off = 12 + len(question) + 2 + 10
        cdn = b"\x03cdn" + struct.pack("!H", 0xc000 | (edge_off + 5))  # cdn.chain.test
        a2 = rr(struct.pack("!H", 0xc000 | edge_off), 5, 60, cdn)
        cdn_off = 12 + len(question) + len(a1) + 2 + 10
        a3 = rr(struct.pack("!H", 0xc000 | cdn_off), 1, 60, socket.inet_aton("127.0.0.11"))
        if qtype != 1:
            return reply(0, a1 + a2, 2)
        return reply(0, a1 + a2 + a3, 3)
    if name == "slow.test" or name.endswith(".slow.test"):
        time.sleep(0.2)
        return reply(0, rr(qref, 1, 60, socket.inet_aton("127.0.0.12")), 1)
    if name == "big.test" or name.endswith(".big.test"):
        recs = b"".join(rr(qref, 1, 60, bytes([10, 0, 0, k])) for k in range(1, 41))
        return reply(0, recs, 40)
    if name.endswith("hostile.test"):
        here = 12 + len(question)
        if name.startswith("loop"):
            return reply(0, rr(struct.pack("!H", 0xc000 | here), 1, 60, b"\1\2\3\4"), 1)
        if name.startswith("range"):
            return reply(0, rr(b"\xff\xff", 1, 60, b"\1\2\3\4"), 1)
        if name.startswith("count"):
            return reply(0, b"", 65535)
        if name.startswith("label"):
            return reply(0, b"\x3fxx", 1)
    return reply(3)


def serve_udp(sock):
    while True:
        msg, peer = sock.recvfrom(4096)
        try:
            r = answer(msg)
        except Exception:
            continue
        if r is not None:
            sock.sendto(r, peer)


def serve_tcp_conn(conn):
    with conn:
        buf = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buf += data
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                msg, buf = buf[2:2 + n], buf[2 + n:]
                try:
                    r = answer(msg)
                except Exception:
                    r = None
                if r is not None:
                    conn.sendall(struct.pack("!H", len(r)) + r)


def serve_tcp(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn,), daemon=True).start()


def main():
    threads = []
    for addr in sys.argv[1:]:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((addr, 53))
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, 53))
        t.listen(16)
        threads.append(threading.Thread(target=serve_udp, args=(u,), daemon=True))
        threads.append(threading.Thread(target=serve_tcp, args=(t,), daemon=True))
    for th in threads:
        th.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
