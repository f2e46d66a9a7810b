#!/usr/bin/env python3
"""DNS queries of known names for the tests, under a process name of its own.

dnsquery.py NAME QNAME...   one UDP query (type A) to 127.0.0.1:53 per QNAME, each from a socket
                            of its own, waiting up to 1 s for its response"""
import ctypes
import socket
import struct
import sys

ctypes.CDLL(None).prctl(15, ctypes.c_char_p(sys.argv[1].encode()), 0, 0, 0)  # PR_SET_NAME
for i, name in enumerate(sys.argv[2:]):
    q = struct.pack(">HHHHHH", 0x1000 + i, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(q, ("127.0.0.1", 53))
    try:
        s.recv(4096)
    except socket.timeout:
        pass
    s.close()
