#!/usr/bin/env python3
# Vendored from shared/bench/ssebench.py (the team's independent SSE load harness), unchanged below these
# three lines, so that the benchmark and its CI smoke run work from a clone alone.
"""ssebench - load / latency harness for any SSE (text/event-stream) pub/sub server.

Model: N subscribers hold `GET <sub-url>` (Accept: text/event-stream) open; the
harness then POSTs M events to <pub-url>, one HTTP request per event, on one
keep-alive connection (optionally pipelined), in sequence order.  Every request
body is built from a template holding the event's sequence number, its send
time and a run id; every subscriber parses the SSE stream, and the harness checks
that each subscriber got every event of the run exactly once and in order.

Stdlib only (uses uvloop when importable, unless --no-uvloop).  Linux only
(reads /proc for server RSS/PSS and CPU).  The last line on stdout is a JSON
summary; progress goes to stderr.

Body template placeholders (plain text replace, so JSON braces need no escaping):
  %SEQ%  sequence number (0..M-1; probes use negative numbers)
  %TS%   send time, CLOCK_MONOTONIC nanoseconds (same host only)
  %RUN%  random run id; when the template uses it, subscribers ignore events
         whose data lacks it (stale replays from earlier runs)
  %PAD%  --pad-bytes 'x' characters
The *event data* that reaches subscribers must contain `"seq":<n>` and
`"ts":<ns>` (any JSON-ish layout); anything else is counted as `other`.

Subscriber URL / headers may contain %I% (subscriber index), e.g. per-sub tokens.
"""
import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import random
import re
import resource
import sys
import time
from array import array
from urllib.parse import urlsplit

SEQ_RE = re.compile(rb'"seq"\s*:\s*(-?\d+)')
TS_RE = re.compile(rb'"ts"\s*:\s*(\d+)')
CLK_TCK = os.sysconf("SC_CLK_TCK")
now_ns = time.monotonic_ns  # CLOCK_MONOTONIC: one clock for all processes on the host

DEFAULT_BODY = '{"seq":%SEQ%,"ts":%TS%,"run":"%RUN%","pad":"%PAD%"}'


