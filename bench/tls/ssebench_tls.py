#!/usr/bin/env python3
"""ssebench over TLS: `bench/fanout/ssebench.py`, imported unchanged, with its connections opened over TLS and,
with --sub-h2, its subscribers carried as HTTP/2 streams.

What this module changes in ssebench (transport only; ssebench's code is not copied, and its request building,
response and SSE parsing, verification (loss, duplicates, order), timing, /proc CPU and memory sampling and JSON
summary are used as they are):

  * `parse_url` accepts `https://` (default port 443) besides `http://`.
  * The event loop (uvloop's, or asyncio's with --no-uvloop) is a subclass whose `create_connection` adds TLS
    (`ssl=` and `server_hostname=`) to every connection ssebench opens to an `https://` URL: the publisher's one
    keep-alive connection (HTTP/1.1, ALPN `http/1.1`) and, without --sub-h2, every subscriber's (HTTP/1.1, ALPN
    `http/1.1`). ssebench's `Sub` protocol then reads the decrypted bytes exactly as it reads plain TCP.
  * With --sub-h2, a subscriber's `create_connection` instead opens an HTTP/2 stream (hyper-h2, sans-IO) on a TLS
    connection that negotiated ALPN `h2` (offered: `h2`, `http/1.1`, as a browser does; `http/1.1` chosen is a
    failure): one connection per subscriber by default (one browser user each), or K subscribers per connection
    with --streams-per-connection K. The HTTP/1.1 request ssebench writes (method, target, headers) becomes the
    stream's HEADERS (`:method`, `:scheme`, `:authority` from Host, `:path`; hop-by-hop headers dropped;
    END_STREAM). The response HEADERS are handed to ssebench's `Sub` as an HTTP/1.1-style head
    (`HTTP/2 <status>` and the response's headers) and every DATA frame's payload as received bytes, so `Sub` checks
    the status and content type and parses the SSE body as it does for HTTP/1.1. Received data is acknowledged
    to h2's flow control once `Sub` has consumed it (h2 sends WINDOW_UPDATE frames for the connection and the
    stream when half a window has been consumed). The server ending a stream (END_STREAM), resetting it
    (RST_STREAM), a GOAWAY or an HTTP/2 protocol error ends the stream as a closed connection would in HTTP/1.1:
    ssebench counts it as a disconnect with the reason. Closing a subscriber resets its stream (CANCEL); a
    connection closes when its last stream does.
  * Each worker's subscriber TLS session (protocol, cipher, ALPN) is added to `connect.response.tls` of the
    summary; the publisher's to `tls.publisher`; with --sub-h2, HTTP/2 frame counts of all workers to `tls.h2`.

Certificates are verified against --cafile (or the system store); --insecure turns verification off.
Everything else is ssebench's command line: see `ssebench.py --help`.
"""
import argparse
import asyncio
import json
import os
import ssl
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fanout"))
import ssebench  # noqa: E402  (the vendored harness, unchanged)

# Set in main() before ssebench forks its workers, so that they inherit it.
OPTS = {"sub_tls": False, "pub_tls": False, "h2": False, "k": 1, "window": 65535,
        "ctx_h1": None, "ctx_h2": None, "stats_dir": None}
INFO = {}  # role -> negotiated TLS session of this process's first connection of that role
H2STATS = {"connections": 0, "streams_opened": 0, "data_frames_in": 0, "data_bytes_in": 0, "max_data_frame": 0,
           "frames_out": {}, "rst_stream_in": {}, "goaway_in": [], "protocol_errors": [], "alpn_refused": 0,
           "server_settings": None, "streams_ended_by_server": 0}
FRAME_NAMES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS", 5: "PUSH_PROMISE",
               6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HOP_BY_HOP = {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}


