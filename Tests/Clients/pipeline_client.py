#!/usr/bin/env python3
"""Sends N webhook requests pipelined in one write on one connection, then reads the N responses in order.

usage: pipeline_client.py PORT SOURCE N [PAD] [--half-close] [--then-garbage] [--slow]
Each body is {"channel": "pipe", "n": i}, with a "pad" of PAD bytes when given (so that reads end inside bodies).
--half-close: ends the client's side of the connection (shutdown SHUT_WR) once the requests are sent, then reads
  the answers and the end of the connection.
--then-garbage: sends bytes that are no HTTP request after the N requests, then reads answers until the server
  closes the connection (however many there are). 1 MiB more of them follows: the server reads it after its parser
  has failed.
--slow: allows 100 s instead of 20 to send and for each read (a history of 100 MiB that a debug build parses and
  stores on a busy machine).
Prints one JSON line: {"statuses": [...], "bodies": [...], "closed": bool} in the order the responses arrived;
"closed" says whether the server ended the connection after the last answer read."""
import json
import socket
import sys


def main() -> int:
    flags = {a for a in sys.argv[1:] if a.startswith("--")}
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    port, source, count = int(args[0]), args[1], int(args[2])
    pad = int(args[3]) if len(args) > 3 else 0
    requests = b""
    for i in range(count):
        body = json.dumps({"channel": "pipe", "n": i, **({"pad": "p" * pad} if pad else {})}).encode()
        requests += (f"POST /hooks/{source} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    until_close = "--then-garbage" in flags
    if until_close:
        requests += b"NOT HTTP AT ALL\r\n\r\n" + b"x" * (1 << 20)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(100 if "--slow" in flags else 20)
    try:
        sock.sendall(requests)
    except OSError as error:
        if not until_close:
            raise
        print(f"sending: {error!r}", file=sys.stderr)  # the answers already sent are still read
    if "--half-close" in flags:
        sock.shutdown(socket.SHUT_WR)
    data = b""
    statuses, bodies = [], []
    closed = False

    def more() -> bytes:
        nonlocal closed
        chunk = sock.recv(65536)
        if not chunk:
            closed = True
            if not until_close:
                raise SystemExit(f"the server closed the connection after {len(statuses)} of {count} responses")
        return chunk

    while until_close or len(statuses) < count:
        while b"\r\n\r\n" not in data and not closed:
            data += more()
        if closed and b"\r\n\r\n" not in data:
            break
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = int(next(l.split(":", 1)[1] for l in lines if l.lower().startswith("content-length:")))
        while len(rest) < length and not closed:
            rest += more()
        if len(rest) < length:
            break
        statuses.append(int(lines[0].split()[1]))
        bodies.append(rest[:length].decode())
        data = rest[length:]
    if not closed and "--half-close" in flags:
        sock.settimeout(5)
        closed = sock.recv(1) == b""
    print(json.dumps({"statuses": statuses, "bodies": bodies, "closed": closed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
