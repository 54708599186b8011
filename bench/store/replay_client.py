#!/usr/bin/env python3
"""Times one subscriber resuming from Last-Event-ID: 0 until it has every event of the log.

usage: replay_client.py PORT TOKEN TOPIC LAST_ID
Reads the raw stream as fast as the socket allows and prints
{"events": n, "seconds": s, "events_per_second": r, "first_byte_seconds": f}."""
import json
import socket
import sys
import time


def main() -> int:
    port, token, topic, last_id = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    marker = f"\nid: {last_id}\n".encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    request = (f"GET /events?topic={topic} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
               f"Last-Event-ID: 0\r\n\r\n").encode()
    start = time.perf_counter()
    sock.sendall(request)
    first = None
    count = 0
    tail = b""
    sock.settimeout(120)
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            print(json.dumps({"error": "stream ended early", "events": count}))
            return 1
        if first is None:
            first = time.perf_counter() - start
        window = tail + chunk
        count += window.count(b"\nid: ") - tail.count(b"\nid: ")
        if marker in window:
            break
        tail = window[-32:]
    seconds = time.perf_counter() - start
    print(json.dumps({"events": count, "seconds": round(seconds, 3), "events_per_second": round(count / seconds),
                      "first_byte_seconds": round(first, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
