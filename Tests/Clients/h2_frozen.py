#!/usr/bin/env python3
"""An HTTP/2 client over TLS that opens event streams on one connection and then stops reading its socket
altogether, with hyper-h2 (the PyPI `h2` package) doing the protocol: the check that streams cut for falling
behind are closed even when the connection itself takes no more bytes (a stream's close, RST_STREAM, waits
behind what the connection has not sent).

usage: h2_frozen.py --port P --cafile CA --path PATH [--token T] [--streams N] [--hold S] [--last-event-id ID]
                    [--read-rate BYTES_PER_S --until-id ID] [--stream-window BYTES]

Its receive buffer is made small before it connects, and its HTTP/2 windows (each stream's and the connection's)
are opened as wide as the protocol allows, so that only TCP holds the server back. Opens N streams of `GET PATH`,
reads until every stream has its response head, prints {"ready": true, "statuses": [...]}, then reads nothing
more for S seconds and exits 0 (the test kills it sooner, once it has seen what it waits for). With
--last-event-id, every stream resumes after ID (a replay that fills what the connection can hold). With
--read-rate, it does not freeze: it reads its socket at about that rate (4 KiB at a time) until the first stream
has delivered the event with id --until-id, then prints {"last_id": ..., "events": ...}; or, if the stream or
connection ends first, {"ended": why, "last_id": ...}. Either way it exits 0.

With --stream-window, each stream's initial window is that many bytes (0: the server may send it no DATA at all)
and is never opened: the client reads its socket (at --read-rate), so the connection stays healthy while its
streams take nothing; it waits until every stream has ended, and prints {"ended": why, "last_id": ..., "resets": N}
(N: how many of its streams the server reset).
"""
import argparse
import json
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--cafile", required=True)
parser.add_argument("--path", required=True)
parser.add_argument("--token")
parser.add_argument("--streams", type=int, default=1)
parser.add_argument("--hold", type=float, default=120)
parser.add_argument("--last-event-id")
parser.add_argument("--read-rate", type=float, default=0)
parser.add_argument("--until-id", type=int, default=0)
parser.add_argument("--stream-window", type=int)
args = parser.parse_args()

context = ssl.create_default_context(cafile=args.cafile)
context.set_alpn_protocols(["h2"])
raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
raw.connect(("127.0.0.1", args.port))
tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
if tls.selected_alpn_protocol() != "h2":
    print(json.dumps({"error": f"ALPN chose {tls.selected_alpn_protocol()!r}, not h2"}), flush=True)
    sys.exit(1)

connection = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
connection.initiate_connection()
largest = 2**31 - 1
connection.update_settings({
    h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: largest if args.stream_window is None else args.stream_window})
connection.increment_flow_control_window(largest - 65535)
headers = [(":method", "GET"), (":scheme", "https"), (":authority", f"127.0.0.1:{args.port}"), (":path", args.path),
           ("accept", "text/event-stream")]
if args.token:
    headers.append(("authorization", f"Bearer {args.token}"))
if args.last_event_id is not None:
    headers.append(("last-event-id", args.last_event_id))
streams = []
for _ in range(args.streams):
    stream = connection.get_next_available_stream_id()
    connection.send_headers(stream, headers, end_stream=True)
    streams.append(stream)
tls.sendall(connection.data_to_send())

statuses = {}
partial = b""  # the first stream's last line, while it is incomplete
seen = {"last_id": None, "events": 0}
ended = None
resets = set()
deadline = time.time() + 20
tls.settimeout(0.5)


def take(events):
    global ended, partial
    for event in events:
        if isinstance(event, h2.events.ResponseReceived):
            statuses[event.stream_id] = dict(event.headers).get(":status")
        elif isinstance(event, h2.events.DataReceived) and event.stream_id == streams[0]:
            blocks = (partial + event.data).split(b"\n\n")
            partial = blocks.pop()
            for block in blocks:
                lines = block.split(b"\n")
                # An event is a block with data (the SSE spec): the greeting's bare `id:` is not one.
                if not any(line.startswith(b"data:") for line in lines):
                    continue
                for line in lines:
                    if line.startswith(b"id: "):
                        seen["last_id"] = int(line[4:])
                        seen["events"] += 1
        elif isinstance(event, h2.events.StreamReset):
            resets.add(event.stream_id)
            if event.stream_id == streams[0]:
                ended = "reset"
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id == streams[0]:
            ended = "ended"
        elif isinstance(event, h2.events.ConnectionTerminated):
            ended = "goaway"


while len(statuses) < len(streams) and time.time() < deadline:
    try:
        data = tls.recv(65536 if args.read_rate == 0 else 4096)
    except socket.timeout:
        continue
    if data == b"":
        print(json.dumps({"error": "the server closed the connection"}), flush=True)
        sys.exit(1)
    take(connection.receive_data(data))
    outgoing = connection.data_to_send()
    if outgoing:
        tls.sendall(outgoing)
if len(statuses) < len(streams):
    print(json.dumps({"error": "no response head", "statuses": statuses}), flush=True)
    sys.exit(1)
print(json.dumps({"ready": True, "statuses": sorted(set(statuses.values()))}), flush=True)
if args.read_rate <= 0:
    time.sleep(args.hold)
    sys.exit(0)
deadline = time.time() + args.hold
while time.time() < deadline:
    if (seen["last_id"] or 0) >= args.until_id:
        print(json.dumps(seen), flush=True)
        sys.exit(0)
    if args.stream_window is not None and ended is not None and len(resets) == len(streams):
        print(json.dumps({"ended": ended, "last_id": seen["last_id"], "resets": len(resets)}), flush=True)
        sys.exit(0)
    if args.stream_window is None and ended is not None:
        print(json.dumps({"ended": ended, "last_id": seen["last_id"]}), flush=True)
        sys.exit(0)
    time.sleep(4096 / args.read_rate)
    try:
        data = tls.recv(4096)
    except socket.timeout:
        continue
    except OSError as error:
        data = b""
    if data == b"":
        print(json.dumps({"ended": "closed", "last_id": seen["last_id"]}), flush=True)
        sys.exit(0)
    take(connection.receive_data(data))
    outgoing = connection.data_to_send()
    if outgoing:
        tls.sendall(outgoing)
print(json.dumps({"error": "timed out", "last_id": seen["last_id"]}), flush=True)
sys.exit(1)
