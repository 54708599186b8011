#!/usr/bin/env python3
"""Holds connections to hookstream's Unix socket, as a local sender that leaks them would.

usage: socket_holder.py PATH COUNT [--probe-extra] [--hold S]

Opens COUNT connections to the socket at PATH, sends one line on the last and prints {"answer": ...} with its
reply. With --probe-extra it then opens one more connection, sends nothing, and prints {"extra": ...} with the
first line the daemon answers on it ("(closed)" if none). Then prints {"holding": COUNT} and keeps every
connection open for S seconds (default 120; the test kills it sooner).
"""
import argparse
import json
import socket
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("path")
parser.add_argument("count", type=int)
parser.add_argument("--probe-extra", action="store_true")
parser.add_argument("--hold", type=float, default=120)
args = parser.parse_args()


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Blocking while it connects: a Unix socket whose listen queue is full makes a non-blocking connect fail with
    # EAGAIN, where a blocking one waits for the daemon to accept.
    s.connect(args.path)
    s.settimeout(20)
    return s


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            return data.decode() if data else "(closed)"
        data += chunk
    return data.decode().rstrip("\n")


held = [connect() for _ in range(args.count)]
try:
    held[-1].sendall(b'{"topic":"held","data":1}\n')
except OSError:
    pass  # refused and closed before the line went: the refusal is still there to read
print(json.dumps({"answer": read_line(held[-1])}), flush=True)
if args.probe_extra:
    extra = connect()
    print(json.dumps({"extra": read_line(extra)}), flush=True)
print(json.dumps({"holding": len(held)}), flush=True)
time.sleep(args.hold)
sys.exit(0)
