#!/usr/bin/env python3
"""Several event streams on ONE HTTP/2 connection over TLS, some read and some stalled, with the PyPI `h2` package
(hyper-h2) doing the protocol: the check that a stalled HTTP/2 stream is cut without stalling its neighbours.

usage: h2_streams.py --port P --cafile CA --path PATH [--token T] --reading N --stalled K --expect E [--timeout S]
                     [--progress]

Opens N + K streams of `GET PATH` on one connection (ALPN h2, the certificate checked against CA). Reading streams
give back their flow-control window as their bytes arrive; stalled streams never do: only the connection's window
is given back for their bytes, so the server can send them one window (64 KiB) and must then hold or drop the rest
for them alone. Prints JSON lines: {"ready": true} once every stream has its 200; {"reset": id} or {"ended": id}
when the server ends a stream; at the end {"result": {"reading": {id: [event ids]}, "stalled": {id: "reset"|...},
"alpn": "h2"}} once every reading stream has E events and every stalled stream was ended (exit 0), or on timeout
with the state so far (exit 1). With --progress, also {"progress": n} each time the reading stream that has the
fewest events has n, so that a publisher can wait for the readers rather than outrun them.
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

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--cafile", required=True)
parser.add_argument("--path", required=True)
parser.add_argument("--token")
parser.add_argument("--reading", type=int, default=1)
parser.add_argument("--stalled", type=int, default=1)
parser.add_argument("--expect", type=int, required=True)
parser.add_argument("--timeout", type=float, default=60)
parser.add_argument("--progress", action="store_true")
args = parser.parse_args()

context = ssl.create_default_context(cafile=args.cafile)
context.set_alpn_protocols(["h2"])
raw = socket.create_connection(("127.0.0.1", args.port))
tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
alpn = tls.selected_alpn_protocol()
if alpn != "h2":
    print(json.dumps({"error": f"ALPN chose {alpn!r}, not h2"}), flush=True)
    sys.exit(1)

connection = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
connection.initiate_connection()
headers = [(":method", "GET"), (":scheme", "https"), (":authority", f"127.0.0.1:{args.port}"), (":path", args.path),
           ("accept", "text/event-stream")]
if args.token:
    headers.append(("authorization", f"Bearer {args.token}"))
reading, stalled = {}, {}
for index in range(args.reading + args.stalled):
    stream = connection.get_next_available_stream_id()
    connection.send_headers(stream, headers, end_stream=True)
    (reading if index < args.reading else stalled)[stream] = None
tls.sendall(connection.data_to_send())

pending = {stream: b"" for stream in reading}
events = {stream: [] for stream in reading}
statuses = {}
ends = {}
announced = False
progress = 0
deadline = time.time() + args.timeout


def done() -> bool:
    return all(len(events[s]) >= args.expect for s in reading) and all(s in ends for s in stalled)


status = 1
tls.settimeout(0.5)
while time.time() < deadline:
    try:
        data = tls.recv(65536)
    except socket.timeout:
        data = None
    if data == b"":
        print(json.dumps({"error": "the server closed the connection"}), flush=True)
        break
    for event in connection.receive_data(data) if data else []:
        if isinstance(event, h2.events.ResponseReceived):
            statuses[event.stream_id] = dict(event.headers).get(":status")
        elif isinstance(event, h2.events.DataReceived):
            if event.stream_id in reading:
                connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                pending[event.stream_id] += event.data
                *blocks, pending[event.stream_id] = pending[event.stream_id].split(b"\n\n")
                # An event is a block with data (the SSE spec): the greeting's bare `id:` is not one.
                for block in blocks:
                    lines = block.split(b"\n")
                    if any(line.startswith(b"data:") for line in lines):
                        events[event.stream_id] += [int(line[3:]) for line in lines if line.startswith(b"id:")]
            else:
                # The connection's window only: this stream's own window stays closed.
                connection.increment_flow_control_window(event.flow_controlled_length)
        elif isinstance(event, h2.events.StreamReset):
            ends[event.stream_id] = "reset"
            print(json.dumps({"reset": event.stream_id}), flush=True)
        elif isinstance(event, h2.events.StreamEnded):
            ends[event.stream_id] = "ended"
            print(json.dumps({"ended": event.stream_id}), flush=True)
        elif isinstance(event, h2.events.ConnectionTerminated):
            print(json.dumps({"error": f"GOAWAY {event.error_code}"}), flush=True)
            deadline = 0
    outgoing = connection.data_to_send()
    if outgoing:
        tls.sendall(outgoing)
    if args.progress and reading and min(len(events[s]) for s in reading) > progress:
        progress = min(len(events[s]) for s in reading)
        print(json.dumps({"progress": progress}), flush=True)
    if not announced and len(statuses) == len(reading) + len(stalled):
        print(json.dumps({"ready": True, "statuses": sorted(set(statuses.values()))}), flush=True)
        announced = True
    if done():
        status = 0
        break

print(json.dumps({"result": {"alpn": alpn, "reading": {str(s): events[s] for s in reading},
                             "stalled": {str(s): ends.get(s, "open") for s in stalled}}}), flush=True)
tls.close()
sys.exit(status)
