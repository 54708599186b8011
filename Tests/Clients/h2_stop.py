#!/usr/bin/env python3
"""Event streams on ONE HTTP/2 connection over TLS while the server stops, with the frame and header layers of the PyPI `h2`
package (hyperframe, hpack): what the client is told, in what order. (h2's own connection state machine takes a
first GOAWAY as the connection's end and refuses the frames that may still follow it, which a graceful stop sends.)

usage: h2_stop.py --port P --cafile CA --path PATH [--token T] --streams N [--timeout S]

Opens N streams of `GET PATH` on one connection (ALPN h2, the certificate checked against CA) and prints
{"ready": true, "statuses": [...]} once every stream has its answer's head. Then reads until the server closes the
connection, printing a JSON line for each GOAWAY ({"goaway": last stream id, "error": code name}), each stream's end
({"ended": id, "retry": the `retry:` value it received or null} or {"reset": id}), and {"closed": true} at the
connection's end (exit 0). Exit 1 on timeout.
"""
import argparse
import json
import socket
import ssl
import sys
import time

import hpack
from hyperframe.frame import (DataFrame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

import h2_tls

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--cafile", required=True)
parser.add_argument("--path", required=True)
parser.add_argument("--token")
parser.add_argument("--streams", type=int, default=2)
parser.add_argument("--timeout", type=float, default=60)
args = parser.parse_args()

tls = h2_tls.connect(args.port, args.cafile)

ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL"}
encoder, decoder = hpack.Encoder(), hpack.Decoder()
headers = h2_tls.stream_request(args.port, args.path, args.token)
out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize()
bodies, statuses = {}, {}
for stream in range(1, 2 * args.streams, 2):
    request = HeadersFrame(stream, encoder.encode(headers))
    request.flags.add("END_HEADERS")
    request.flags.add("END_STREAM")
    out += request.serialize()
    bodies[stream] = b""
tls.sendall(out)


def retry_of(body: bytes):
    values = [line[len(b"retry:"):].strip() for line in body.split(b"\n") if line.startswith(b"retry:")]
    return int(values[-1]) if values else None


buffer = b""
announced = False
deadline = time.time() + args.timeout
tls.settimeout(0.5)
while time.time() < deadline:
    try:
        data = tls.recv(65536)
    except socket.timeout:
        continue
    except (ConnectionResetError, ssl.SSLError) as error:
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
        sys.exit(1)
    if data == b"":
        print(json.dumps({"closed": True, "unparsed": len(buffer)}), flush=True)
        sys.exit(0)
    buffer += data
    out = b""
    frames, buffer = h2_tls.whole_frames(buffer)
    for frame in frames:
        if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
            ack = SettingsFrame(0)
            ack.flags.add("ACK")
            out += ack.serialize()
        elif isinstance(frame, PingFrame) and "ACK" not in frame.flags:
            pong = PingFrame(0, frame.opaque_data)
            pong.flags.add("ACK")
            out += pong.serialize()
        elif isinstance(frame, HeadersFrame):
            statuses[frame.stream_id] = dict(decoder.decode(frame.data)).get(":status")
        elif isinstance(frame, DataFrame):
            bodies[frame.stream_id] += frame.data
            if frame.flow_controlled_length:
                out += WindowUpdateFrame(0, frame.flow_controlled_length).serialize()
        elif isinstance(frame, RstStreamFrame):
            print(json.dumps({"reset": frame.stream_id, "error": ERRORS.get(frame.error_code, frame.error_code)}), flush=True)
        elif isinstance(frame, GoAwayFrame):
            print(json.dumps({"goaway": frame.last_stream_id, "error": ERRORS.get(frame.error_code, frame.error_code)}), flush=True)
        if isinstance(frame, (HeadersFrame, DataFrame)) and "END_STREAM" in frame.flags:
            print(json.dumps({"ended": frame.stream_id, "retry": retry_of(bodies[frame.stream_id])}), flush=True)
    if out:
        tls.sendall(out)
    if not announced and len(statuses) == args.streams:
        print(json.dumps({"ready": True, "statuses": sorted(set(statuses.values()))}), flush=True)
        announced = True
print(json.dumps({"error": "timeout"}), flush=True)
sys.exit(1)
