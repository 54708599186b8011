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

from stream_socket import open_stream


def main() -> int:
    host, port, path, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sock = open_stream(host, port, path, token)
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
    # An event is a block with data (the SSE spec): the greeting's bare `id:` is not one.
    ids = [int(m.group(1)) for block in data.split(b"\n\n") if b"\ndata:" in b"\n" + block
           for m in [re.search(rb"(?:^|\n)id: (\d+)(?:\n|$)", block)] if m]
    print(json.dumps({"ids": ids, "eof": eof, "bytes": len(data)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