def parse_url(url):
    """ssebench's parse_url, with https:// accepted."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https"):
        raise SystemExit("only http:// and https:// URLs are supported: %r" % url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    return u.hostname, u.port or (443 if u.scheme == "https" else 80), path, u.netloc


def session_info(transport):
    obj = transport.get_extra_info("ssl_object")
    if obj is None:
        return None
    cipher = obj.cipher()
    return {"version": obj.version(), "cipher": cipher[0] if cipher else None, "alpn": obj.selected_alpn_protocol()}


def make_context(cafile, insecure, alpn):
    ctx = ssl.create_default_context(cafile=cafile)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(alpn)
    return ctx


# ----------------------------------------------------------------------------
# HTTP/2 subscribers: one h2 stream each, K streams per TLS connection
# ----------------------------------------------------------------------------

class H2Conn(asyncio.Protocol):
    """One TLS connection speaking HTTP/2 (client side), carrying up to K subscriber streams."""

    def __init__(self, authority):
        import h2.config
        import h2.connection
        import h2.settings
        self.authority = authority
        self.h2 = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="latin-1"))
        self.transport = None
        self.ready = asyncio.get_running_loop().create_future()
        self.streams = {}     # stream id -> H2StreamTransport
        self.assigned = 0     # subscribers handed this connection (open or closed)
        self.dead = False
        self.preface_sent = False
        codes = h2.settings.SettingCodes
        self.h2.local_settings = h2.settings.Settings(client=True, initial_values={
            codes.ENABLE_PUSH: 0, codes.INITIAL_WINDOW_SIZE: OPTS["window"],
            codes.MAX_CONCURRENT_STREAMS: 100, codes.MAX_HEADER_LIST_SIZE: 65536})

    # -- asyncio.Protocol --
    def connection_made(self, transport):
        self.transport = transport
        info = session_info(transport)
        INFO.setdefault("sub", info)
        if not info or info["alpn"] != "h2":
            H2STATS["alpn_refused"] += 1
            self.dead = True
            self.ready.set_exception(ConnectionError("ALPN chose %r, not h2" % (info and info["alpn"],)))
            transport.close()
            return
        H2STATS["connections"] += 1
        self.h2.initiate_connection()
        if OPTS["window"] > 65535:  # the connection window starts at 65,535 whatever the settings say
            self.h2.increment_flow_control_window(OPTS["window"] - 65535)
        self.flush()
        self.ready.set_result(self)

    def connection_lost(self, exc):
        self.dead = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("TLS connection lost before h2 started: %r" % (exc,)))
        self.end_all(ConnectionError("connection lost: %r" % (exc,)))

    def data_received(self, data):
        import h2.events
        import h2.exceptions
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            if len(H2STATS["protocol_errors"]) < 10:
                H2STATS["protocol_errors"].append(repr(e))
            self.flush()  # the GOAWAY h2 queued
            self.dead = True
            self.end_all(ConnectionError("HTTP/2 protocol error: %r" % (e,)))
            self.transport.close()
            return
        for ev in events:
            if isinstance(ev, h2.events.DataReceived):
                H2STATS["data_frames_in"] += 1
                H2STATS["data_bytes_in"] += len(ev.data)
                if len(ev.data) > H2STATS["max_data_frame"]:
                    H2STATS["max_data_frame"] = len(ev.data)
                stream = self.streams.get(ev.stream_id)
                if stream is not None and ev.data:
                    stream.sub.data_received(ev.data)
                # consumed (ssebench parses synchronously): hand the space back
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.ResponseReceived):
                stream = self.streams.get(ev.stream_id)
                if stream is not None:
                    status = next((v for k, v in ev.headers if k == ":status"), "0")
                    head = "\r\n".join(["HTTP/2 %s" % status] + ["%s: %s" % (k, v) for k, v in ev.headers if not k.startswith(":")])
                    stream.sub.data_received((head + "\r\n\r\n").encode("latin-1"))
            elif isinstance(ev, h2.events.StreamEnded):
                self.stream_end(ev.stream_id, "the server ended the stream (END_STREAM)")
            elif isinstance(ev, h2.events.StreamReset):
                code = getattr(ev.error_code, "name", str(ev.error_code))
                H2STATS["rst_stream_in"][code] = H2STATS["rst_stream_in"].get(code, 0) + 1
                self.stream_end(ev.stream_id, "RST_STREAM %s from the server" % code, count=False)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                code = getattr(ev.error_code, "name", str(ev.error_code))
                if len(H2STATS["goaway_in"]) < 10:
                    H2STATS["goaway_in"].append({"error": code, "last_stream_id": ev.last_stream_id,
                                                 "debug": (ev.additional_data or b"")[:200].decode("latin-1")})
                self.flush()
                self.dead = True
                self.end_all(ConnectionError("GOAWAY %s (last stream %s) from the server" % (code, ev.last_stream_id)))
                self.transport.close()
                return
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                if H2STATS["server_settings"] is None:
                    H2STATS["server_settings"] = {getattr(k, "name", str(k)): v.new_value for k, v in ev.changed_settings.items()}
        self.flush()

    # -- helpers --
    def flush(self):
        out = self.h2.data_to_send()
        if not out or self.transport is None or self.transport.is_closing():
            return
        self.count_frames(out)
        self.transport.write(out)

    def count_frames(self, out):
        pos = 0
        if not self.preface_sent and out.startswith(PREFACE):
            pos = len(PREFACE)
            self.preface_sent = True
        counts = H2STATS["frames_out"]
        while pos + 9 <= len(out):
            length = int.from_bytes(out[pos:pos + 3], "big")
            name = FRAME_NAMES.get(out[pos + 3], "type %d" % out[pos + 3])
            counts[name] = counts.get(name, 0) + 1
            pos += 9 + length

    def stream_end(self, stream_id, why, count=True):
        stream = self.streams.pop(stream_id, None)
        if count:
            H2STATS["streams_ended_by_server"] += 1
        if stream is not None and not stream.closed:
            stream.closed = True
            stream.sub.connection_lost(ConnectionError(why))
            self.maybe_close()

    def end_all(self, exc):
        for sid in list(self.streams):
            stream = self.streams.pop(sid)
            if not stream.closed:
                stream.closed = True
                stream.sub.connection_lost(exc)

    def maybe_close(self):
        """Close the connection once every subscriber it was handed is gone and no more will come."""
        if self.assigned >= OPTS["k"] and not self.streams and self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class H2StreamTransport:
    """What ssebench's `Sub` holds as its transport in h2 mode: one HTTP/2 stream of an `H2Conn`."""

    def __init__(self, conn, sub):
        self.conn, self.sub = conn, sub
        self.stream_id = None
        self.closed = False

    def write(self, data):
        """ssebench writes its HTTP/1.1 request here: send it as the stream's HEADERS."""
        import h2.exceptions
        head = data.decode("latin-1").split("\r\n\r\n", 1)[0].split("\r\n")
        method, target = head[0].split(" ")[:2]
        fields = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in head[1:])]
        authority = next((v for k, v in fields if k == "host"), self.conn.authority)
        headers = [(":method", method), (":scheme", "https"), (":authority", authority), (":path", target)]
        headers += [(k, v) for k, v in fields if k and k not in HOP_BY_HOP]
        try:
            sid = self.conn.h2.get_next_available_stream_id()
            self.conn.h2.send_headers(sid, headers, end_stream=True)
        except (h2.exceptions.H2Error, ValueError) as e:
            self.closed = True
            self.sub.connection_lost(ConnectionError("could not open an h2 stream: %r" % (e,)))
            return
        self.stream_id = sid
        self.conn.streams[sid] = self
        H2STATS["streams_opened"] += 1
        self.conn.flush()

    def close(self):
        if self.closed:
            return
        self.closed = True
        conn = self.conn
        if self.stream_id is not None and conn.streams.pop(self.stream_id, None) is not None and not conn.dead:
            import h2.errors
            import h2.exceptions
            try:
                conn.h2.reset_stream(self.stream_id, h2.errors.ErrorCodes.CANCEL)
                conn.flush()
            except h2.exceptions.H2Error:
                pass
        conn.maybe_close()

    def is_closing(self):
        return self.closed

    def get_extra_info(self, name, default=None):
        return self.conn.transport.get_extra_info(name, default) if self.conn.transport else default


