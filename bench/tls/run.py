#!/usr/bin/env python3
"""TLS fan-out benchmark: hookstream over TLS (HTTP/1.1 and HTTP/2 on one listener, ALPN) against nginx + nchan over
TLS (`listen ... ssl http2`), side by side on the same machine, with `ssebench_tls.py` (bench/fanout's ssebench,
its connections opened over TLS; subscribers over HTTP/1.1 or, with --sub-h2, as HTTP/2 streams).

    bench/tls/run.py --bin PATH           # full run: every scenario and mode, 3 repeats, writes bench/tls/RESULTS.md
    bench/tls/run.py --bin PATH --smoke   # seconds: tiny numbers, no timing claims, writes to the temp folder

Scenarios (ssebench arguments), each with the subscribers over HTTP/1.1 (h1), over HTTP/2 (h2, one TLS
connection per subscriber unless --streams-per-connection says otherwise) and over HTTP/2 with ten streams per
connection and 1 MiB windows (h2x10, as a browser's tabs share one connection; not at T-a); the publisher is
HTTP/1.1 over TLS:
  T-a     1,000 subscribers x 1,000 events, max publish rate   CPU per delivery, deliveries/s
  T-e     100 subscribers x 4,000 events at 200 events/s       latency, CPU at a rate that saturates nobody
  T-idle  1,000 idle subscribers, nothing published            server RSS per idle TLS stream
Runs alternate nchan / hookstream, one fresh server per run; repeat i of both peers is a pair run back to back.
A throwaway CA and an ECDSA P-256 leaf for 127.0.0.1 are made with `openssl` for each invocation; the harness
verifies the servers' certificate against that CA. Both servers: TLS 1.3, their TLS library's default cipher
suites; the report says which protocol, cipher and ALPN each negotiated.
"""
import argparse
import atexit
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NCHAN_PORT = 23443

# bench/fanout/run.py's helpers (port discovery, nchan install, machine facts), loaded under another name.
_spec = importlib.util.spec_from_file_location("fanout_run", HERE.parent / "fanout" / "run.py")
fanout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fanout)

FULL = {
    "T-a": "-n 1000 -m 1000 --rate 0 --pipeline 16",
    "T-e": "-n 100 -m 4000 --rate 200",
    "T-idle": "-n 1000 -m 0 --hold 3",
}
SMOKE = {
    "T-a": "-n 20 -m 50 --rate 0 --pipeline 16",
    "T-e": "-n 10 -m 40 --rate 100",
    "T-idle": "-n 50 -m 0 --hold 0.5",
}
MODES = {"h1": [], "h2": ["--sub-h2"],
         # A browser's tabs share one HTTP/2 connection: ten streams on each, with 1 MiB windows (see Limits).
         "h2x10": ["--sub-h2", "--streams-per-connection", "10", "--h2-window", "1048576"]}
# Max rate with many streams per connection is left out: nginx's HTTP/2 output grows with what it has queued (Limits).
SKIPPED = {("T-a", "h2x10")}
NAMES = {
    "T-a": "(T-a) 1,000 subs × 1,000 events, max rate",
    "T-e": "(T-e) 100 subs × 200 events/s",
    "T-idle": "(T-idle) 1,000 idle streams",
}
MODE_NAMES = {"h1": "subs HTTP/1.1 over TLS", "h2": "subs HTTP/2", "h2x10": "subs HTTP/2, 10 streams per connection"}
DEFAULT_REPEATS = 3
NOISY_PCT = 25  # other processes' CPU (% of one core) above which a run is flagged in the report


