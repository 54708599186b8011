#!/usr/bin/env python3
"""Instructions per publish, counted exactly by valgrind's callgrind (`Ir`): SSE subscribers (one by default), one
keep-alive publisher doing `POST /hooks/demo` with ssebench's body, hookstream on `config/hookstream.yaml`.

    bench/callgrind/run.py --bin PATH                              # one binary, SQLite store
    bench/callgrind/run.py --bin OLD --bin NEW --label before --label after --out /tmp/cg.md
    bench/callgrind/run.py --bin PATH --store memory --count 500   # quicker, memory store
    bench/callgrind/run.py --bin PATH --nchan --subscribers 1,101  # and nginx + nchan; each at 1 and 101 streams

With several `--subscribers` counts, each server runs once per count, and the table adds the Ir of each further
subscriber's delivery: the slope between the smallest and the largest count, which leaves the publish out.
`--nchan` runs nginx + nchan (`bench/fanout/nchan.conf` with `master_process off`, so that the one process
valgrind runs is the worker) under the same callgrind, load and checks, publishing to `/pub` and streaming `/sub`.

Each binary runs in turn, alone, under `valgrind --tool=callgrind` with `sigsuspend_shim.so` preloaded (see the
shim's comment). Per binary: `--warmup` publishes, all delivered; `callgrind_control -z`; exactly `--count`
publishes at `--rate` per second; every event checked to have arrived once and in order; `callgrind_control -d`.
Ir per publish is the dump's `summary:` over `--count`. The table's ratio is against the first binary.

The binary must carry DWARF 4 debug info (valgrind 3.19 rejects Swift 6.3's default DWARF 5); README.md says how
to build one. Needs valgrind, callgrind_control, cc and ss. Standard library only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench" / "fanout"))
# The fan-out harness's: the port a PID listens on (from `ss`), and nginx + nchan installed if missing.
from run import ensure_nchan, listening_port  # noqa: E402
CONFIG = ROOT / "config/hookstream.yaml"
NCHAN_CONFIG = ROOT / "bench/fanout/nchan.conf"
HOST = "127.0.0.1"

# Bounds on every wait. valgrind reads the binary's debug info before main, which takes a minute or more.
START_TIMEOUT = 300
CONTROL_TIMEOUT = 120
DELIVERY_TIMEOUT = 120
IO_TIMEOUT = 60
STOP_TIMEOUT = 60


def log(message: str) -> None:
    print(f"[callgrind] {message}", file=sys.stderr, flush=True)


def compile_shim(folder: Path) -> Path:
    shim = folder / "sigsuspend_shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(HERE / "sigsuspend_shim.c")],
                   check=True, timeout=120)
    return shim


def prepared_config(scratch: Path, store: str) -> Path:
    """A copy of the repository's config in `scratch` with `store.kind` as asked and `store.path` inside `scratch`
    (the same rewrite as bench/fanout/run.py's `config_with_store`, plus the path, so no run sees another's data)."""
    text = CONFIG.read_text()
    store_key = r"(?m)^(store:[ \t]*\n(?:[ \t]+.*\n|[ \t]*\n)*?[ \t]+{key}:[ \t]*)[^\n#]*?(?=[ \t]*(?:#|$))"
    text, kinds = re.subn(store_key.format(key="kind"), lambda m: m.group(1) + store, text, count=1)
    text, paths = re.subn(store_key.format(key="path"),
                          lambda m: m.group(1) + json.dumps(str(scratch / "var" / "hookstream.db")), text, count=1)
    if kinds != 1 or paths != 1:
        raise SystemExit(f"no block-style `store:` section with `kind:` and `path:` lines in {CONFIG}")
    return written_config(scratch, "hookstream.yaml", text, folder="var")


def written_config(scratch: Path, name: str, text: str, folder: str) -> Path:
    """Writes a server's config `text` as `scratch/name`, with the empty `folder` the server writes into."""
    (scratch / folder).mkdir()
    config = scratch / name
    config.write_text(text)
    return config