POOL = {"current": None}


async def h2_subscribe(base_create_connection, sub, host, port):
    """Attach ssebench subscriber `sub` to an h2 connection with room (opening one when needed) as a new stream."""
    conn = POOL["current"]
    if conn is None or conn.dead or conn.assigned >= OPTS["k"]:
        conn = H2Conn("%s:%d" % (host, port))
        POOL["current"] = conn

        async def establish(conn=conn):
            await base_create_connection(lambda: conn, host, port, ssl=OPTS["ctx_h2"], server_hostname=host)
            return await conn.ready

        conn.connecting = asyncio.ensure_future(establish())
    conn.assigned += 1
    try:
        await asyncio.shield(conn.connecting)
    except BaseException:
        conn.dead = True
        raise
    stream = H2StreamTransport(conn, sub)
    sub.connection_made(stream)
    return stream, sub


# ----------------------------------------------------------------------------
# The event loop: ssebench's connections, opened over TLS
# ----------------------------------------------------------------------------

class TLSConnections:
    async def create_connection(self, protocol_factory, host=None, port=None, **kw):
        protocol = protocol_factory()
        role = "sub" if isinstance(protocol, ssebench.Sub) else "pub"
        if role == "sub" and OPTS["h2"]:
            return await h2_subscribe(super().create_connection, protocol, host, port)
        if OPTS[role + "_tls"] and "ssl" not in kw:
            kw["ssl"] = OPTS["ctx_h1"]
            kw.setdefault("server_hostname", host)
        transport, protocol = await super().create_connection(lambda: protocol, host, port, **kw)
        if OPTS[role + "_tls"] and role not in INFO:
            INFO[role] = session_info(transport)
        return transport, protocol


