#!/usr/bin/env python3
"""The HTTP/2 stream limit a server announces, and what it does with a client that opens more streams than that.

usage: h2_limit.py --port P --cafile CA --path PATH [--token T] --open N [--timeout S]

Speaks HTTP/2 over TLS with the PyPI `hyperframe` and `hpack` packages (which come with `h2`) rather than `h2`'s
connection state machine, because that one never lets a client open more streams than the server allows, and this
client must be able to. It reads the server's SETTINGS, then opens N streams of `GET PATH` at once, and prints one
JSON line: {"max_concurrent_streams": V, "statuses": {stream id: ":status"}, "resets": {stream id: error code},
"goaway": error code or null} once every stream has its status or reset, or the connection got GOAWAY (exit 0), or
on timeout with the state so far (exit 1).
"""
import argparse
import json
import socket
import sys
import time

import hpack
from hyperframe.frame import GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame

import h2_tls

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--cafile", required=True)
parser.add_argument("--path", required=True)
parser.add_argument("--token")
parser.add_argument("--open", type=int, required=True)
parser.add_argument("--timeout", type=float, default=20)
args = parser.parse_args()

tls = h2_tls.connect(args.port, args.cafile)

# A window of 1 MiB: the streams' first frames (retry:, then heartbeats) never wait for a WINDOW_UPDATE.
tls.sendall(PREFACE + SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 1 << 20}).serialize())
encoder, decoder = hpack.Encoder(), hpack.Decoder()
headers = h2_tls.stream_request(args.port, args.path, args.token)

state = {"max_concurrent_streams": None, "statuses": {}, "resets": {}, "goaway": None}
streams = [1 + 2 * index for index in range(args.open)]
opened = False
buffer = b""
deadline = time.time() + args.timeout
tls.settimeout(0.5)


def finished() -> bool:
    return state["goaway"] is not None or (opened and all(
        str(s) in state["statuses"] or str(s) in state["resets"] for s in streams))


while time.time() < deadline and not finished():
    try:
        data = tls.recv(65536)
    except socket.timeout:
        continue
    if not data:
        break
    buffer += data
    frames, buffer = h2_tls.whole_frames(buffer)
    for frame in frames:
        if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
            state["max_concurrent_streams"] = frame.settings.get(SettingsFrame.MAX_CONCURRENT_STREAMS)
            out = SettingsFrame(0, flags=["ACK"]).serialize()
            if not opened:
                # Every stream at once, whatever the server allows.
                for stream in streams:
                    out += HeadersFrame(stream, encoder.encode(headers), flags=["END_HEADERS", "END_STREAM"]).serialize()
                opened = True
            tls.sendall(out)
        elif isinstance(frame, HeadersFrame):
            status = dict(decoder.decode(frame.data)).get(":status")
            if status is not None:
                state["statuses"][str(frame.stream_id)] = status
        elif isinstance(frame, RstStreamFrame):
            state["resets"][str(frame.stream_id)] = frame.error_code
        elif isinstance(frame, GoAwayFrame):
            state["goaway"] = frame.error_code
        elif isinstance(frame, PingFrame) and "ACK" not in frame.flags:
            tls.sendall(PingFrame(0, opaque_data=frame.opaque_data, flags=["ACK"]).serialize())

print(json.dumps(state), flush=True)
sys.exit(0 if finished() else 1)
