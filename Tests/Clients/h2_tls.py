"""What the HTTP/2 test clients share: a TLS connection that ALPN made HTTP/2, an event stream's request, and the
frames (hyperframe's) that have arrived whole."""
import json
import socket
import ssl
import sys

from hyperframe.frame import Frame


def connect(port: int, cafile: str) -> ssl.SSLSocket:
    """A TLS connection to 127.0.0.1:port, its certificate checked against cafile, on which ALPN chose h2; prints
    an error line and exits 1 otherwise."""
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(["h2"])
    tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
    if tls.selected_alpn_protocol() != "h2":
        print(json.dumps({"error": f"ALPN chose {tls.selected_alpn_protocol()!r}, not h2"}), flush=True)
        sys.exit(1)
    return tls


def stream_request(port: int, path: str, token) -> list:
    """The header list of `GET path` for an event stream, with the bearer token when there is one."""
    headers = [(":method", "GET"), (":scheme", "https"), (":authority", f"127.0.0.1:{port}"), (":path", path),
               ("accept", "text/event-stream")]
    if token:
        headers.append(("authorization", f"Bearer {token}"))
    return headers


def whole_frames(buffer: bytes):
    """The frames complete in `buffer` (hyperframe's), and the bytes after them: (frames, rest)."""
    frames = []
    while len(buffer) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
        if len(buffer) < 9 + length:
            break
        frame.parse_body(memoryview(buffer[9:9 + length]))
        frames.append(frame)
        buffer = buffer[9 + length:]
    return frames, buffer