def loop_class(use_uvloop):
    if use_uvloop:
        try:
            import uvloop
            return type("TLSUVLoop", (TLSConnections, uvloop.Loop), {}), "uvloop"
        except ImportError:
            pass
    return type("TLSSelectorLoop", (TLSConnections, asyncio.SelectorEventLoop), {}), "asyncio"


def maybe_uvloop(enabled):
    """ssebench's maybe_uvloop, with the TLS loop class."""
    cls, name = loop_class(enabled)
    policy = asyncio.DefaultEventLoopPolicy()
    policy._loop_factory = cls
    asyncio.set_event_loop_policy(policy)
    return name


class WorkerState(ssebench.WorkerState):
    """ssebench's WorkerState; the response sample it reports also says which TLS session the worker got."""

    @property
    def resp_sample(self):
        return self.__dict__.get("_resp_sample")

    @resp_sample.setter
    def resp_sample(self, value):
        if value is not None and OPTS["sub_tls"]:
            value = dict(value, tls=INFO.get("sub"))
        self.__dict__["_resp_sample"] = value


_worker_main = ssebench.worker_main


def worker_main(wid, cfg, conn, indices):
    try:
        _worker_main(wid, cfg, conn, indices)
    finally:
        if OPTS["stats_dir"] and OPTS["h2"]:
            with open(os.path.join(OPTS["stats_dir"], "h2-%d.json" % os.getpid()), "w") as f:
                json.dump(H2STATS, f)


_main_run = ssebench.Main.run


