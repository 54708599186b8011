#!/usr/bin/env python3
"""Pipelines `GET /console` on one connection and reads nothing until the server stops taking requests, then reads
every answer.

usage: unread_answers_client.py PORT PID LIMIT [--half-close]
The socket's buffers are small (4 KiB to receive, 16 KiB to send), so the kernel holds little of either side. Requests
are sent without blocking until LIMIT are sent or the connection has taken nothing for 2 s; the server's resident
memory (VmRSS of PID) is read before, and after every 500 requests. Then the answers are read: each must be a whole
200 with its Content-Length.
--half-close: the client ends its side of the connection (shutdown SHUT_WR) once its requests are sent, reads
nothing for half a second, then reads every answer, and the end of the connection within 5 s after the last one.
Prints one JSON line: {"sent": requests sent, "rss_before_kib": …, "rss_peak_kib": …, "answered": 200s read,
"closed": whether the server ended the connection (with --half-close, within 5 s of the last answer)}."""
import json
import select
import socket
import sys
import time


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for {pid}")


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    half_close = "--half-close" in sys.argv[1:]
    port, pid, limit = int(args[0]), int(args[1]), int(args[2])
    request = b"GET /console HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    before = peak = rss_kib(pid)
    batch = request * 100
    total = len(request) * limit
    written = 0
    sampled = 0
    while written < total:
        chunk = batch[written % len(batch):][: total - written]
        try:
            written += sock.send(chunk)
        except BlockingIOError:
            _, writable, _ = select.select([], [sock], [], 2.0)
            if not writable:
                break  # the server has stopped reading this connection
        if written // len(request) >= sampled + 500:
            sampled = written // len(request)
            peak = max(peak, rss_kib(pid))
    peak = max(peak, rss_kib(pid))
    # A request cut in the middle is finished while reading, so that every request sent is whole.
    rest = (len(request) - written % len(request)) % len(request)
    tail = request[len(request) - rest:]
    sent = (written + rest) // len(request)
    if half_close:
        sock.setblocking(True)
        sock.sendall(tail)
        tail = b""
        sock.shutdown(socket.SHUT_WR)
        time.sleep(0.5)  # the client is slow to read: the server writes its answers as the client takes them
        sock.setblocking(False)
    data = b""
    answered = 0
    deadline = time.monotonic() + 60
    while answered < sent:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {answered} of {sent} answers within 60 s")
        readable, writable, _ = select.select([sock], [sock] if tail else [], [], 1.0)
        if writable:
            tail = tail[sock.send(tail):]
        if not readable:
            continue
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit(f"the server closed the connection after {answered} of {sent} answers")
        data += chunk
        while True:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                break
            head = data[:end].decode()
            lines = head.split("\r\n")
            length = int(next(l.split(":", 1)[1] for l in lines if l.lower().startswith("content-length:")))
            if len(data) < end + 4 + length:
                break
            if lines[0].split()[1] != "200":
                raise SystemExit(f"answer {answered + 1}: {lines[0]}")
            answered += 1
            data = data[end + 4 + length:]
    closed = False
    if half_close and not data:
        sock.setblocking(True)
        sock.settimeout(5)
        try:
            closed = sock.recv(1) == b""
        except socket.timeout:
            closed = False
    print(json.dumps({"sent": sent, "rss_before_kib": before, "rss_peak_kib": peak, "answered": answered, "closed": closed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
