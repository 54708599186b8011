#!/usr/bin/env python3
"""Keeps a connection to hookstream waiting in one of the ways a slow, idle or hostile client does, and reports how
and when the server ended it.

usage: timeout_client.py PORT MODE [--cafile CA] [--seconds S]
MODE:
  silent        connect and send nothing (with --cafile: not even a TLS handshake)
  trickle       send a request head one byte every 0.2 s, never finishing it (slowloris)
  partial-body  send a head with Content-Length: 100 and 2 bytes of body
  idle          one `GET /healthz`, answered, then nothing
  active        `GET /healthz` every 0.4 s for --seconds (default 5), each answered
  h2-idle       (with --cafile) TLS with ALPN h2, the connection preface and SETTINGS, then nothing; HTTP/2 frames
                are parsed with the PyPI `h2` package
  h2-stalled-body  (with --cafile) over HTTP/2, a `POST /hooks/demo` stream whose body never comes (no END_STREAM)
  h2-no-window  (with --cafile) over HTTP/2, a stream window of 0 (SETTINGS_INITIAL_WINDOW_SIZE), then
                `GET /healthz`: the answer's body can never be sent
Prints one JSON line: {"elapsed": seconds until the server closed (or the client gave up), "closed": bool,
"status": the HTTP status of the last answer or null, "body": the last answer's body, "answers": how many,
"alpn": the protocol TLS agreed or null, "goaway": whether an HTTP/2 GOAWAY came, "stream": how the HTTP/2
stream ended ("ended", "reset" or null), "stream_elapsed": when}.
Gives up after 30 s (then "closed" is false)."""
import argparse
import json
import socket
import ssl
import time

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("mode")
parser.add_argument("--cafile")
parser.add_argument("--seconds", type=float, default=5)
args = parser.parse_args()

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
result = {"elapsed": None, "closed": False, "status": None, "body": None, "answers": 0, "alpn": None, "goaway": False,
          "stream": None, "stream_elapsed": None}
raw = socket.create_connection(("127.0.0.1", args.port))
start = time.monotonic()
sock = raw
if args.cafile and args.mode != "silent":
    context = ssl.create_default_context(cafile=args.cafile)
    context.set_alpn_protocols(["h2"] if args.mode.startswith("h2-") else ["http/1.1"])
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
    result["alpn"] = sock.selected_alpn_protocol()
buffer = b""


def read_answer(deadline):
    """Reads one HTTP/1.1 answer (head and Content-Length body); False when the connection closed first."""
    global buffer
    while True:
        if b"\r\n\r\n" in buffer:
            head, rest = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode(errors="replace").split("\r\n")
            length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
            if len(rest) >= length:
                result["status"] = int(lines[0].split()[1])
                result["body"] = rest[:length].decode(errors="replace")
                result["answers"] += 1
                buffer = rest[length:]
                return True
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buffer += chunk


def wait_for_close(limit=30.0):
    """Reads until the server closes (parsing any HTTP/1.1 answer on the way); sets elapsed and closed."""
    deadline = start + limit
    try:
        while time.monotonic() < deadline:
            if not read_answer(deadline):
                result["closed"] = True
                break
    except (socket.timeout, TimeoutError):
        pass
    except (ConnectionResetError, ssl.SSLError):
        result["closed"] = True
    result["elapsed"] = round(time.monotonic() - start, 3)


if args.mode in ("silent", "idle", "partial-body"):
    if args.mode == "idle":
        sock.sendall(HEALTH)
    elif args.mode == "partial-body":
        sock.sendall(b"POST /hooks/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}")
    wait_for_close()
elif args.mode == "trickle":
    head = b"POST /hooks/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 10_000
    sock.setblocking(False)
    closed = False
    for byte in head:
        try:
            sock.send(bytes([byte]))
            data = sock.recv(65536)
            if data == b"":
                closed = True
            else:
                result["answers"] += 1  # anything the server says before it closes counts as an answer
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        if closed or time.monotonic() - start > 30:
            break
        time.sleep(0.2)
    result["closed"] = closed
    result["elapsed"] = round(time.monotonic() - start, 3)
elif args.mode == "active":
    while time.monotonic() - start < args.seconds:
        sock.sendall(HEALTH)
        if not read_answer(time.monotonic() + 5):
            result["closed"] = True
            break
        time.sleep(0.4)
    result["elapsed"] = round(time.monotonic() - start, 3)
elif args.mode.startswith("h2-"):
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings

    connection = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    if args.mode == "h2-no-window":
        connection.local_settings = h2.settings.Settings(client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    connection.initiate_connection()
    base = [(":scheme", "https"), (":authority", f"127.0.0.1:{args.port}")]
    if args.mode == "h2-stalled-body":
        connection.send_headers(1, [(":method", "POST"), (":path", "/hooks/demo")] + base + [("content-type", "application/json")])
    elif args.mode == "h2-no-window":
        connection.send_headers(1, [(":method", "GET"), (":path", "/healthz")] + base, end_stream=True)
    sock.sendall(connection.data_to_send())
    sock.settimeout(30)
    try:
        while time.monotonic() - start < 30:
            data = sock.recv(65536)
            if not data:
                result["closed"] = True
                break
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ConnectionTerminated):
                    result["goaway"] = True
                elif isinstance(event, h2.events.ResponseReceived):
                    result["status"] = int(dict(event.headers)[":status"])
                    result["answers"] += 1
                elif isinstance(event, h2.events.DataReceived):
                    result["body"] = (result["body"] or "") + event.data.decode(errors="replace")
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)) and result["stream"] is None:
                    result["stream"] = "ended" if isinstance(event, h2.events.StreamEnded) else "reset"
                    result["stream_elapsed"] = round(time.monotonic() - start, 3)
            sock.sendall(connection.data_to_send())
    except (socket.timeout, TimeoutError):
        pass
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        result["closed"] = True
    result["elapsed"] = round(time.monotonic() - start, 3)
else:
    raise SystemExit(f"unknown mode {args.mode}")
print(json.dumps(result))
