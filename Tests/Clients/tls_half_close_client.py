#!/usr/bin/env python3
"""An HTTP/1.1 client over TLS that ends its side of the connection while it still reads, with Python's own `ssl`
(OpenSSL) doing the protocol through memory buffers, so that the TLS end and the TCP end can be sent apart.

usage: tls_half_close_client.py PORT CAFILE pipeline N --end close-notify|fin
       tls_half_close_client.py PORT CAFILE refused-upload

pipeline: sends N webhook requests (`POST /hooks/demo`) pipelined in one write, then ends its side: with TLS's
  close_notify (the TCP connection stays open both ways), or with a bare TCP end (`shutdown(SHUT_WR)`, no
  close_notify). Then reads the N answers in order and waits up to 5 s for the server's end.
  Prints {"statuses": [...], "bodies": [...], "closed": bool}.
refused-upload: sends the head of a 4 MiB webhook body and 64 KiB of it, reads the answer (a 413 is expected while
  the upload goes on), then sends 1 MiB more of the body and reads to the server's end.
  Prints {"status": S, "body": "...", "sent_after": bytes, "error": null or what a write met, "eof": bool}.
"""
import json
import socket
import ssl
import sys


class Connection:
    def __init__(self, port: int, cafile: str):
        context = ssl.create_default_context(cafile=cafile)
        context.set_alpn_protocols(["http/1.1"])
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(20)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="127.0.0.1")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                if not self.pump():
                    raise SystemExit("the server closed the connection during the handshake")
        self.flush()
        if self.tls.selected_alpn_protocol() != "http/1.1":
            raise SystemExit(f"ALPN chose {self.tls.selected_alpn_protocol()!r}, not http/1.1")

    def flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def pump(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            self.incoming.write_eof()
            return False
        self.incoming.write(chunk)
        return True

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self.flush()

    def read(self) -> bytes:
        """The next plaintext bytes; b"" at the server's end (its close_notify, or a TCP end)."""
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.flush()
                if not self.pump():
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    def end_with_close_notify(self) -> None:
        try:
            self.tls.unwrap()  # writes close_notify; the server's comes later
        except ssl.SSLWantReadError:
            pass
        self.flush()

    def read_response(self, buffer: bytes) -> tuple[int, str, bytes] | None:
        """One response (status, body) and the bytes after it, or None if the connection ended first."""
        while b"\r\n\r\n" not in buffer:
            chunk = self.read()
            if not chunk:
                return None
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = int(next(l.split(":", 1)[1] for l in lines if l.lower().startswith("content-length:")))
        while len(rest) < length:
            chunk = self.read()
            if not chunk:
                return None
            rest += chunk
        return int(lines[0].split()[1]), rest[:length].decode(), rest[length:]


def pipeline(connection: Connection, count: int, end: str) -> dict:
    requests = b""
    for i in range(count):
        body = json.dumps({"channel": "pipe", "n": i}).encode()
        requests += (b"POST /hooks/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body)) + body
    connection.send(requests)
    if end == "close-notify":
        connection.end_with_close_notify()
    else:
        connection.sock.shutdown(socket.SHUT_WR)
    statuses, bodies, buffer = [], [], b""
    while len(statuses) < count:
        response = connection.read_response(buffer)
        if response is None:
            raise SystemExit(f"the server closed the connection after {len(statuses)} of {count} responses")
        status, body, buffer = response
        statuses.append(status)
        bodies.append(body)
    connection.sock.settimeout(5)
    try:
        closed = buffer == b"" and connection.read() == b""
    except socket.timeout:
        closed = False
    return {"statuses": statuses, "bodies": bodies, "closed": closed}


def refused_upload(connection: Connection) -> dict:
    chunk = b"1" * 65536
    connection.send(b"POST /hooks/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 4194304\r\n\r\n" + chunk)
    response = connection.read_response(b"")
    if response is None:
        raise SystemExit("the server closed the connection before its answer")
    status, body, _ = response
    sent, error = 0, None
    try:
        for _ in range(16):  # 1 MiB more of the upload, after the answer
            connection.send(chunk)
            sent += len(chunk)
    except OSError as e:
        error = repr(e)
    try:
        eof = connection.read() == b""
    except OSError as e:
        eof, error = False, error or repr(e)
    return {"status": status, "body": body, "sent_after": sent, "error": error, "eof": eof}


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    port, cafile, mode = int(args[0]), args[1], args[2]
    connection = Connection(port, cafile)
    if mode == "pipeline":
        end = sys.argv[sys.argv.index("--end") + 1]
        result = pipeline(connection, int(args[3]), end)
    else:
        result = refused_upload(connection)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
