"""Opens an event stream on a raw socket with a tiny receive buffer, for the clients that stop reading."""
import socket


def open_stream(host: str, port: int, path: str, token: str, last_event_id: str | None = None) -> socket.socket:
    """Connects, sends GET `path` with the token (and Last-Event-ID, when given), and returns once the response has
    started to arrive (MSG_PEEK, so nothing is consumed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n{resume}Accept: text/event-stream\r\n\r\n"
    sock.sendall(request.encode())
    sock.settimeout(10)
    sock.recv(1, socket.MSG_PEEK)
    return sock