class Daemon:
    """A server under callgrind in its own temp dir: hookstream, or with `nchan` nginx + nchan; stopped by PID."""

    def __init__(self, binary: str, store: str, shim: Path, nchan: bool = False, cache_sim: bool = False):
        self.scratch = Path(tempfile.mkdtemp(prefix="bench-callgrind."))
        self.out = self.scratch / "callgrind.out"
        self.log = self.scratch / "server.log"
        valgrind = ["valgrind", "--tool=callgrind", "--separate-threads=no", f"--callgrind-out-file={self.out}"]
        if cache_sim:
            valgrind.append("--cache-sim=yes")
        if nchan:
            command = valgrind + [binary, "-p", f"{self.scratch}/", "-c", str(nchan_config(self.scratch)), "-e", "stderr"]
            env = dict(os.environ)
            self.publish_path, self.stream_path = "/pub", "/sub"
        else:
            config = prepared_config(self.scratch, store)
            # Logging as bench/fanout does: warnings and errors only, no line per request.
            command = valgrind + [binary, "serve", "--config", str(config), "--listen", f"{HOST}:0", "--log-level",
                                  "warning", "--unix-socket", str(self.scratch / "hookstream.sock")]
            env = dict(os.environ, LD_PRELOAD=str(shim))
            env.pop("STATE_DIRECTORY", None)
            self.publish_path, self.stream_path = "/hooks/demo", "/events?topic=demo/**"
        # Its own session: a Ctrl-C reaches only this script, which then stops the daemon in `stop`.
        self.process = subprocess.Popen(command, cwd=self.scratch, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), start_new_session=True)
        self.pid = self.process.pid
        self.port = None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_listening(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited ({self.process.returncode}) before it listened:\n{self.tail()}")
            self.port = listening_port(self.pid)
            if self.port is not None:
                return self.port
            time.sleep(0.2)
        raise RuntimeError(f"the daemon did not listen within {START_TIMEOUT} s:\n{self.tail()}")

    def control(self, flag: str) -> None:
        """`callgrind_control -z` (zero) or `-d` (dump); vgdb answers once valgrind has done it."""
        result = subprocess.run(["callgrind_control", flag, str(self.pid)], capture_output=True, text=True,
                                timeout=CONTROL_TIMEOUT)
        if result.returncode != 0 or "OK" not in result.stdout:
            raise RuntimeError(f"callgrind_control {flag} {self.pid} failed ({result.returncode}): "
                               f"{result.stdout.strip()} {result.stderr.strip()}")

    def dumps(self) -> list:
        """The dumps made with `-d`: callgrind writes them as <out>.1, <out>.2, ..."""
        return sorted(self.scratch.glob(self.out.name + ".*"), key=lambda p: int(p.suffix[1:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"pid {self.pid} still running {STOP_TIMEOUT} s after SIGTERM: SIGKILL")
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)

    def remove(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def nchan_config(scratch: Path) -> Path:
    """bench/fanout's nchan config in `scratch`, as one process (no master: valgrind would follow only the master)
    on a port free now (nginx cannot be asked for port 0 and tell which it got)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    text = NCHAN_CONFIG.read_text()
    text, masters = re.subn(r"(?m)^master_process on;", "master_process off;", text)
    text, listens = re.subn(r"listen 127\.0\.0\.1:\d+", f"listen {HOST}:{port}", text)
    if masters != 1 or listens != 1:
        raise SystemExit(f"no `master_process on;` or `listen 127.0.0.1:PORT` line in {NCHAN_CONFIG}")
    return written_config(scratch, "nginx.conf", text, folder="tmp")


def read_counts(dump: Path) -> dict:
    """The dump's totals by event (`Ir`, and with `--cache-sim` the cache misses `I1mr`, `D1mr`, `D1mw`, ...): its
    `summary:` line (the window's cost), else its `totals:` line. `totals` is a little higher: frames already on the
    stack when the counters were zeroed are counted twice in it."""
    events = totals = summary = None
    with open(dump) as lines:
        for line in lines:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:"):
                summary = [int(value) for value in line.split()[1:]]
            elif line.startswith("totals:"):
                totals = [int(value) for value in line.split()[1:]]
    values = summary or totals
    if events is None or values is None:
        raise RuntimeError(f"no events: line, or no summary: or totals: line in {dump}")
    # A dump leaves out trailing events that are zero.
    return {event: (values[index] if index < len(values) else 0) for index, event in enumerate(events)}


# What `--cache-sim` adds to the tables: first-level misses (instruction; data read and write) and last-level misses.
MISSES = {"I1 misses": ("I1mr",), "D1 misses": ("D1mr", "D1mw"), "LL misses": ("ILmr", "DLmr", "DLmw")}


class Subscriber:
    """One SSE stream (hookstream's on `topic=demo/**`); records each event's `seq` from its data, in the order it
    arrived."""

    def __init__(self, port: int, path: str):
        self.seqs = []
        self.lock = threading.Lock()
        self.error = None
        self.closing = False
        self.sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                           "Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
                           "Authorization: Bearer demo-token\r\n\r\n").encode())
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError(f"the stream closed before its head: {buffer!r}")
            buffer += data
        head, _, self.rest = buffer.partition(b"\r\n\r\n")
        status = head.split(b"\r\n")[0]
        if b" 200 " not in status + b" " or b"text/event-stream" not in head.lower():
            raise RuntimeError(f"the stream was refused: {head.decode('latin-1')}")
        if b"transfer-encoding: chunked" in head.lower():
            raise RuntimeError("the stream is chunked; this reader expects the raw SSE body hookstream sends")
        self.sock.settimeout(1)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        buffer = self.rest.replace(b"\r\n", b"\n")
        try:
            while not self.closing:
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    data = [line[5:].removeprefix(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
                    if data:
                        seq = json.loads(b"\n".join(data))["seq"]
                        with self.lock:
                            self.seqs.append(seq)
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    raise RuntimeError("the server closed the stream")
                buffer = (buffer + chunk).replace(b"\r\n", b"\n")
        except Exception as error:  # reported by `wait_for`, which the main thread calls
            if not self.closing:
                self.error = error

    def wait_for(self, total: int) -> None:
        """Waits until `total` events have arrived, then checks they are 0..total-1, each once, in order."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while True:
            with self.lock:
                got = list(self.seqs)
            if self.error:
                raise RuntimeError(f"subscriber failed after {len(got)} events: {self.error!r}")
            if len(got) >= total or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if got != list(range(total)):
            missing = sorted(set(range(total)) - set(got))
            raise RuntimeError(f"delivery check failed: {len(got)} events for {total} publishes, "
                               f"{len(got) - len(set(got))} duplicates, {len(missing)} missing (first {missing[:5]}), "
                               f"in order: {got == sorted(got)}")

    def close(self) -> None:
        self.closing = True
        self.thread.join(timeout=5)
        self.sock.close()


class Publisher:
    """One keep-alive connection; ssebench's request and body (`{"seq":N,"ts":T,"run":"R","pad":""}`)."""

    def __init__(self, port: int, path: str):
        self.port = port
        self.path = path
        self.sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.replies = self.sock.makefile("rb")
        self.run = "cg%d" % int(time.time())

    def publish(self, seq: int) -> None:
        body = ('{"seq":%d,"ts":%d,"run":"%s","pad":""}' % (seq, time.monotonic_ns(), self.run)).encode()
        self.sock.sendall((f"POST {self.path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        status_line = self.replies.readline()
        parts = status_line.split()
        if len(parts) < 2:
            raise RuntimeError(f"no reply to publish {seq}: {status_line!r}")
        length = 0
        while True:
            line = self.replies.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "transfer-encoding":
                raise RuntimeError(f"unexpected Transfer-Encoding in the reply to publish {seq}")
        reply = self.replies.read(length)
        if not parts[1].startswith(b"2"):
            raise RuntimeError(f"publish {seq} got {status_line.decode('latin-1').strip()}: {reply[:300]!r}")

    def paced(self, first: int, count: int, rate: float) -> None:
        """Publishes seq first..first+count-1, one every 1/rate s (each waits for its reply)."""
        start = time.monotonic()
        for index in range(count):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.publish(first + index)

    def close(self) -> None:
        self.replies.close()
        self.sock.close()


def measure(label: str, binary: str, store: str, shim: Path, args, subscribers: int, nchan: bool = False) -> dict:
    daemon = Daemon(binary, store, shim, nchan=nchan, cache_sim=args.cache_sim)
    streams = []
    publisher = None
    try:
        started = time.monotonic()
        port = daemon.wait_listening()
        log(f"  pid {daemon.pid} listening on {port} after {time.monotonic() - started:.0f} s")
        streams = [Subscriber(port, daemon.stream_path) for _ in range(subscribers)]
        publisher = Publisher(port, daemon.publish_path)
        publisher.paced(0, args.warmup, args.rate)
        for stream in streams:
            stream.wait_for(args.warmup)
        # Whatever the warm-up left running (the store's next apply, timers) finishes before the zero.
        time.sleep(args.settle)
        daemon.control("-z")
        started = time.monotonic()
        publisher.paced(args.warmup, args.count, args.rate)
        for stream in streams:
            stream.wait_for(args.warmup + args.count)
        daemon.control("-d")
        window = time.monotonic() - started
        dumps = daemon.dumps()
        if len(dumps) != 1:
            raise RuntimeError(f"expected one dump, found {[d.name for d in dumps]}")
        counts = read_counts(dumps[0])
        ir = counts["Ir"]
        if args.keep_dumps:
            keep = Path(args.keep_dumps)
            keep.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{label}.{subscribers}")
            shutil.copy(dumps[0], keep / f"callgrind.{name}.out")
        log(f"  {args.count} publishes to {subscribers} stream(s) verified in {window:.0f} s; {ir:,} Ir, "
            f"{ir / args.count:,.0f} per publish")
        misses = {name: sum(counts.get(event, 0) for event in events) / args.count
                  for name, events in MISSES.items()} if args.cache_sim else {}
        return {"ir": ir, "per_publish": ir / args.count, "misses": misses}
    finally:
        for client in [publisher] + streams:
            if client is not None:
                client.close()
        daemon.stop()
        # nginx 1.22 + nchan 1.3.6 without a master aborts on SIGTERM (a double free in its exit path), after the dump.
        if daemon.process.returncode not in (0, None, -signal.SIGTERM) and not nchan:
            log(f"  server exit status {daemon.process.returncode}:\n{daemon.tail(5)}")
        daemon.remove()


def table(rows: list, args, counts: list) -> str:
    first = rows[0]["per_publish"]
    misses = list(MISSES) if args.cache_sim else []
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    streams = " or ".join(str(count) for count in counts)
    lines = [
        f"Callgrind, {valgrind}: `POST /hooks/demo` (nchan: `/pub`) to {streams} SSE subscriber(s), {args.warmup} "
        f"warm-up publishes, then {args.count:,} measured at {args.rate:g}/s; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| label | binary | store | subscribers | Ir in the window | Ir per publish | ratio to the first |"
        + "".join(f" {name} per publish |" for name in misses),
        "|---|---|---|---:|---:|---:|---:|" + "---:|" * len(misses),
    ]
    for row in rows:
        lines.append(f"| {row['label']} | `{row['binary']}` | {row['store']} | {row['subscribers']} | {row['ir']:,} | "
                     f"{row['per_publish']:,.0f} | {row['per_publish'] / first:.3f} |"
                     + "".join(f" {row['misses'][name]:,.0f} |" for name in misses))
    if len(counts) > 1:
        low, high = counts[0], counts[-1]
        lines += ["", f"Each further subscriber's delivery (from {low} to {high} subscribers):", "",
                  "| label | Ir per further delivery | ratio to the first |" + "".join(f" {name} |" for name in misses),
                  "|---|---:|---:|" + "---:|" * len(misses)]
        slopes = []
        for label in dict.fromkeys(row["label"] for row in rows):
            at = {row["subscribers"]: row for row in rows if row["label"] == label}
            slope = (at[high]["per_publish"] - at[low]["per_publish"]) / (high - low)
            miss_slopes = [(at[high]["misses"][name] - at[low]["misses"][name]) / (high - low) for name in misses]
            slopes.append((label, slope, miss_slopes))
        for label, slope, miss_slopes in slopes:
            lines.append(f"| {label} | {slope:,.0f} | {slope / slopes[0][1]:.3f} |"
                         + "".join(f" {value:,.1f} |" for value in miss_slopes))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", action="append", default=[], help="hookstream binary with DWARF 4 (repeatable)")
    parser.add_argument("--label", action="append", default=[], help="a name per --bin, in order (default: #1, #2, ...)")
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite", help="store.kind (default: sqlite)")
    parser.add_argument("--warmup", type=int, default=500, help="publishes before the counters are zeroed")
    parser.add_argument("--count", type=int, default=2000, help="publishes measured")
    parser.add_argument("--rate", type=float, default=40, help="publishes per second")
    parser.add_argument("--settle", type=float, default=3, help="seconds between the warm-up's delivery and the zero")
    parser.add_argument("--out", help="also write the table to this markdown file")
    parser.add_argument("--keep-dumps", metavar="DIR", help="copy each measured window's dump here, for callgrind_annotate")
    parser.add_argument("--subscribers", default="1",
                        help="SSE streams, or a comma-separated list of counts to run each server at (default: 1)")
    parser.add_argument("--nchan", action="store_true", help="also count nginx + nchan (the first row when given)")
    parser.add_argument("--cache-sim", action="store_true",
                        help="also simulate the caches (valgrind's model of them, not this CPU's) and report misses")
    args = parser.parse_args()
    try:
        counts = sorted({int(count) for count in args.subscribers.split(",")})
    except ValueError:
        parser.error(f"--subscribers takes counts like 1 or 1,101, not {args.subscribers!r}")
    if counts[0] < 1:
        parser.error("--subscribers counts must be positive")
    if not args.bin and not args.nchan:
        parser.error("nothing to count: give --bin, --nchan or both")
    if len(args.label) > len(args.bin):
        parser.error("more --label than --bin")
    if args.count < 1 or args.warmup < 0 or args.rate <= 0:
        parser.error("--count must be positive, --warmup not negative, --rate positive")
    binaries = [str(Path(b).resolve()) for b in args.bin]
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            parser.error(f"not an executable: {binary}")
    labels = args.label + [f"#{i + 1}" for i in range(len(args.label), len(binaries))]
    for tool in ("valgrind", "callgrind_control", "cc", "ss"):
        if not shutil.which(tool):
            parser.error(f"{tool} is not on PATH")
    if args.nchan:
        ensure_nchan()
    servers = ([("nchan", shutil.which("nginx"), True)] if args.nchan else []) + [
        (label, binary, False) for label, binary in zip(labels, binaries)]

    build = Path(tempfile.mkdtemp(prefix="bench-callgrind-shim."))
    rows = []
    try:
        shim = compile_shim(build)
        for label, binary, nchan in servers:
            for count in counts:
                store = "shared memory" if nchan else args.store
                log(f"{label}: {binary} ({store}, {count} subscriber(s))")
                result = measure(label, binary, args.store, shim, args, count, nchan=nchan)
                rows.append({"label": label, "binary": binary, "store": store, "subscribers": count, **result})
    finally:
        shutil.rmtree(build, ignore_errors=True)
    report = table(rows, args, counts)
    print(report, end="")
    if args.out:
        Path(args.out).write_text(report)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
