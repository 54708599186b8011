#!/usr/bin/env python3
"""Fan-out benchmark: hookstream (release build, default config: token auth on, SQLite store) against nchan,
side by side on the same machine, with the independent harness `ssebench.py`.

    bench/fanout/run.py                 # full run: every scenario, 3 repeats (5 for e, d, p), writes BENCHMARKS.md
    bench/fanout/run.py --smoke         # CI-sized: tiny numbers, no timing claims, writes to a temp file

Scenarios (ssebench arguments):
  a  1,000 subscribers x 1,000 events, max publish rate      CPU per delivery, deliveries/s
  c  100 subscribers x 20,000 events, max publish rate       CPU per delivery
  f  10,000 subscribers x 100 events, max publish rate       CPU per delivery at 10,000 streams
  e  100 subscribers x 4,000 events at 200 events/s          latency, CPU at a rate that saturates nobody
  d  1,000 subscribers x 600 events at 20 events/s           latency
  b  10,000 idle subscribers, nothing published              memory per idle stream
  g  19,000 subscribers (4 client processes), 20 events      the most streams one process may hold here (hookstream only)
  h0 100 subscribers x 4,000 2-KiB events at 200 events/s    the baseline for h
  h  h0 plus 20 subscribers that stop reading                 their cost: server memory, and the others' p99
  p  1 subscriber x 2,000 events at 200 events/s              the cost of one publish (request, rule, store, 202)
Runs alternate nchan / hookstream, one fresh server per run. Figures are medians over the repeats; the
ratio column is hookstream / nchan from the same run set, followed by the range of the ratios of the runs
made back to back (repeat i of each peer), which shows how far the machine's noise moves it.
"""
import argparse
import atexit
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NCHAN_PORT = 23081

FULL = {
    "a": "-n 1000 -m 1000 --rate 0 --pipeline 16",
    "c": "-n 100 -m 20000 --rate 0 --pipeline 16",
    "f": "-n 10000 -m 100 --rate 0 --pipeline 16 --procs 2",
    "e": "-n 100 -m 4000 --rate 200",
    "d": "-n 1000 -m 600 --rate 20",
    "b": "-n 10000 -m 0 --hold 3",
    "g": "-n 19000 -m 20 --rate 10 --procs 4",
    "h0": "-n 100 -m 4000 --rate 200 --pad-bytes 2000",
    "h": "-n 100 -m 4000 --rate 200 --pad-bytes 2000",
    "p": "-n 1 -m 2000 --rate 200 --procs 1",
}
# The fixed-rate scenarios are measured more often: their ratios sit near 1 and the machine is shared.
REPEATS = {"e": 5, "d": 5, "p": 5}
STALLED = {"h": 20}  # scenario -> subscribers that connect first and then never read
SMOKE = {
    "a": "-n 20 -m 50 --rate 0 --pipeline 16",
    "e": "-n 10 -m 40 --rate 100",
    "b": "-n 50 -m 0 --hold 0.5",
}
HOOKSTREAM_ONLY = {"g"}  # nchan's worker_connections (16,384) cannot hold it


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def ensure_nchan() -> None:
    if Path("/usr/lib/nginx/modules/ngx_nchan_module.so").exists() and shutil.which("nginx"):
        return
    log("installing nginx + libnginx-mod-nchan (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=120", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=120", "install", "-y", "-qq", "--no-install-recommends",
                    "nginx", "libnginx-mod-nchan"], check=True, env=env, stdout=subprocess.DEVNULL)


class Server:
    def __init__(self, name: str, process: subprocess.Popen, scratch: Path, sub_url: str, pub_url: str, extra: list):
        self.name, self.process, self.scratch = name, process, scratch
        self.sub_url, self.pub_url, self.extra = sub_url, pub_url, extra

    def terminate(self) -> float:
        """SIGTERM (SIGKILL after 10 s) by PID; returns how long the stop took."""
        start = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return time.monotonic() - start

    def stop(self) -> float:
        stopped = self.terminate()
        shutil.rmtree(self.scratch, ignore_errors=True)
        return stopped