def log(*a):
    print("[ssebench %.3f]" % (time.monotonic() % 10000), *a, file=sys.stderr, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def maybe_uvloop(enabled):
    if not enabled:
        return "asyncio"
    try:
        import uvloop  # noqa
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return "uvloop"
    except ImportError:
        return "asyncio"


def parse_url(url):
    u = urlsplit(url)
    if u.scheme != "http":
        raise SystemExit("only http:// URLs are supported: %r" % url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    host = u.hostname
    port = u.port or 80
    hosthdr = u.netloc
    return host, port, path, hosthdr


# ----------------------------------------------------------------------------
# /proc sampling (server memory + CPU, client CPU)
# ----------------------------------------------------------------------------

def proc_tree(pids):
    """pids plus all their descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                st = f.read()
            ppid = int(st[st.rindex(b")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError):
            pass
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo.extend(children.get(p, []))
    return sorted(out)


def proc_cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            st = f.read()
        fields = st[st.rindex(b")") + 2:].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, ValueError):
        return 0


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]), idle


def mem_sample(pids):
    rss = pss = 0
    names = []
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            with open("/proc/%d/comm" % p) as f:
                names.append("%s:%d" % (f.read().strip(), p))
        except OSError:
            pass
    return {"rss_kb": rss, "pss_kb": pss, "procs": names}


def fd_count(pids):
    n = 0
    for p in pids:
        try:
            n += len(os.listdir("/proc/%d/fd" % p))
        except OSError:
            pass
    return n


# ----------------------------------------------------------------------------
# Subscriber side
# ----------------------------------------------------------------------------

class WorkerState:
    def __init__(self, cfg):
        self.cfg = cfg
        self.M = cfg["events"]
        self.runid = cfg["runid"].encode() if cfg["check_run"] else None
        self.etype = cfg["event_type"].encode() if cfg["event_type"] else None
        self.lat = array("q")
        self.delivered = 0
        self.dups = 0
        self.ooo = 0
        self.other = 0
        self.stale = 0
        self.comments = 0
        self.probed = 0
        self.complete = 0
        self.disconnects = 0
        self.errors = []
        self.first_rx = 0
        self.last_rx = 0
        self.subs = []
        self.n_ok = 0
        self.done_evt = None
        self.progress_evt = None
        self.resp_sample = None


class Sub(asyncio.Protocol):
    """One SSE subscriber: HTTP/1.1 response parsing, chunked decoding, SSE framing."""

    def __init__(self, w, idx):
        self.w = w
        self.idx = idx
        self.transport = None
        self.hdr_done = asyncio.get_running_loop().create_future()
        self.hbuf = b""
        self.in_body = False
        self.chunked = False
        self.chunk_left = -1     # >0 in chunk data; -1 need size line; -2 need CRLF; -3 finished
        self.cbuf = b""
        self.sbuf = b""
        self.skip_lf = False
        self.bom_checked = False
        self.seen = bytearray(w.M) if w.M else None
        self.maxseq = -1
        self.got = 0
        self.dup = 0
        self.ooo = 0
        self.probed = False
        self.closing = False
        self.ended = False
        self.last_id = None

    # -- asyncio.Protocol --
    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.hdr_done.done():
            self.hdr_done.set_exception(ConnectionError("closed before response headers: %r" % (exc,)))
        elif not self.closing:
            self.w.disconnects += 1
            if len(self.w.errors) < 10:
                self.w.errors.append("sub %d disconnected after %d events (%r)" % (self.idx, self.got, exc))
            self.w.progress_evt.set()

    def data_received(self, data):
        t = now_ns()
        if not self.in_body:
            self.hbuf += data
            i = self.hbuf.find(b"\r\n\r\n")
            if i < 0:
                if len(self.hbuf) > 65536:
                    self._fail("response headers too large")
                return
            head = self.hbuf[:i].decode("latin-1")
            data = self.hbuf[i + 4:]
            self.hbuf = b""
            lines = head.split("\r\n")
            parts = lines[0].split(" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            hdrs = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            if self.w.resp_sample is None:
                self.w.resp_sample = {"status": lines[0], "content-type": hdrs.get("content-type"),
                                      "transfer-encoding": hdrs.get("transfer-encoding")}
            if status != 200:
                self._fail("HTTP status %r" % lines[0])
                return
            if "text/event-stream" not in hdrs.get("content-type", ""):
                self._fail("content-type is %r, not text/event-stream" % hdrs.get("content-type"))
                return
            self.chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
            self.in_body = True
            self.hdr_done.set_result(True)
            if not data:
                return
        if self.chunked:
            data = self._dechunk(data)
            if not data:
                return
        self._sse(data, t)

    def _fail(self, msg):
        if not self.hdr_done.done():
            self.hdr_done.set_exception(ConnectionError(msg))
        self.closing = True
        self.transport.close()

    # -- HTTP chunked transfer decoding --
    def _dechunk(self, data):
        buf = self.cbuf + data if self.cbuf else data
        out = []
        pos, n = 0, len(buf)
        while pos < n:
            cl = self.chunk_left
            if cl > 0:
                take = n - pos if n - pos < cl else cl
                out.append(buf[pos:pos + take])
                pos += take
                cl -= take
                self.chunk_left = cl if cl else -2
            elif cl == -1:
                e = buf.find(b"\r\n", pos)
                if e < 0:
                    break
                size = int(buf[pos:e].split(b";", 1)[0].strip() or b"0", 16)
                pos = e + 2
                if size == 0:
                    self.chunk_left = -3
                    self.ended = True
                    break
                self.chunk_left = size
            elif cl == -2:
                if n - pos < 2:
                    break
                pos += 2
                self.chunk_left = -1
            else:
                break
        self.cbuf = buf[pos:] if pos < n else b""
        return b"".join(out) if len(out) != 1 else out[0]

    # -- text/event-stream framing --
    def _sse(self, data, t):
        if self.skip_lf:
            self.skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:
            self.skip_lf = data[-1:] == b"\r"
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self.sbuf + data if self.sbuf else data
        if not self.bom_checked:
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(buf):
                self.sbuf = buf
                return
            self.bom_checked = True
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
        if b"\n\n" not in buf:
            self.sbuf = buf
            return
        blocks = buf.split(b"\n\n")
        self.sbuf = blocks.pop()
        for blk in blocks:
            self._block(blk, t)

    def _block(self, blk, t):
        data = None
        etype = None
        for line in blk.split(b"\n"):
            if not line:                      # blank line: dispatch
                if data:
                    self._dispatch(etype, data, t)
                data = etype = None
                continue
            if line[0] == 58:                 # ':' comment
                self.w.comments += 1
                continue
            i = line.find(b":")
            if i < 0:
                field, value = line, b""
            else:
                field, value = line[:i], line[i + 1:]
                if value[:1] == b" ":
                    value = value[1:]
            if field == b"data":
                data = value if data is None else data + b"\n" + value
            elif field == b"event":
                etype = value
            elif field == b"id":
                if b"\0" not in value:
                    self.last_id = value
            # 'retry' and unknown fields are ignored, as the spec says
        if data:
            self._dispatch(etype, data, t)

    def _dispatch(self, etype, data, t):
        w = self.w
        if w.etype is not None and (etype or b"message") != w.etype:
            w.other += 1
            return
        m = SEQ_RE.search(data)
        if m is None:
            w.other += 1
            return
        if w.runid is not None and w.runid not in data:
            w.stale += 1
            return
        seq = int(m.group(1))
        if seq < 0:                           # readiness probe
            if not self.probed:
                self.probed = True
                w.probed += 1
            return
        if seq >= w.M:
            w.other += 1
            return
        seen = self.seen
        if seen[seq]:
            self.dup += 1
            w.dups += 1
            return
        seen[seq] = 1
        if seq < self.maxseq:
            self.ooo += 1
            w.ooo += 1
        else:
            self.maxseq = seq
        mt = TS_RE.search(data)
        if mt is not None:
            w.lat.append(t - int(mt.group(1)))
        self.got += 1
        w.delivered += 1
        if not w.first_rx:
            w.first_rx = t
        w.last_rx = t
        if self.got == w.M:
            w.complete += 1
            if w.complete == w.n_ok:
                w.done_evt.set()

    def close(self):
        self.closing = True
        if self.transport is not None:
            self.transport.close()


async def worker_async(wid, cfg, conn, indices):
    loop = asyncio.get_running_loop()
    w = WorkerState(cfg)
    w.done_evt = asyncio.Event()
    w.progress_evt = asyncio.Event()
    host, port, path, hosthdr = parse_url(cfg["sub_url"])
    extra = "".join("%s\r\n" % h for h in cfg["sub_headers"])
    if cfg["cookie"]:
        extra += "Cookie: %s\r\n" % cfg["cookie"]

    cmds = asyncio.Queue()

    def on_cmd():
        try:
            while conn.poll():
                cmds.put_nowait(conn.recv())
        except EOFError:
            cmds.put_nowait(("stop", None))
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), on_cmd)
    os.set_blocking(conn.fileno(), True)  # the loop made it non-blocking; Connection needs blocking I/O

    # event-loop lag monitor: how late a 20 ms timer fires (client saturation evidence)
    lag = {"max": 0.0, "sum": 0.0, "n": 0, "on": False}

    async def lag_mon():
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.02)
            d = loop.time() - t0 - 0.02
            if lag["on"]:
                lag["max"] = max(lag["max"], d)
                lag["sum"] += d
                lag["n"] += 1

    lag_task = loop.create_task(lag_mon())

    sem = asyncio.Semaphore(cfg["connect_concurrency"])
    fails = []

    async def connect_one(i):
        async with sem:
            p = path.replace("%I%", str(i))
            req = ("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
                   "Cache-Control: no-cache\r\n%s\r\n" % (p, hosthdr, extra.replace("%I%", str(i)))).encode()
            sub = None
            for attempt in range(3):
                try:
                    _, sub = await asyncio.wait_for(
                        loop.create_connection(lambda: Sub(w, i), host, port), cfg["connect_timeout"])
                    sub.transport.write(req)
                    await asyncio.wait_for(sub.hdr_done, cfg["connect_timeout"])
                    return sub
                except (OSError, asyncio.TimeoutError, ConnectionError) as e:
                    if sub is not None:
                        sub.close()
                    err = "sub %d: %s: %s" % (i, type(e).__name__, e)
                    if isinstance(e, ConnectionError) and ("HTTP status" in str(e) or "content-type" in str(e)):
                        break  # a definite refusal: do not retry
                    await asyncio.sleep(0.2 * (attempt + 1))
            fails.append(err)
            return None

    t0 = time.monotonic()
    res = await asyncio.gather(*(connect_one(i) for i in indices))
    w.subs = [s for s in res if s is not None]
    w.n_ok = len(w.subs)
    conn.send(("connected", {"ok": w.n_ok, "failed": len(fails), "errors": fails[:5],
                             "connect_s": time.monotonic() - t0, "resp_sample": w.resp_sample}))

    published = None
    go_t = None
    while True:
        cmd, arg = await cmds.get()
        if cmd == "probe?":
            conn.send(("probed", w.probed))
        elif cmd == "go":
            go_t = arg
            lag["on"] = True
            if w.M == 0 or w.n_ok == 0:
                w.done_evt.set()
        elif cmd == "published":
            published = arg
            break
        elif cmd == "stop":
            break

    # drain: until every subscriber is complete, or no progress for drain_s, or deadline
    if published is not None and w.M and w.n_ok:
        deadline = cfg["deadline"]
        last_n = -1
        last_change = time.monotonic()
        while not w.done_evt.is_set():
            if w.delivered != last_n:
                last_n = w.delivered
                last_change = time.monotonic()
            if time.monotonic() - last_change > cfg["drain_s"] or time.monotonic() > deadline:
                break
            if not cmds.empty():
                c, _ = cmds.get_nowait()
                if c == "stop":
                    break
            try:
                await asyncio.wait_for(w.done_evt.wait(), 0.1)
            except asyncio.TimeoutError:
                pass
    lag["on"] = False
    t_done = now_ns()
    lag_task.cancel()

    per_sub_lost = [w.M - s.got for s in w.subs]
    result = {
        "wid": wid, "ok": w.n_ok, "delivered": w.delivered, "dups": w.dups, "ooo": w.ooo,
        "other": w.other, "stale": w.stale, "comments": w.comments, "probed": w.probed,
        "complete": w.complete, "disconnects": w.disconnects, "errors": w.errors[:5],
        "lost": sum(per_sub_lost), "subs_with_loss": sum(1 for x in per_sub_lost if x),
        "max_lost_per_sub": max(per_sub_lost) if per_sub_lost else 0,
        "subs_with_dup": sum(1 for s in w.subs if s.dup),
        "subs_with_ooo": sum(1 for s in w.subs if s.ooo),
        "first_rx": w.first_rx, "last_rx": w.last_rx, "t_done": t_done,
        "lag_max_ms": lag["max"] * 1e3, "lag_mean_ms": (lag["sum"] / lag["n"] * 1e3) if lag["n"] else 0.0,
        "lat": w.lat.tobytes(),
    }
    conn.send(("result", result))
    for s in w.subs:
        s.close()
    await asyncio.sleep(0.05)
    loop.remove_reader(conn.fileno())


def worker_main(wid, cfg, conn, indices):
    raise_nofile()
    maybe_uvloop(cfg["uvloop"])
    try:
        asyncio.run(worker_async(wid, cfg, conn, indices))
    except KeyboardInterrupt:
        pass


# ----------------------------------------------------------------------------
# Publisher (raw HTTP/1.1 keep-alive client, optional pipelining, one connection)
# ----------------------------------------------------------------------------

class Publisher:
    def __init__(self, cfg):
        self.host, self.port, self.path, self.hosthdr = parse_url(cfg["pub_url"])
        self.tmpl = cfg["pub_body"]
        self.pad = "x" * cfg["pad_bytes"]
        self.runid = cfg["runid"]
        hdr = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n" % (self.path, self.hosthdr, cfg["pub_content_type"])
        hdr += "".join("%s\r\n" % h for h in cfg["pub_headers"])
        self.hdr = hdr
        self.window = max(1, cfg["pipeline"])
        self.reader = self.writer = None
        self.ok = 0
        self.errors = 0
        self.err_samples = []
        self.rtt = array("q")
        self.reconnects = 0
        self.inflight = []

    def body(self, seq, ts):
        return (self.tmpl.replace("%SEQ%", str(seq)).replace("%TS%", str(ts))
                .replace("%RUN%", self.runid).replace("%PAD%", self.pad)).encode()

    async def connect(self):
        if self.writer is not None:
            self.writer.close()
            self.reconnects += 1
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.transport.set_write_buffer_limits(high=1 << 20)

    async def _read_response(self):
        r = self.reader
        head = await r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            if k:
                hdrs[k.strip().lower()] = v.strip()
        body = b""
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            while True:
                sz = int((await r.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if sz == 0:
                    await r.readuntil(b"\r\n")
                    break
                body += await r.readexactly(sz)
                await r.readexactly(2)
        elif "content-length" in hdrs:
            body = await r.readexactly(int(hdrs["content-length"]))
        elif status not in (204, 304) and status >= 200:
            body = await r.read()  # until close
            hdrs["connection"] = "close"
        return status, hdrs, body

    def _note(self, status, body, seq):
        if 200 <= status < 300:
            self.ok += 1
        else:
            self.errors += 1
            if len(self.err_samples) < 5:
                self.err_samples.append("seq %d: HTTP %d %r" % (seq, status, body[:120]))

    async def send_one(self, seq):
        """Unpipelined request (probes)."""
        ts = now_ns()
        b = self.body(seq, ts)
        for attempt in range(2):
            try:
                if self.writer is None or self.writer.is_closing():
                    await self.connect()
                self.writer.write(("%sContent-Length: %d\r\n\r\n" % (self.hdr, len(b))).encode() + b)
                status, hdrs, body = await self._read_response()
                if hdrs.get("connection", "").lower() == "close":
                    self.writer.close()
                    self.writer = None
                return status, body
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                self.writer = None
                err = e
        return 0, repr(err).encode()

    async def run(self, n, rate):
        """Publish seq 0..n-1; rate 0 = as fast as the window allows. Returns stats."""
        loop = asyncio.get_running_loop()
        if self.writer is None or self.writer.is_closing():
            await self.connect()
        sem = asyncio.Semaphore(self.window)
        q = asyncio.Queue()
        max_lag = 0.0
        t0 = loop.time()
        start_ns = now_ns()
        failed = {"conn": 0}

        async def reader_task():
            while True:
                item = await q.get()
                if item is None:
                    return
                seq, ts = item
                try:
                    status, hdrs, body = await self._read_response()
                    self.rtt.append(now_ns() - ts)
                    self._note(status, body, seq)
                    if hdrs.get("connection", "").lower() == "close":
                        failed["conn"] += 1
                except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                    self.errors += 1
                    failed["conn"] += 1
                    if len(self.err_samples) < 5:
                        self.err_samples.append("seq %d: %r" % (seq, e))
                sem.release()

        rt = loop.create_task(reader_task())
        for seq in range(n):
            if rate > 0:
                target = t0 + seq / rate
                d = target - loop.time()
                if d > 0.0005:
                    await asyncio.sleep(d)
                else:
                    max_lag = max(max_lag, -d)
            await sem.acquire()
            if failed["conn"]:
                # server closed the connection: reconnect only once nothing is in flight
                while q.qsize() or sem._value < self.window - 1:
                    await asyncio.sleep(0.001)
                await self.connect()
                failed["conn"] = 0
            ts = now_ns()
            b = self.body(seq, ts)
            self.writer.write(("%sContent-Length: %d\r\n\r\n" % (self.hdr, len(b))).encode() + b)
            q.put_nowait((seq, ts))
            if self.writer.transport.get_write_buffer_size() > (1 << 19):
                await self.writer.drain()
        q.put_nowait(None)
        await rt
        end_ns = now_ns()
        return {"start_ns": start_ns, "end_ns": end_ns, "max_sched_lag_ms": max_lag * 1e3}


# ----------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------

def pct(sorted_vals, p):
    """nearest-rank percentile"""
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


async def wait_idle(max_wait, threshold_pct):
    """Measure CPU used by other processes (1 s windows); wait up to max_wait s
    for it to drop below threshold_pct of one core. Returns the last reading."""
    t_end = time.monotonic() + max_wait
    while True:
        a0 = machine_ticks()
        await asyncio.sleep(1.0)
        a1 = machine_ticks()
        tot = (a1[0] - a0[0]) or 1
        busy_pct_core = 100.0 * (tot - (a1[1] - a0[1])) / tot * (os.cpu_count() or 1)
        if busy_pct_core < threshold_pct or time.monotonic() >= t_end:
            if busy_pct_core >= threshold_pct and max_wait > 0:
                log("machine still busy (%.0f%% of a core used by others) after waiting %.0fs" % (busy_pct_core, max_wait))
            return round(busy_pct_core, 1)


class Main:
    def __init__(self, args):
        self.a = args

    async def run(self):
        a = self.a
        loop = asyncio.get_running_loop()
        out = {"label": a.label, "subs": a.subs, "events": a.events, "rate": a.rate, "procs": a.procs,
               "pipeline": a.pipeline, "pad_bytes": a.pad_bytes, "loop": self.loopname,
               "sub_url": a.sub_url, "pub_url": a.pub_url}
        self.bg_pct = await wait_idle(a.wait_idle, a.idle_pct)
        t_start = time.monotonic()
        deadline = t_start + a.timeout
        spids = proc_tree(a.pid) if a.pid else []
        mem0 = mem_sample(spids) if spids else None
        aux0 = proc_tree(a.aux_pid) if a.aux_pid else []
        run_m0 = machine_ticks()
        run_srv0 = sum(proc_cpu_ticks(p) for p in spids + aux0)
        run_me0 = proc_cpu_ticks(os.getpid())
        fd0 = fd_count(spids) if spids else None
        runid = "%08x" % random.getrandbits(32)
        cfg = {"events": a.events, "runid": runid, "check_run": "%RUN%" in a.pub_body,
               "event_type": a.event_type, "sub_url": a.sub_url, "sub_headers": a.header,
               "cookie": a.cookie, "connect_concurrency": max(1, a.connect_concurrency // a.procs),
               "connect_timeout": a.connect_timeout, "drain_s": a.drain, "uvloop": not a.no_uvloop,
               "deadline": t_start + a.timeout - 3, "pub_url": a.pub_url, "pub_body": a.pub_body,
               "pub_headers": a.pub_header, "pub_content_type": a.pub_content_type,
               "pad_bytes": a.pad_bytes, "pipeline": a.pipeline}
        out["runid"] = runid

        # --- spawn subscriber processes (forked before this process does real work)
        ctx = mp.get_context("fork")
        conns, procs = [], []
        for wid in range(a.procs):
            parent, child = ctx.Pipe()
            idx = list(range(wid, a.subs, a.procs))
            p = ctx.Process(target=worker_main, args=(wid, cfg, child, idx), daemon=True)
            p.start()
            child.close()
            conns.append(parent)
            procs.append(p)
        inbox = asyncio.Queue()

        def make_reader(i, c):
            def cb():
                try:
                    while c.poll():
                        inbox.put_nowait((i,) + tuple(c.recv()))
                except (EOFError, OSError):
                    loop.remove_reader(c.fileno())
                    inbox.put_nowait((i, "dead", None))
            return cb

        for i, c in enumerate(conns):
            loop.add_reader(c.fileno(), make_reader(i, c))
            os.set_blocking(c.fileno(), True)  # whole messages (results are MBs) are read once readable

        async def collect(kind, n, until):
            got = {}
            while len(got) < n:
                try:
                    i, k, v = await asyncio.wait_for(inbox.get(), max(0.01, until - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if k == kind:
                    got[i] = v
                elif k == "dead" and i not in got:
                    got[i] = None  # worker exited without answering
            return got

        def bcast(msg):
            for c in conns:
                try:
                    c.send(msg)
                except OSError:
                    pass

        # --- connect phase
        log("connecting %d subscribers from %d procs to %s" % (a.subs, a.procs, a.sub_url))
        t_c = time.monotonic()
        con = await collect("connected", a.procs, deadline)
        n_ok = sum(v["ok"] for v in con.values() if v)
        n_fail = a.subs - n_ok
        out["connect"] = {"ok": n_ok, "failed": n_fail, "seconds": round(time.monotonic() - t_c, 3),
                          "errors": [e for v in con.values() if v for e in v["errors"]][:5],
                          "response": next((v["resp_sample"] for v in con.values() if v and v["resp_sample"]), None)}
        log("connected %d/%d in %.2fs" % (n_ok, a.subs, time.monotonic() - t_c))
        mem1 = mem_sample(spids) if spids else None

        pub = Publisher(cfg)
        # --- readiness: publish probes until every connected subscriber has seen one
        probe_seq = -1
        probed = 0
        t_p = time.monotonic()
        if n_ok:
            while time.monotonic() - t_p < a.probe_timeout and time.monotonic() < deadline:
                st, body = await pub.send_one(probe_seq)
                probe_seq -= 1
                if not 200 <= st < 300:
                    log("probe publish failed: HTTP %s %r" % (st, body[:200]))
                await asyncio.sleep(0.2)
                bcast(("probe?", None))
                r = await collect("probed", a.procs, time.monotonic() + 10)
                probed = sum(v for v in r.values() if v)
                if probed >= n_ok:
                    break
        out["ready"] = {"probed": probed, "probes_sent": -probe_seq - 1, "seconds": round(time.monotonic() - t_p, 3)}
        log("ready: %d/%d subscribers received a probe (%d probes)" % (probed, n_ok, -probe_seq - 1))
        await asyncio.sleep(a.settle)
        if a.hold:
            await asyncio.sleep(a.hold)
        mem2 = mem_sample(spids) if spids else None
        fd2 = fd_count(spids) if spids else None
        if spids:
            conns_n = max(1, n_ok)
            out["memory"] = {
                "server_procs": mem0["procs"],
                "before": {k: mem0[k] for k in ("rss_kb", "pss_kb")},
                "after_connect": {k: mem1[k] for k in ("rss_kb", "pss_kb")},
                "after_ready": {k: mem2[k] for k in ("rss_kb", "pss_kb")},
                "per_conn_kb_rss": round((mem2["rss_kb"] - mem0["rss_kb"]) / conns_n, 2),
                "per_conn_kb_pss": round((mem2["pss_kb"] - mem0["pss_kb"]) / conns_n, 2),
                "server_fds_before": fd0, "server_fds_after": fd2,
            }

        # --- measured phase
        cpu_pids_server = proc_tree(a.pid) if a.pid else []
        cpu_pids_aux = proc_tree(a.aux_pid) if a.aux_pid else []
        c_aux0 = sum(proc_cpu_ticks(p) for p in cpu_pids_aux)
        wpids = [p.pid for p in procs]
        c_srv0 = sum(proc_cpu_ticks(p) for p in cpu_pids_server)
        c_w0 = [proc_cpu_ticks(p) for p in wpids]
        c_me0 = proc_cpu_ticks(os.getpid())
        m0 = machine_ticks()
        tw0 = time.monotonic()
        bcast(("go", now_ns()))
        pubstats = None
        if a.events and n_ok == 0:
            log("no subscriber connected: not publishing")
        elif a.events:
            log("publishing %d events at %s" % (a.events, ("%g/s" % a.rate) if a.rate else "max rate"))
            pubstats = await pub.run(a.events, a.rate)
            log("published in %.3fs (ok %d, errors %d)" % ((pubstats["end_ns"] - pubstats["start_ns"]) / 1e9,
                                                           pub.ok, pub.errors))
        bcast(("published", pubstats))
        res = await collect("result", a.procs, deadline + 5)
        tw1 = time.monotonic()
        c_srv1 = sum(proc_cpu_ticks(p) for p in cpu_pids_server)
        c_aux1 = sum(proc_cpu_ticks(p) for p in cpu_pids_aux)
        c_w1 = [proc_cpu_ticks(p) for p in wpids]
        run_m1 = machine_ticks()
        run_srv1 = sum(proc_cpu_ticks(p) for p in proc_tree(a.pid + a.aux_pid)) if (a.pid or a.aux_pid) else 0
        run_me1 = proc_cpu_ticks(os.getpid())
        run_w = sum(c_w1)  # workers were forked after the run started: all their CPU is in the run
        c_me1 = proc_cpu_ticks(os.getpid())
        m1 = machine_ticks()
        mem3 = mem_sample(spids) if spids else None
        if spids:
            out["memory"]["after_run"] = {k: mem3[k] for k in ("rss_kb", "pss_kb")}

        # --- aggregate
        rs = [v for v in res.values() if v]
        missing_workers = a.procs - len(rs)
        expected = n_ok * a.events
        delivered = sum(r["delivered"] for r in rs)
        lost = sum(r["lost"] for r in rs)
        dups = sum(r["dups"] for r in rs)
        ooo = sum(r["ooo"] for r in rs)
        win = max(1e-9, tw1 - tw0)
        ticks_to_pct = lambda d: round(100.0 * d / CLK_TCK / win, 1)
        wpct = [ticks_to_pct(b - a_) for a_, b in zip(c_w0, c_w1)]
        mtot = (m1[0] - m0[0]) or 1
        machine_busy = round(100.0 * (1 - (m1[1] - m0[1]) / mtot), 1)
        ours = (c_srv1 - c_srv0) + (c_aux1 - c_aux0) + sum(b - a_ for a_, b in zip(c_w0, c_w1)) + (c_me1 - c_me0)
        foreign = max(0, (mtot - (m1[1] - m0[1])) - ours)
        # the same over the whole run (connect + readiness + publish + drain): used for idle runs
        run_tot = (run_m1[0] - run_m0[0]) or 1
        run_busy = run_tot - (run_m1[1] - run_m0[1])
        run_ours = (run_srv1 - run_srv0) + run_w + (run_me1 - run_me0)
        run_win = max(1e-9, tw1 - t_start)
        run_foreign_pct = round(100.0 * max(0, run_busy - run_ours) / CLK_TCK / run_win, 1)
        srv_pct = ticks_to_pct(c_srv1 - c_srv0) if cpu_pids_server else None
        pub_pct = ticks_to_pct(c_me1 - c_me0)
        out["delivery"] = {
            "expected": expected, "delivered": delivered, "lost": lost, "dup": dups, "out_of_order": ooo,
            "subs_complete": sum(r["complete"] for r in rs), "subs_with_loss": sum(r["subs_with_loss"] for r in rs),
            "max_lost_per_sub": max([r["max_lost_per_sub"] for r in rs] or [0]),
            "subs_with_dup": sum(r["subs_with_dup"] for r in rs), "subs_with_ooo": sum(r["subs_with_ooo"] for r in rs),
            "disconnects": sum(r["disconnects"] for r in rs), "other_events": sum(r["other"] for r in rs),
            "stale_events": sum(r["stale"] for r in rs), "comments": sum(r["comments"] for r in rs),
            "missing_workers": missing_workers,
            "errors": [e for r in rs for e in r["errors"]][:5],
        }
        d = out["delivery"]
        d["verified"] = bool(n_ok == a.subs and missing_workers == 0 and delivered == expected and lost == 0
                             and dups == 0 and ooo == 0 and d["disconnects"] == 0 and pub.errors == 0)
        if pubstats:
            pd = (pubstats["end_ns"] - pubstats["start_ns"]) / 1e9
            rtt = sorted(pub.rtt)
            out["publish"] = {"sent": a.events, "ok": pub.ok, "errors": pub.errors, "error_samples": pub.err_samples,
                              "seconds": round(pd, 4), "rate_achieved": round(a.events / pd, 1) if pd else None,
                              "rtt_ms_p50": round(pct(rtt, 50) / 1e6, 3) if rtt else None,
                              "rtt_ms_p99": round(pct(rtt, 99) / 1e6, 3) if rtt else None,
                              "max_sched_lag_ms": round(pubstats["max_sched_lag_ms"], 2),
                              "reconnects": pub.reconnects}
            last_rx = max([r["last_rx"] for r in rs if r["last_rx"]] or [pubstats["start_ns"]])
            span = (last_rx - pubstats["start_ns"]) / 1e9
            out["throughput"] = {"delivered_per_s": round(delivered / span, 1) if span > 0 else None,
                                 "span_s": round(span, 4),
                                 "note": "deliveries / (last delivery - first publish)"}
            lat = array("q")
            for r in rs:
                lat.frombytes(r["lat"])
            lat = sorted(lat)
            if lat:
                ms = lambda ns: round(ns / 1e6, 3)
                out["latency_ms"] = {"n": len(lat), "p50": ms(pct(lat, 50)), "p90": ms(pct(lat, 90)),
                                     "p99": ms(pct(lat, 99)), "p999": ms(pct(lat, 99.9)), "max": ms(lat[-1]),
                                     "min": ms(lat[0]), "mean": ms(sum(lat) / len(lat))}
        bound_w = [p for p in wpct if p >= a.cpu_bound_pct]
        out["cpu"] = {"window_s": round(win, 3), "server_pct_of_core": srv_pct,
                      "server_procs": len(cpu_pids_server),
                      "client_workers_pct_of_core": wpct, "publisher_pct_of_core": pub_pct,
                      "machine_busy_pct": machine_busy, "cores": os.cpu_count(),
                      "foreign_pct_of_core": ticks_to_pct(foreign) if a.events else run_foreign_pct,
                      "foreign_pct_of_core_whole_run": run_foreign_pct,
                      "aux_pct_of_core": ticks_to_pct(c_aux1 - c_aux0) if cpu_pids_aux else None,
                      "background_before_pct_of_core": self.bg_pct,
                      "client_loop_lag_max_ms": round(max([r["lag_max_ms"] for r in rs] or [0]), 2),
                      "client_loop_lag_mean_ms": round(max([r["lag_mean_ms"] for r in rs] or [0]), 3),
                      "server_cpu_us_per_delivery": (round((c_srv1 - c_srv0) / CLK_TCK * 1e6 / delivered, 2)
                                                     if cpu_pids_server and delivered else None),
                      "client_cpu_us_per_delivery": (round(sum(b - a_ for a_, b in zip(c_w0, c_w1)) / CLK_TCK * 1e6 / delivered, 2)
                                                     if delivered else None),
                      "client_cpu_bound": bool(bound_w) or pub_pct >= a.cpu_bound_pct,
                      "machine_saturated": machine_busy >= 95.0}
        for c in conns:
            try:
                loop.remove_reader(c.fileno())
            except Exception:
                pass
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
        out["elapsed_s"] = round(time.monotonic() - t_start, 2)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sub-url", required=True, help="subscriber GET URL (http only), may contain %%I%%")
    ap.add_argument("--pub-url", required=True, help="publish POST URL")
    ap.add_argument("--pub-body", default=DEFAULT_BODY, help="POST body template (default %(default)s)")
    ap.add_argument("--pub-body-file", help="read the POST body template from a file (trailing newline stripped)")
    ap.add_argument("--pub-content-type", default="application/json")
    ap.add_argument("--pub-header", action="append", default=[], help="extra publish header 'K: V' (repeatable)")
    ap.add_argument("--header", action="append", default=[], help="extra subscriber header 'K: V' (repeatable), e.g. auth token")
    ap.add_argument("--cookie", help="subscriber Cookie header value")
    ap.add_argument("--query", action="append", default=[], help="extra subscriber query parameter k=v (repeatable)")
    ap.add_argument("--event-type", help="count only events with this `event:` name (default: any)")
    ap.add_argument("-n", "--subs", type=int, default=100)
    ap.add_argument("-m", "--events", type=int, default=1000, help="events to publish (0 = idle/memory run)")
    ap.add_argument("--rate", type=float, default=0, help="events/s (0 = as fast as possible)")
    ap.add_argument("--pipeline", type=int, default=1, help="max in-flight publish requests on the connection")
    ap.add_argument("--pad-bytes", type=int, default=0)
    ap.add_argument("--procs", type=int, default=2, help="subscriber processes")
    ap.add_argument("--pid", type=int, action="append", default=[],
                    help="server pid (repeatable; children are included) for RSS/PSS and CPU")
    ap.add_argument("--aux-pid", type=int, action="append", default=[],
                    help="auxiliary process of the server (e.g. a GRIP origin): its CPU is not counted as foreign, "
                         "nor its memory as the server's")
    ap.add_argument("--connect-concurrency", type=int, default=64,
                    help="connection attempts in flight, all processes together")
    ap.add_argument("--connect-timeout", type=float, default=20)
    ap.add_argument("--probe-timeout", type=float, default=30)
    ap.add_argument("--settle", type=float, default=0.5, help="seconds to wait after readiness")
    ap.add_argument("--hold", type=float, default=0, help="extra idle seconds before the memory sample")
    ap.add_argument("--drain", type=float, default=5, help="give up after this long without a delivery")
    ap.add_argument("--timeout", type=float, default=110, help="overall bound in seconds")
    ap.add_argument("--cpu-bound-pct", type=float, default=85.0)
    ap.add_argument("--wait-idle", type=float, default=0,
                    help="wait up to this many seconds for background CPU use to drop below --idle-pct")
    ap.add_argument("--idle-pct", type=float, default=20.0, help="percent of one core (see --wait-idle)")
    ap.add_argument("--no-uvloop", action="store_true")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    if a.pub_body_file:
        with open(a.pub_body_file) as f:
            a.pub_body = f.read().rstrip("\n")
    if a.query:
        a.sub_url += ("&" if "?" in a.sub_url else "?") + "&".join(a.query)
    a.procs = max(1, min(a.procs, a.subs or 1))
    nofile = raise_nofile()
    need = a.subs // a.procs + 64
    if need > nofile:
        raise SystemExit("each subscriber process needs ~%d fds but RLIMIT_NOFILE is %d: raise --procs" % (need, nofile))
    m = Main(a)
    m.loopname = maybe_uvloop(not a.no_uvloop)
    out = asyncio.run(m.run())
    print(json.dumps(out), flush=True)
    ok = out.get("delivery", {}).get("verified") if a.events else out["connect"]["failed"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
