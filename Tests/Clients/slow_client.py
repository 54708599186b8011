#!/usr/bin/env python3
"""A subscriber that stops reading, for hookstream's slow-subscriber test.

Opens GET /events with a tiny receive buffer, waits until the response has started to arrive (MSG_PEEK, so
nothing is consumed), prints {"connected": true}, then reads nothing until a line arrives on stdin. Then it
drains the socket to EOF and prints {"ids": [...], "eof": bool, "bytes": n}.
"""
import json
import re
import socket
import sys


def main() -> int:
    host, port, path, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    sock.sendall(request.encode())
    sock.settimeout(10)
    sock.recv(1, socket.MSG_PEEK)
    print(json.dumps({"connected": True}), flush=True)
    sys.stdin.readline()
    data = b""
    eof = False
    try:
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                eof = True
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    ids = [int(m) for m in re.findall(rb"(?:^|\n)id: (\d+)\n", data)]
    print(json.dumps({"ids": ids, "eof": eof, "bytes": len(data)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
