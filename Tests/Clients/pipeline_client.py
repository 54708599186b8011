#!/usr/bin/env python3
"""Sends N webhook requests pipelined in one write on one connection, then reads the N responses in order.

usage: pipeline_client.py PORT SOURCE N [PAD]
Each body is {"channel": "pipe", "n": i}, with a "pad" of PAD bytes when given (so that reads end inside bodies).
Prints one JSON line: {"statuses": [...], "bodies": [...]} in the order the responses arrived."""
import json
import socket
import sys


def main() -> int:
    port, source, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    pad = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    requests = b""
    for i in range(count):
        body = json.dumps({"channel": "pipe", "n": i, **({"pad": "p" * pad} if pad else {})}).encode()
        requests += (f"POST /hooks/{source} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(20)
    sock.sendall(requests)
    data = b""
    statuses, bodies = [], []

    def more() -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit(f"the server closed the connection after {len(statuses)} of {count} responses")
        return chunk

    while len(statuses) < count:
        while b"\r\n\r\n" not in data:
            data += more()
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = int(next(l.split(":", 1)[1] for l in lines if l.lower().startswith("content-length:")))
        while len(rest) < length:
            rest += more()
        statuses.append(int(lines[0].split()[1]))
        bodies.append(rest[:length].decode())
        data = rest[length:]
    print(json.dumps({"statuses": statuses, "bodies": bodies}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