def start_nchan() -> Server:
    scratch = Path(tempfile.mkdtemp(prefix="bench-nchan."))
    (scratch / "tmp").mkdir()
    shutil.copy(HERE / "nchan.conf", scratch / "nginx.conf")
    process = subprocess.Popen(["nginx", "-p", f"{scratch}/", "-c", f"{scratch}/nginx.conf", "-e", "stderr"],
                               stdout=subprocess.DEVNULL, stderr=open(scratch / "server.log", "w"),
                               preexec_fn=raise_nofile)
    wait_port(NCHAN_PORT)
    return Server("nchan", process, scratch, f"http://127.0.0.1:{NCHAN_PORT}/sub", f"http://127.0.0.1:{NCHAN_PORT}/pub", [])


def listening_port(pid: int):
    """The TCP port process `pid` listens on (port 0 was asked for), from `ss`; None until it listens."""
    listing = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        if f"pid={pid}," in line:
            match = re.search(r"127\.0\.0\.1:(\d+)", line)
            if match:
                return int(match.group(1))
    return None


def start_hookstream(binary: str, config: Path, scheme: str = "http", prefix: str = "bench-hookstream.") -> Server:
    """hookstream on `config` at a free port (found with `ss`); `scheme` is `https` when the config has `server.tls`."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    (scratch / "var").mkdir()
    logfile = scratch / "server.log"
    # Logging as nchan's config does (error_log warn, access_log off): warnings and errors only, no line per request.
    process = subprocess.Popen(
        [binary, "serve", "--config", str(config), "--listen", "127.0.0.1:0", "--log-level", "warning",
         "--unix-socket", str(scratch / "hookstream.sock")],
        cwd=scratch, stdout=subprocess.DEVNULL, stderr=open(logfile, "w"), preexec_fn=raise_nofile)
    deadline = time.monotonic() + 20
    port = None
    while time.monotonic() < deadline and port is None:
        port = listening_port(process.pid)
        if port is not None:
            break
        elif process.poll() is not None:
            raise RuntimeError("hookstream exited: " + logfile.read_text())
        else:
            time.sleep(0.02)
    if port is None:
        process.kill()
        process.wait()
        raise RuntimeError("hookstream did not start: " + logfile.read_text())
    base = f"{scheme}://127.0.0.1:{port}"
    # Token auth on (the default config's demo token), the demo webhook as the publish URL.
    return Server("hookstream", process, scratch, f"{base}/events?topic=demo/**", f"{base}/hooks/demo",
                  ["--header", "Authorization: Bearer demo-token"])


def harness_python(smoke: bool) -> str:
    """A Python with uvloop for the harness (as the shared baseline runs used): `.venv-bench`, made on first use.
    The smoke run uses the plain interpreter: it measures nothing."""
    if smoke:
        return sys.executable
    venv = ROOT / ".venv-bench"
    python = venv / "bin" / "python3"
    if subprocess.run([str(python), "-c", "import uvloop"], capture_output=True).returncode != 0 if python.exists() else True:
        log("preparing .venv-bench (uvloop) for the harness")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "uvloop"], check=True)
    return str(python)


PYTHON = sys.executable


def release_binary() -> str:
    """Builds hookstream's release binary and returns its path."""
    log("building the release binary")
    subprocess.run(["swift", "build", "-c", "release", "--product", "hookstream"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip() + "/hookstream"


def config_with_store(config: Path, store: str) -> Path:
    """A copy of `config` (in a temp folder removed at exit) whose `store.kind` is `store`. Raises `ValueError`
    when the config has no block-style `store:` section with a `kind:` line (the default config's layout)."""
    text, count = re.subn(r"(?m)^(store:[ \t]*\n(?:[ \t]+.*\n|[ \t]*\n)*?[ \t]+kind:[ \t]*)\w+",
                          lambda m: m.group(1) + store, config.read_text(), count=1)
    if count != 1:
        raise ValueError(f"no block-style `store:` section with a `kind:` line in {config}")
    folder = Path(tempfile.mkdtemp(prefix="bench-config."))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    variant = folder / config.name
    variant.write_text(text)
    return variant


def run_facts(store: str) -> dict:
    """When, where and with which store a run is made; kept in every summary (`_run`) for the report's header."""
    cpu_model = "unknown"
    try:
        cpu_model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores ({cpu_model}), "
                   f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, "
                   f"open files hard limit {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}",
        "store": store,
    }


def start_stalled(server: Server, count: int) -> list:
    """Subscribers that connect (4 KiB receive buffer), see the stream start, and then never read."""
    match = re.match(r"http://127\.0\.0\.1:(\d+)(/.*)", server.sub_url)
    port, path = match.group(1), match.group(2)
    clients = []
    for _ in range(count):
        client = subprocess.Popen([sys.executable, str(ROOT / "Tests/Clients/slow_client.py"), "127.0.0.1", port, path, "demo-token"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if "connected" not in client.stdout.readline():
            raise RuntimeError("a stalled subscriber did not connect")
        clients.append(client)
    return clients


def run_harness(server: Server, arguments: str, label: str) -> dict:
    command = [PYTHON, str(HERE / "ssebench.py"), "--sub-url", server.sub_url, "--pub-url", server.pub_url,
               "--pid", str(server.process.pid), "--timeout", "110", "--label", label] + server.extra + arguments.split()
    result = subprocess.run(command, capture_output=True, text=True, timeout=170, preexec_fn=raise_nofile)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"ssebench printed no summary for {label}: {result.stderr[-2000:]}")
    summary = json.loads(lines[-1])
    summary["_exit"] = result.returncode
    return summary


def pick(summary: dict, path: str):
    value = summary
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def median(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def fmt(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else f"{value:,}"


def ratio(ours, theirs):
    if ours is None or not theirs:
        return "–"
    return f"{ours / theirs:.2f}×"


def paired_ratios(ours: list, theirs: list) -> list:
    """ours[i] / theirs[i] for the runs made back to back (same repeat index) where both have a figure."""
    return [a / b for a, b in zip(ours, theirs) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b]


def span(ratios: list) -> str:
    """`min–max×` of some ratios."""
    return f"{min(ratios):.2f}–{max(ratios):.2f}×"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CI-sized run: tiny numbers, output to a temp file")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per scenario and peer (default: 1 for --smoke, else 3, and 5 for e, d and p)")
    parser.add_argument("--scenarios", default=None, help="comma-separated ids, e.g. a,e")
    parser.add_argument("--bin", default=os.environ.get("HOOKSTREAM_BIN"), help="hookstream binary (default: release build)")
    parser.add_argument("--out", default=None,
                        help="report path (default: BENCHMARKS.md for a full run with nchan and the default store, "
                             "else a file in the temp folder, so a partial run never replaces the committed report)")
    parser.add_argument("--config", default=str(ROOT / "config/hookstream.yaml"),
                        help="hookstream's config (default: the repository's default config)")
    parser.add_argument("--store", choices=["sqlite", "memory"], default=None,
                        help="override store.kind of the config, e.g. `memory` to see what the SQLite commit costs")
    parser.add_argument("--no-nchan", action="store_true")
    parser.add_argument("--from-jsonl", default=None, metavar="JSONL",
                        help="run nothing: rebuild the report (--out, default BENCHMARKS.md) from a run's raw summaries")
    args = parser.parse_args()

    table = SMOKE if args.smoke else FULL
    scenarios = args.scenarios.split(",") if args.scenarios else list(table)
    unknown = [s for s in scenarios if s not in table]
    if unknown and not args.from_jsonl:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; {'--smoke has' if args.smoke else 'there are'}: {', '.join(table)}")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")

    def repeats_of(scenario: str) -> int:
        return args.repeats or (1 if args.smoke else REPEATS.get(scenario, 3))

    standard = not (args.smoke or args.scenarios or args.store or args.no_nchan or args.repeats)
    if args.out:
        out = Path(args.out)
    elif args.from_jsonl or standard:
        out = ROOT / "BENCHMARKS.md"
    else:
        out = Path(tempfile.gettempdir()) / ("BENCHMARKS-smoke.md" if args.smoke else "BENCHMARKS-partial.md")
    if args.from_jsonl:
        return rebuild_report(Path(args.from_jsonl), out)
    binary = str(Path(args.bin).resolve()) if args.bin else None
    config = Path(args.config).resolve()
    if args.store:
        try:
            config = config_with_store(config, args.store)
        except ValueError as error:
            parser.error(f"--store: {error}")
        log(f"store.kind: {args.store} ({config})")
    if not binary:
        binary = release_binary()
    global PYTHON
    PYTHON = harness_python(args.smoke)
    peers = ["hookstream"] if args.no_nchan else ["nchan", "hookstream"]
    if "nchan" in peers:
        ensure_nchan()

    facts = run_facts(args.store or "sqlite")
    results: dict = {}
    failures = []
    for scenario in scenarios:
        for repeat in range(repeats_of(scenario)):
            for peer in peers:
                if peer == "nchan" and scenario in HOOKSTREAM_ONLY:
                    continue
                server = start_nchan() if peer == "nchan" else start_hookstream(binary, config)
                label = f"{scenario}-{peer}-{repeat + 1}"
                log(f"{label}: {table[scenario]}")
                stalled = start_stalled(server, STALLED.get(scenario, 0))
                try:
                    summary = run_harness(server, table[scenario], label)
                finally:
                    for client in stalled:
                        client.kill()
                        client.wait()
                    stop_seconds = server.stop()
                summary["_stop_seconds"] = stop_seconds
                summary["_run"] = facts
                ok = summary["_exit"] == 0
                delivery = summary.get("delivery", {})
                log(f"  verified={delivery.get('verified')} connected={pick(summary, 'connect.ok')} "
                    f"deliv/s={pick(summary, 'throughput.delivered_per_s')} "
                    f"us/deliv={pick(summary, 'cpu.server_cpu_us_per_delivery')} "
                    f"p50/p99={pick(summary, 'latency_ms.p50')}/{pick(summary, 'latency_ms.p99')} "
                    f"KiB/conn={pick(summary, 'memory.per_conn_kb_rss')}")
                if not ok:
                    failures.append(label)
                results.setdefault(scenario, {}).setdefault(peer, []).append(summary)

    write_report(out, results, scenarios, {s: repeats_of(s) for s in scenarios}, args.smoke, peers, facts)
    log(f"wrote {out}")
    if failures:
        log(f"runs that did not verify: {', '.join(failures)}")
        return 1
    return 0


def rebuild_report(raw: Path, out: Path) -> int:
    """The report of an earlier run, from its `.jsonl` (labels are `<scenario>-<peer>-<repeat>`)."""
    results: dict = {}
    runs = []
    for line in raw.read_text().splitlines():
        summary = json.loads(line)
        scenario, peer, repeat = summary["label"].rsplit("-", 2)
        runs.append((scenario, peer, int(repeat), summary))
    scenarios = list(dict.fromkeys(run[0] for run in runs))
    for scenario, peer, _, summary in sorted(runs, key=lambda run: (scenarios.index(run[0]), run[1], run[2])):
        results.setdefault(scenario, {}).setdefault(peer, []).append(summary)
    peers = [p for p in ("nchan", "hookstream") if any(p in results[s] for s in scenarios)]
    repeats = {s: max(len(runs) for runs in results[s].values()) for s in scenarios}
    facts = next((s["_run"] for _, _, _, s in runs if "_run" in s), None)
    if facts is None:
        raise SystemExit(f"{raw} does not say when, where and with which store it was run (no `_run` in its summaries)")
    write_report(out, results, scenarios, repeats, False, peers, facts,
                 write_raw=out.with_suffix(".jsonl").resolve() != raw.resolve())
    log(f"wrote {out} from {raw}")
    return 0


def derived_split(results: dict, peers: list) -> list:
    """With (p) and (e) in the run: (e)'s CPU split into the cost of one publish, measured by (p), and the cost of
    each further subscriber write, what is left per delivery: `(e per delivery × n − p) / (n − 1)`, n = (e)'s
    subscribers. Medians, and in brackets the range over the runs made back to back (repeat i of (p) and (e))."""
    path = "cpu.server_cpu_us_per_delivery"

    def split(p_runs, e_runs):
        pairs = []
        for p_run, e_run in zip(p_runs, e_runs):
            publish, per_delivery, n = pick(p_run, path), pick(e_run, path), e_run.get("subs", 0)
            if isinstance(publish, (int, float)) and isinstance(per_delivery, (int, float)) and n > 1:
                pairs.append((publish, (per_delivery * n - publish) / (n - 1)))
        return pairs

    if "p" not in results or "e" not in results or "nchan" not in peers or "hookstream" not in peers:
        return []
    per_peer = {peer: split(results["p"].get(peer, []), results["e"].get(peer, [])) for peer in peers}
    if not all(per_peer.values()):
        return []
    lines = ["", "(e) split with (p): one publish (request, rule, store, one write, the reply) and each further "
             "subscriber write, server CPU µs. Medians; in brackets the range over the repeats. (p)'s CPU comes in "
             "5 µs steps (a 10 ms clock tick over 2,000 events).", "",
             "| part of (e) | nchan | hookstream | ratio of medians | ratios of the repeats |", "|---|---|---|---|---|"]
    for index, label in ((0, "one publish, measured by (p)"), (1, "each further subscriber write, (e × n − p) / (n − 1)")):
        values = {peer: [pair[index] for pair in per_peer[peer]] for peer in peers}
        cells = [f"{median(values[peer]):.2f} ({min(values[peer]):.2f}–{max(values[peer]):.2f})" for peer in ("nchan", "hookstream")]
        ratios = paired_ratios(values["hookstream"], values["nchan"])
        spread = span(ratios) if ratios else "–"
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio(median(values['hookstream']), median(values['nchan']))} | {spread} |")
    return lines


def write_report(out: Path, results: dict, scenarios: list, repeats: dict, smoke: bool, peers: list, facts: dict,
                 write_raw: bool = True) -> None:
    loops = sorted({s.get("loop", "?") for runs in results.values() for peer_runs in runs.values() for s in peer_runs})

    def m(scenario, peer, path):
        return median([pick(s, path) for s in results.get(scenario, {}).get(peer, [])])

    def pair_range(scenario, path):
        """min–max of hookstream / nchan over the runs made back to back (same repeat index)."""
        ours = [pick(run, path) for run in results.get(scenario, {}).get("hookstream", [])]
        theirs = [pick(run, path) for run in results.get(scenario, {}).get("nchan", [])]
        ratios = paired_ratios(ours, theirs)
        if len(ratios) < 2:
            return ""
        return f" ({span(ratios)} over {len(ratios)} pairs)"

    lines = [
        "# Fan-out benchmark: hookstream against nchan" + (" (smoke run: numbers mean nothing)" if smoke else ""),
        "",
        f"- Date: {facts['started']} (start of the run)",
        f"- Machine: {facts['machine']}",
        ("- hookstream: release build, `config/hookstream.yaml` (token auth on, SQLite store, `sync: normal`), " if facts["store"] == "sqlite" else
         f"- hookstream: release build, `config/hookstream.yaml` with `store.kind: {facts['store']}` (`--store`; token auth on), ") +
        "publishing by `POST /hooks/demo` (each 202 after the event is committed); subscribing with "
        "`Authorization: Bearer demo-token`.",
        "- nchan: nginx + nchan, 1 worker (`bench/fanout/nchan.conf`), the same harness in the same run set.",
        f"- Harness: `bench/fanout/ssebench.py` (event loop: {', '.join(loops)}), medians of "
        f"{' or '.join(str(r) for r in sorted(set(repeats.values())))} run(s) per scenario and peer (the scenario titles say which), "
        "runs alternating nchan / hookstream, a fresh server per run. Ratio = hookstream / nchan of the medians "
        "(lower is better for CPU, latency, memory); in brackets, the range of the ratios of the runs made back to back.",
        "",
        "| scenario | metric | nchan | hookstream | ratio |",
        "|---|---|---|---|---|",
    ]
    names = {
        "a": "(a) 1,000 subs × 1,000 events, max rate",
        "c": "(c) 100 subs × 20,000 events, max rate",
        "f": "(f) 10,000 subs × 100 events, max rate",
        "e": "(e) 100 subs × 200 events/s",
        "d": "(d) 1,000 subs × 20 events/s",
        "b": "(b) 10,000 idle streams",
        "g": "(g) 19,000 streams, 4 client processes",
        "h0": "(h0) 100 subs × 200 events/s, 2 KiB events",
        "h": "(h) as h0, plus 20 subscribers that stop reading",
        "p": "(p) 1 subscriber × 200 events/s: one publish",
    }
    if smoke:
        names = {k: f"({k}) smoke: {SMOKE[k]}" for k in SMOKE}
    for scenario in scenarios:
        title = names.get(scenario, scenario) + ("" if smoke else f" [{repeats[scenario]}×]")
        rows = []
        if scenario in ("b",):
            metrics = [("KiB RSS per idle stream", "memory.per_conn_kb_rss"), ("streams connected", "connect.ok")]
        elif scenario in ("h0", "h"):
            metrics = [("latency p50 ms", "latency_ms.p50"), ("latency p99 ms", "latency_ms.p99"),
                       ("server RSS after the run, KiB", "memory.after_run.rss_kb"),
                       ("server CPU µs per delivery", "cpu.server_cpu_us_per_delivery")]
        elif scenario == "g":
            metrics = [("streams connected", "connect.ok"), ("deliveries verified", "delivery.delivered"),
                       ("KiB RSS per stream", "memory.per_conn_kb_rss"), ("server CPU µs per delivery", "cpu.server_cpu_us_per_delivery"),
                       ("latency p50 ms", "latency_ms.p50"), ("latency p99 ms", "latency_ms.p99")]
        else:
            metrics = [("server CPU µs per delivery", "cpu.server_cpu_us_per_delivery"),
                       ("deliveries/s", "throughput.delivered_per_s"),
                       ("latency p50 ms", "latency_ms.p50"), ("latency p99 ms", "latency_ms.p99"),
                       ("server % of a core", "cpu.server_pct_of_core"),
                       ("machine saturated (runs)", None)]
        for label, path in metrics:
            if path is None:
                sat = {p: sum(1 for s in results.get(scenario, {}).get(p, []) if pick(s, "cpu.machine_saturated")) for p in peers}
                rows.append(f"| {title} | {label} | {sat.get('nchan', '–')} | {sat.get('hookstream', '–')} | |")
                continue
            ours, theirs = m(scenario, "hookstream", path), m(scenario, "nchan", path)
            show_ratio = path not in ("connect.ok", "delivery.delivered")
            spread = pair_range(scenario, path) if path.startswith(("cpu.server_cpu", "latency_ms")) else ""
            rows.append(f"| {title} | {label} | {fmt(theirs)} | {fmt(ours)} | {ratio(ours, theirs) + spread if show_ratio else ''} |")
        def verified(peer):
            runs = results.get(scenario, {}).get(peer, [])
            if not runs:
                return "–"
            return all(s["_exit"] == 0 for s in runs)
        rows.append(f"| {title} | every run verified (no loss, no dup, in order) | {verified('nchan')} | {verified('hookstream')} | |")
        lines += rows
    lines += derived_split(results, peers)
    lines += ["", "Raw summaries (one JSON line per run) are in the `.jsonl` file next to this report.", ""]
    out.write_text("\n".join(lines))
    if not write_raw:
        return
    with open(out.with_suffix(".jsonl"), "w") as raw:
        for scenario in scenarios:
            for peer, runs in results.get(scenario, {}).items():
                for summary in runs:
                    raw.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    sys.exit(main())