def log(message: str) -> None:
    print(f"[bench-tls] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------
# Certificates
# ----------------------------------------------------------------------------

def make_certificates(folder: Path) -> dict:
    """A throwaway CA and a leaf for 127.0.0.1 (SAN IP:127.0.0.1), both ECDSA P-256, in `folder`:
    ca.pem (to verify with), fullchain.pem (the leaf; there is no intermediate), key.pem (PKCS#8)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    openssl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/CN=hookstream bench throwaway CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf.ec.key")
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", "leaf.ec.key", "-out", "key.pem")
    openssl("req", "-new", "-key", "key.pem", "-subj", "/CN=127.0.0.1", "-out", "leaf.csr")
    (folder / "leaf.ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                     "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-sha256", "-extfile", "leaf.ext", "-out", "fullchain.pem")
    openssl("verify", "-CAfile", "ca.pem", "fullchain.pem")
    for name in ("ca.key", "leaf.ec.key", "key.pem"):
        os.chmod(folder / name, 0o600)
    return {"ca": folder / "ca.pem", "chain": folder / "fullchain.pem", "key": folder / "key.pem"}


# ----------------------------------------------------------------------------
# Servers
# ----------------------------------------------------------------------------

class Server(fanout.Server):
    def stop(self) -> dict:
        """SIGTERM (SIGKILL after 10 s) by PID; returns how long it took and the server log's last lines."""
        stopped = round(self.terminate(), 3)
        try:
            log_lines = (self.scratch / "server.log").read_text(errors="replace").splitlines()
        except OSError:
            log_lines = []
        shutil.rmtree(self.scratch, ignore_errors=True)
        return {"stop_seconds": stopped, "exit": self.process.returncode, "log_lines": len(log_lines),
                "log_tail": log_lines[-8:]}


def start_nchan(certs: dict) -> Server:
    scratch = Path(tempfile.mkdtemp(prefix="bench-tls-nchan."))
    (scratch / "tmp").mkdir()
    (scratch / "tls").mkdir()
    shutil.copy(certs["chain"], scratch / "tls" / "fullchain.pem")
    shutil.copy(certs["key"], scratch / "tls" / "key.pem")
    shutil.copy(HERE / "nchan-tls.conf", scratch / "nginx.conf")
    process = subprocess.Popen(["nginx", "-p", f"{scratch}/", "-c", f"{scratch}/nginx.conf", "-e", "stderr"],
                               stdout=subprocess.DEVNULL, stderr=open(scratch / "server.log", "w"),
                               preexec_fn=fanout.raise_nofile)
    try:
        fanout.wait_port(NCHAN_PORT)
    except RuntimeError:
        process.kill()
        process.wait()
        raise RuntimeError("nginx did not listen: " + (scratch / "server.log").read_text())
    base = f"https://127.0.0.1:{NCHAN_PORT}"
    return Server("nchan", process, scratch, f"{base}/sub", f"{base}/pub", [])


def tls_config(config: Path, certs: dict, folder: Path) -> Path:
    """A copy of `config` in `folder` whose `server:` section also has `tls:` with the run's chain and key."""
    block = (f"  tls:\n"
             f"    certificate: {{ file: {certs['chain']} }}\n"
             f"    key: {{ file: {certs['key']} }}\n")
    text, count = re.subn(r"(?m)^server:[ \t]*\n", lambda m: m.group(0) + block, config.read_text(), count=1)
    if count != 1:
        raise ValueError(f"no block-style `server:` section in {config}")
    if re.search(r"(?m)^[ \t]+tls:", config.read_text()):
        raise ValueError(f"{config} already has a `tls:` key")
    variant = folder / "hookstream-tls.yaml"
    variant.write_text(text)
    return variant


def start_hookstream(binary: str, config: Path) -> Server:
    started = fanout.start_hookstream(binary, config, scheme="https", prefix="bench-tls-hookstream.")
    return Server(started.name, started.process, started.scratch, started.sub_url, started.pub_url, started.extra)


def harness_python() -> str:
    """`.venv-bench` (bench/fanout's harness venv, with uvloop), with `h2` added for ssebench_tls.py."""
    venv = ROOT / ".venv-bench"
    python = venv / "bin" / "python3"
    if not python.exists() or subprocess.run([str(python), "-c", "import uvloop, h2"], capture_output=True).returncode:
        log("preparing .venv-bench (uvloop, h2) for the harness")
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "uvloop", "h2"], check=True)
    return str(python)


