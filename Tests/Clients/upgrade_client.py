#!/usr/bin/env python3
"""Asks for a protocol switch hookstream does not offer, then keeps sending bytes, as a client speaking another
protocol (or an attacker) would.

usage: upgrade_client.py PORT connect|upgrade
Sends `CONNECT` (connect) or `GET /healthz` with `Connection: Upgrade` and `Upgrade: websocket` (upgrade), reads the
answer's head, then sends up to 8 MiB more. Prints one JSON line: {"status": N, "connection": header or null,
"sent": bytes sent after the answer, "closed": whether the server closed the connection}."""
import json
import socket
import sys


def main() -> int:
    port, mode = int(sys.argv[1]), sys.argv[2]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    if mode == "connect":
        sock.sendall(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n")
    else:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    status = int(head[0].split()[1]) if head and head[0].startswith("HTTP/") else None
    connection = next((line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("connection:")), None)
    sent, closed = 0, False
    try:
        while sent < 8 << 20:
            sent += sock.send(b"x" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    if not closed:
        try:
            while sock.recv(65536):
                pass
            closed = True
        except (socket.timeout, ConnectionResetError):
            closed = isinstance(sys.exc_info()[1], ConnectionResetError)
    print(json.dumps({"status": status, "connection": connection, "sent": sent, "closed": closed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
