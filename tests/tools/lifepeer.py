#!/usr/bin/env python3
"""TCP traffic of known shape for tests/lifecycle.test.sh, under a process name of its own.

lifepeer.py NAME server PORT N REPLY   accept N connections on 127.0.0.1:PORT; read each to EOF,
                                       answer REPLY bytes, close; print the byte counts read
lifepeer.py NAME client PORT SIZE...   one connection per SIZE: send SIZE bytes, shut down the
                                       sending side, read the answer to EOF, close
lifepeer.py NAME rst-server PORT       accept 1 connection and close it with SO_LINGER 0 (reset
                                       sent), after reading its first byte
lifepeer.py NAME rst-client PORT       connect, send 1 byte, close with SO_LINGER 0 (reset sent)
lifepeer.py NAME hold-client PORT [S]  connect, send 1 byte, read the answer to EOF (or its
                                       first byte, then stay connected S seconds), close
lifepeer.py NAME hold-server PORT      accept 1 connection, wait for its first byte, answer 1
                                       byte, then read until the peer resets or closes
A server says "listening" on stdout once it listens."""
import ctypes
import socket
import struct
import sys
import time


def set_name(name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, ctypes.c_char_p(name.encode()), 0, 0, 0)  # PR_SET_NAME


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    print("listening", flush=True)
    return s


def read_all(c):
    n = 0
    while True:
        try:
            d = c.recv(1 << 16)
        except ConnectionResetError:
            return n
        if not d:
            return n
        n += len(d)


def linger0(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def main():
    name, mode, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    set_name(name)
    if mode == "server":
        n, reply = int(sys.argv[4]), int(sys.argv[5])
        s = listen(port)
        got = []
        for _ in range(n):
            c, _ = s.accept()
            got.append(read_all(c))
            c.sendall(b"r" * reply)
            c.close()
        print(" ".join(map(str, got)), flush=True)
    elif mode == "client":
        for size in map(int, sys.argv[4:]):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"q" * size)
            c.shutdown(socket.SHUT_WR)
            read_all(c)
            c.close()
    elif mode == "rst-server":
        s = listen(port)
        c, _ = s.accept()
        c.recv(1)
        linger0(c)
        c.close()
    elif mode == "rst-client":
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"x")
        c.recv(1)
        linger0(c)
        c.close()
    elif mode == "hold-client":
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"x")
        if len(sys.argv) > 4:  # stay connected this long, then close
            c.recv(1)
            print("connected", flush=True)
            time.sleep(float(sys.argv[4]))
        else:
            read_all(c)
        c.close()
    elif mode == "hold-server":
        s = listen(port)
        c, _ = s.accept()
        c.recv(1)
        c.sendall(b"y")
        read_all(c)
        c.close()


main()