def run_harness(python: str, server: Server, arguments: list, label: str, ca: Path) -> dict:
    command = [python, str(HERE / "ssebench_tls.py"), "--cafile", str(ca), "--sub-url", server.sub_url,
               "--pub-url", server.pub_url, "--pid", str(server.process.pid), "--timeout", "110",
               "--label", label] + server.extra + arguments
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=170, preexec_fn=fanout.raise_nofile)
    except subprocess.TimeoutExpired as expired:
        return {"label": label, "_exit": "timeout", "_stderr_tail": (expired.stderr or b"")[-2000:].decode(errors="replace")
                if isinstance(expired.stderr, bytes) else str(expired.stderr)[-2000:]}
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"label": label, "_exit": result.returncode, "_stderr_tail": result.stderr[-2000:]}
    summary = json.loads(lines[-1])
    summary["_exit"] = result.returncode
    if result.returncode:
        summary["_stderr_tail"] = result.stderr[-2000:]
    return summary


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------

pick, fmt = fanout.pick, fanout.fmt


def nums(values):
    return [v for v in values if isinstance(v, (int, float))]


def cell(values) -> str:
    """median (min–max) of some figures."""
    values = nums(values)
    if not values:
        return "–"
    integers = all(isinstance(v, int) for v in values)
    show = (lambda v: fmt(int(round(v)))) if integers else (lambda v: fmt(float(v)))
    med = statistics.median(values)
    if len(values) == 1:
        return show(med)
    return f"{show(med)} ({show(min(values))}–{show(max(values))})"


def pair_cell(ours, theirs) -> str:
    """median (min–max) of hookstream / nchan over the pairs run back to back."""
    ratios = fanout.paired_ratios(ours, theirs)
    if not ratios:
        return "–"
    med = statistics.median(ratios)
    if len(ratios) == 1:
        return f"{med:.2f}×"
    return f"{med:.2f}× ({min(ratios):.2f}–{max(ratios):.2f}×, {len(ratios)} pairs)"


def verified(runs) -> str:
    if not runs:
        return "–"
    good = sum(1 for s in runs if s.get("_exit") == 0)
    return "yes" if good == len(runs) else f"**{good} of {len(runs)}**"


def session(runs, path):
    seen = []
    for s in runs:
        value = pick(s, path)
        if value and value not in seen:
            seen.append(value)
    return "; ".join(f"{v.get('version')} {v.get('cipher')} ALPN {v.get('alpn')}" for v in seen) or "–"