async def main_run(self):
    OPTS["stats_dir"] = tempfile.mkdtemp(prefix="ssebench-tls.")
    try:
        out = await _main_run(self)
        workers = []
        for name in sorted(os.listdir(OPTS["stats_dir"])):
            with open(os.path.join(OPTS["stats_dir"], name)) as f:
                workers.append(json.load(f))
    finally:
        for name in os.listdir(OPTS["stats_dir"]):
            os.unlink(os.path.join(OPTS["stats_dir"], name))
        os.rmdir(OPTS["stats_dir"])
    response = (out.get("connect") or {}).get("response") or {}
    out["tls"] = {"subscribers": "h2" if OPTS["h2"] else ("http/1.1 over TLS" if OPTS["sub_tls"] else "http/1.1"),
                  "streams_per_connection": OPTS["k"] if OPTS["h2"] else 1,
                  "subscriber_session": response.get("tls"), "publisher": INFO.get("pub")}
    if OPTS["h2"]:
        total = {"initial_window": OPTS["window"]}
        for stats in workers:
            for key, value in stats.items():
                if isinstance(value, int):
                    total[key] = max(total.get(key, 0), value) if key == "max_data_frame" else total.get(key, 0) + value
                elif isinstance(value, dict) and key != "server_settings":
                    bucket = total.setdefault(key, {})
                    for k, v in value.items():
                        bucket[k] = bucket.get(k, 0) + v
                elif isinstance(value, list):
                    total.setdefault(key, []).extend(value[:10 - len(total.get(key, []))])
                elif key == "server_settings" and value and "server_settings" not in total:
                    total[key] = value
        delivered = (out.get("delivery") or {}).get("delivered")
        if delivered and total.get("data_frames_in"):
            total["data_frames_per_delivery"] = round(total["data_frames_in"] / delivered, 3)
        out["tls"]["h2"] = total
    return out


def main():
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--sub-h2", action="store_true", help="subscribers over HTTP/2 (ALPN h2), one stream each")
    ap.add_argument("--streams-per-connection", type=int, default=1, metavar="K",
                    help="with --sub-h2: K subscriber streams multiplexed on one TLS connection (default 1)")
    ap.add_argument("--h2-window", type=int, default=65535,
                    help="with --sub-h2: the client's stream and connection receive windows (default 65,535, "
                         "HTTP/2's initial window)")
    ap.add_argument("--cafile", help="verify the server's certificate against this CA (PEM)")
    ap.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    ap.add_argument("-h", "--help", action="store_true")
    mine, rest = ap.parse_known_args()
    if mine.help:
        print(__doc__)
        ap.print_help()
        print("\nssebench's own options follow.\n", flush=True)
        rest = ["--help"]
    sub_url = next((rest[i + 1] for i, a in enumerate(rest[:-1]) if a == "--sub-url"), "")
    pub_url = next((rest[i + 1] for i, a in enumerate(rest[:-1]) if a == "--pub-url"), "")
    OPTS["sub_tls"] = sub_url.startswith("https://")
    OPTS["pub_tls"] = pub_url.startswith("https://")
    if mine.sub_h2 and not OPTS["sub_tls"] and not mine.help:
        raise SystemExit("--sub-h2 needs an https:// --sub-url (h2 is negotiated by ALPN)")
    if mine.streams_per_connection < 1 or not 65535 <= mine.h2_window < 2 ** 31:
        raise SystemExit("--streams-per-connection must be >= 1, --h2-window between 65,535 and 2^31-1")
    OPTS.update(h2=mine.sub_h2, k=mine.streams_per_connection, window=mine.h2_window,
                ctx_h1=make_context(mine.cafile, mine.insecure, ["http/1.1"]),
                ctx_h2=make_context(mine.cafile, mine.insecure, ["h2", "http/1.1"]))
    ssebench.parse_url = parse_url
    ssebench.maybe_uvloop = maybe_uvloop
    ssebench.WorkerState = WorkerState
    ssebench.worker_main = worker_main
    ssebench.Main.run = main_run
    sys.argv = [sys.argv[0]] + rest
    ssebench.main()


if __name__ == "__main__":
    main()