def write_report(out: Path, results: dict, cases: list, smoke: bool, peers: list, facts: dict, args_note: str) -> None:
    """results[(scenario, mode)][peer] = [summary per repeat]"""
    loops = sorted({s.get("loop", "?") for runs in results.values() for peer_runs in runs.values() for s in peer_runs})
    repeats = sorted({len(r) for runs in results.values() for r in runs.values()})
    lines = [
        "# TLS fan-out benchmark: hookstream against nchan, over TLS" + (" (smoke run: numbers mean nothing)" if smoke else ""),
        "",
        f"- Date: {facts['started']} (start of the run); {args_note}",
        f"- Machine: {facts['machine']}",
        f"- hookstream: `{facts['binary']}`, `config/hookstream.yaml` (token auth on, SQLite store, `sync: normal`) "
        "plus `server.tls` (certificate chain and key files); HTTP/1.1 and HTTP/2 on one TLS listener by ALPN. "
        "Publishing by `POST /hooks/demo` (each 202 after the commit), subscribing to `/events?topic=demo/**` with "
        "`Authorization: Bearer demo-token`.",
        "- nchan: nginx 1.22.1 + nchan, 1 worker, `bench/tls/nchan-tls.conf` (bench/fanout's nchan.conf with "
        "`listen ... ssl http2`, `ssl_protocols TLSv1.3`).",
        "- Certificates: a throwaway CA and an ECDSA P-256 leaf for IP 127.0.0.1, made with `openssl` for the run; "
        "both servers get the same leaf and key; the harness verifies it against the CA. Every connection makes a full "
        "handshake (no resumption).",
        f"- Harness: `bench/tls/ssebench_tls.py` (bench/fanout's `ssebench.py` with TLS and HTTP/2 transport; event "
        f"loop: {', '.join(loops)}), {' or '.join(map(str, repeats))} run(s) per scenario, mode and peer, runs "
        "alternating nchan / hookstream, a fresh server per run. The publisher is HTTP/1.1 over TLS in every mode; "
        "`h2` subscribers are one HTTP/2 stream each, "
        + (f"{facts['streams_per_connection']} streams per TLS connection." if facts["streams_per_connection"] > 1
           else "each on its own TLS connection (one browser user each).")
        + " `h2x10` subscribers: ten HTTP/2 streams per TLS connection, with 1,048,576-byte windows (a browser's tabs)."
        + f" `h2` receive windows (stream and connection): {facts.get('h2_window', 65535):,} bytes."
        + " Figures: median (min–max) over the repeats; ratio: hookstream / nchan per pair run back to back, median "
        "(min–max) of the pairs (lower is better for CPU, latency, memory; higher for deliveries/s).",
        "",
        "| scenario | subscribers | metric | nchan | hookstream | ratio hookstream / nchan |",
        "|---|---|---|---|---|---|",
    ]
    load_metrics = [("server CPU µs per delivery", "cpu.server_cpu_us_per_delivery"),
                    ("deliveries/s", "throughput.delivered_per_s"),
                    ("latency p50 ms", "latency_ms.p50"), ("latency p99 ms", "latency_ms.p99"),
                    ("server % of a core", "cpu.server_pct_of_core"),
                    ("other processes' % of a core (machine noise)", "cpu.foreign_pct_of_core")]
    idle_metrics = [("KiB RSS per idle stream", "memory.per_conn_kb_rss"),
                    ("KiB PSS per idle stream", "memory.per_conn_kb_pss"),
                    ("server RSS with the streams, KiB", "memory.after_ready.rss_kb"),
                    ("streams connected", "connect.ok"),
                    ("other processes' % of a core (machine noise)", "cpu.foreign_pct_of_core_whole_run")]
    for scenario, mode in cases:
        runs = results.get((scenario, mode), {})
        title = NAMES.get(scenario, scenario) if not smoke else f"({scenario}) smoke: {SMOKE[scenario]}"
        metrics = idle_metrics if scenario == "T-idle" else load_metrics
        for label, path in metrics:
            theirs = [pick(s, path) for s in runs.get("nchan", [])]
            ours = [pick(s, path) for s in runs.get("hookstream", [])]
            ratio = "" if path == "connect.ok" or "foreign" in path else pair_cell(ours, theirs)
            lines.append(f"| {title} | {mode} | {label} | {cell(theirs)} | {cell(ours)} | {ratio} |")
        if scenario != "T-idle":
            sat = {p: sum(1 for s in runs[p] if pick(s, "cpu.machine_saturated")) for p in peers if runs.get(p)}
            lines.append(f"| {title} | {mode} | machine saturated (runs) | {sat.get('nchan', '–')} | {sat.get('hookstream', '–')} | |")
        noise_path = "cpu.foreign_pct_of_core_whole_run" if scenario == "T-idle" else "cpu.foreign_pct_of_core"
        noisy = {p: sum(1 for s in runs[p] if (pick(s, noise_path) or 0) > NOISY_PCT) for p in peers if runs.get(p)}
        if any(noisy.values()):
            lines.append(f"| {title} | {mode} | ⚠ runs where other processes used > {NOISY_PCT}% of a core: treat with care "
                         f"| {noisy.get('nchan', '–')} | {noisy.get('hookstream', '–')} | |")
        lines.append(f"| {title} | {mode} | every run verified{' (no loss, no dup, in order)' if scenario != 'T-idle' else ' (all connected)'} "
                     f"| {verified(runs.get('nchan', []))} | {verified(runs.get('hookstream', []))} | |")

    # HTTP/2 against HTTP/1.1 over TLS, per server
    pairs = [(s, m) for s, m in cases if m == "h2" and (s, "h1") in results]
    if pairs:
        lines += ["", "HTTP/2 subscribers against HTTP/1.1 subscribers over TLS, each server on its own: ratio of the "
                  "medians (h2 / h1) of the same run set.", "",
                  "| scenario | metric | nchan h2 / h1 | hookstream h2 / h1 |", "|---|---|---|---|"]
        for scenario, _ in pairs:
            metrics = [("KiB RSS per idle stream", "memory.per_conn_kb_rss")] if scenario == "T-idle" else \
                [("server CPU µs per delivery", "cpu.server_cpu_us_per_delivery"), ("latency p50 ms", "latency_ms.p50"),
                 ("latency p99 ms", "latency_ms.p99")]
            for label, path in metrics:
                row = []
                for peer in ("nchan", "hookstream"):
                    h2 = nums([pick(s, path) for s in results[(scenario, "h2")].get(peer, [])])
                    h1 = nums([pick(s, path) for s in results[(scenario, "h1")].get(peer, [])])
                    row.append(f"{statistics.median(h2) / statistics.median(h1):.2f}×" if h2 and h1 and statistics.median(h1) else "–")
                lines.append(f"| {NAMES.get(scenario, scenario)} | {label} | {row[0]} | {row[1]} |")

    # What was negotiated, and what HTTP/2 looked like on the wire
    lines += ["", "Negotiated sessions (as the harness saw them) and HTTP/2 frames (counted by the harness, all "
              "workers of a run; medians over the runs).", "",
              "| scenario | subscribers | peer | subscriber TLS session | publisher TLS session | response | h2: server SETTINGS | h2: DATA frames per delivery | h2: WINDOW_UPDATE sent | h2: RST_STREAM / GOAWAY from the server, protocol errors |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for scenario, mode in cases:
        for peer in peers:
            runs = results.get((scenario, mode), {}).get(peer, [])
            if not runs:
                continue
            status = "; ".join(sorted({str(pick(s, "connect.response.status")) for s in runs}))
            h2 = [pick(s, "tls.h2") for s in runs if pick(s, "tls.h2")]
            if h2:
                settings = h2[0].get("server_settings")
                settings_text = ", ".join(f"{k} {v}" for k, v in settings.items()) if settings else "–"
                frames = cell([h.get("data_frames_per_delivery") for h in h2]) if scenario != "T-idle" else "–"
                updates = cell([h.get("frames_out", {}).get("WINDOW_UPDATE", 0) for h in h2])
                bad = []
                for h in h2:
                    if h.get("rst_stream_in"):
                        bad.append("RST_STREAM " + json.dumps(h["rst_stream_in"]))
                    bad += ["GOAWAY " + json.dumps(g) for g in h.get("goaway_in", [])]
                    bad += ["protocol error " + e for e in h.get("protocol_errors", [])]
                problems = "; ".join(dict.fromkeys(bad)) or "none"
            else:
                settings_text = frames = updates = problems = "–"
            lines.append(f"| {scenario} | {mode} | {peer} | {session(runs, 'tls.subscriber_session')} | "
                         f"{session(runs, 'tls.publisher')} | {status} | {settings_text} | {frames} | {updates} | {problems} |")

    # Failures, in full
    failed = [(s, m, p, r) for (s, m), runs in results.items() for p, rs in runs.items() for r in rs if r.get("_exit") != 0]
    if failed:
        lines += ["", "Runs that did not verify:", ""]
        for scenario, mode, peer, r in failed:
            detail = {"connect": pick(r, "connect.failed"), "connect_errors": pick(r, "connect.errors"),
                      "delivery": {k: pick(r, "delivery." + k) for k in ("delivered", "expected", "lost", "dup", "out_of_order", "disconnects")},
                      "errors": pick(r, "delivery.errors"), "server_log": pick(r, "_server.log_tail")}
            lines.append(f"- `{r.get('label')}`: `{json.dumps(detail)[:1500]}`")
    lines += ["", "Raw summaries (one JSON line per run) are in the `.jsonl` file next to this report.", ""]
    out.write_text("\n".join(lines))


def rebuild_report(raw: Path, out: Path) -> int:
    """The report of an earlier run from its `.jsonl` (each summary carries _scenario, _mode, _peer, _repeat, _run)."""
    summaries = [json.loads(line) for line in raw.read_text().splitlines() if line.strip()]
    summaries.sort(key=lambda s: s["_repeat"])
    results: dict = {}
    for summary in summaries:
        results.setdefault((summary["_scenario"], summary["_mode"]), {}).setdefault(summary["_peer"], []).append(summary)
    cases = list(dict.fromkeys((s["_scenario"], s["_mode"]) for s in summaries))
    peers = [p for p in ("nchan", "hookstream") if any(s["_peer"] == p for s in summaries)]
    facts = summaries[0]["_run"]
    repeats = max(s["_repeat"] for s in summaries)
    full = len(cases) == len(FULL) * len(MODES) - len(SKIPPED) and repeats == DEFAULT_REPEATS and not facts.get("smoke")
    note = (f"{'full' if full else 'partial'} run, report rebuilt from `{raw.name}`: scenarios {','.join(dict.fromkeys(c[0] for c in cases))}, "
            f"modes {','.join(dict.fromkeys(c[1] for c in cases))}, {repeats} repeat(s)")
    write_report(out, results, cases, bool(facts.get("smoke")), peers, facts, note)
    log(f"wrote {out} from {raw}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="seconds-long check: tiny numbers, output to the temp folder")
    parser.add_argument("--repeats", type=int, default=None, help=f"pairs per scenario and mode (default: 1 for --smoke, else {DEFAULT_REPEATS})")
    parser.add_argument("--scenarios", default=None, help="comma-separated: T-a,T-e,T-idle (default: all)")
    parser.add_argument("--modes", default=None, help="comma-separated: h1,h2,h2x10 (default: all)")
    parser.add_argument("--streams-per-connection", type=int, default=1, metavar="K",
                        help="h2 subscriber streams per TLS connection (default 1: one connection per subscriber)")
    parser.add_argument("--h2-window", type=int, default=None, metavar="BYTES",
                        help="h2 subscribers' stream and connection receive windows (default: HTTP/2's 65,535)")
    parser.add_argument("--bin", default=os.environ.get("HOOKSTREAM_BIN"),
                        help="hookstream binary with TLS support (default: $HOOKSTREAM_BIN, else the release build)")
    parser.add_argument("--config", default=str(ROOT / "config/hookstream.yaml"), help="hookstream's config, before `server.tls` is added")
    parser.add_argument("--no-nchan", action="store_true")
    parser.add_argument("--out", default=None, help="report path (default: bench/tls/RESULTS.md for a full run, else the temp folder)")
    parser.add_argument("--from-jsonl", default=None, metavar="JSONL",
                        help="run nothing: rebuild the report (--out, default next to JSONL, .md) from a run's raw summaries")
    args = parser.parse_args()
    if args.from_jsonl:
        return rebuild_report(Path(args.from_jsonl), Path(args.out) if args.out else Path(args.from_jsonl).with_suffix(".md"))

    table = SMOKE if args.smoke else FULL
    scenarios = args.scenarios.split(",") if args.scenarios else list(table)
    modes = args.modes.split(",") if args.modes else list(MODES)
    if [s for s in scenarios if s not in table] or [m for m in modes if m not in MODES]:
        parser.error(f"scenarios are {', '.join(table)}; modes are {', '.join(MODES)}")
    if args.repeats is not None and args.repeats < 1 or args.streams_per_connection < 1:
        parser.error("--repeats and --streams-per-connection must be at least 1")
    repeats = args.repeats or (1 if args.smoke else DEFAULT_REPEATS)
    full = not (args.smoke or args.scenarios or args.modes or args.no_nchan or args.streams_per_connection != 1
                or args.h2_window or repeats != DEFAULT_REPEATS)
    out = Path(args.out) if args.out else (HERE / "RESULTS.md" if full else
                                           Path(tempfile.gettempdir()) / ("tls-RESULTS-smoke.md" if args.smoke else "tls-RESULTS-partial.md"))

    binary = str(Path(args.bin).resolve()) if args.bin else fanout.release_binary()
    if not os.access(binary, os.X_OK):
        parser.error(f"--bin {binary} is not an executable")
    python = harness_python()
    peers = ["hookstream"] if args.no_nchan else ["nchan", "hookstream"]
    if "nchan" in peers:
        fanout.ensure_nchan()

    work = Path(tempfile.mkdtemp(prefix="bench-tls."))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    certs = make_certificates(work)
    config = tls_config(Path(args.config).resolve(), certs, work)
    check = subprocess.run([binary, "check", "--config", str(config)], capture_output=True, text=True, cwd=work)
    if check.returncode:
        raise SystemExit(f"hookstream check refused {config}:\n{check.stdout}{check.stderr}")

    facts = fanout.run_facts("sqlite")
    facts.update(binary=binary, streams_per_connection=args.streams_per_connection, h2_window=args.h2_window or 65535,
                 smoke=args.smoke)
    results: dict = {}
    failures = []
    raw_path = out.with_suffix(".jsonl")
    raw = open(raw_path, "w")
    cases = [(s, m) for s in scenarios for m in modes if (s, m) not in SKIPPED]
    for scenario, mode in cases:
        arguments = table[scenario].split() + MODES[mode]
        if mode == "h2" and args.streams_per_connection > 1:
            arguments += ["--streams-per-connection", str(args.streams_per_connection)]
        if mode == "h2" and args.h2_window:
            arguments += ["--h2-window", str(args.h2_window)]
        for repeat in range(repeats):
            for peer in peers:
                label = f"{scenario}-{mode}-{peer}-{repeat + 1}"
                server = start_nchan(certs) if peer == "nchan" else start_hookstream(binary, config)
                log(f"{label}: {' '.join(arguments)}")
                try:
                    summary = run_harness(python, server, arguments, label, certs["ca"])
                finally:
                    stopped = server.stop()
                summary.update(_scenario=scenario, _mode=mode, _peer=peer, _repeat=repeat + 1, _run=facts,
                               _server=stopped, _arguments=" ".join(arguments))
                log(f"  exit={summary['_exit']} verified={pick(summary, 'delivery.verified')} "
                    f"connected={pick(summary, 'connect.ok')} deliv/s={pick(summary, 'throughput.delivered_per_s')} "
                    f"us/deliv={pick(summary, 'cpu.server_cpu_us_per_delivery')} "
                    f"p50/p99={pick(summary, 'latency_ms.p50')}/{pick(summary, 'latency_ms.p99')} "
                    f"KiB/conn={pick(summary, 'memory.per_conn_kb_rss')} "
                    f"session={pick(summary, 'tls.subscriber_session')}")
                if summary["_exit"] != 0:
                    failures.append(label)
                    log(f"  did not verify: errors={pick(summary, 'delivery.errors') or pick(summary, 'connect.errors')} "
                        f"stderr={summary.get('_stderr_tail', '')[-400:]!r} server log={stopped['log_tail']}")
                elif stopped["log_tail"]:
                    log(f"  server log: {stopped['log_tail']}")
                results.setdefault((scenario, mode), {}).setdefault(peer, []).append(summary)
                raw.write(json.dumps(summary) + "\n")
                raw.flush()
    raw.close()
    note = ("full run" if full else "partial run") + f": scenarios {','.join(scenarios)}, modes {','.join(modes)}, " \
           f"{repeats} repeat(s)" + (", smoke sizes" if args.smoke else "")
    write_report(out, results, cases, args.smoke, peers, facts, note)
    log(f"wrote {out} and {raw_path}")
    if failures:
        log(f"runs that did not verify: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
