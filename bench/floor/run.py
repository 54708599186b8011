#!/usr/bin/env python3
"""The NIO floor: what an SSE pub/sub server on SwiftNIO's HTTP/1.1 pipeline costs at the fixed-rate scenarios of
bench/fanout, beside nchan and hookstream, in one run set (see README.md).

    bench/floor/run.py                       # p and e, 5 rounds each: writes bench/floor/RESULTS.md (+ .jsonl)
    bench/floor/run.py --scenarios p --repeats 2 --out /tmp/floor.md     # a quick look
    bench/floor/run.py --tls                 # bench/tls's T-e over HTTP/1.1 and HTTP/2, 3 rounds: RESULTS-tls.md

Servers, alternating in this order for each repeat, a fresh process per run:
  nchan               nginx + nchan, 1 worker (bench/fanout/nchan.conf)
  nio-floor           bench/floor's server: NIOHTTP1's request decoder, one handler, one event loop; no auth, no
                      rules, no store (bench/floor/Sources/nio-floor/main.swift)
  hookstream          release build, config/hookstream.yaml (token auth, SQLite store, 202 after the append)
  hookstream-memory   the same with store.kind: memory
The harness is bench/fanout's ssebench.py with bench/fanout's arguments for the scenario.

With --tls, the scenario is bench/tls's T-e (100 subscribers x 200 events/s) with the subscribers on HTTP/1.1 over
TLS and then on HTTP/2, through bench/tls's ssebench_tls.py, certificates and nginx config; the servers are nchan,
nio-floor and hookstream, each on TLS 1.3 with the same throwaway certificate.
"""
import argparse
import atexit
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fanout"))
import run as fanout  # noqa: E402  (bench/fanout/run.py: servers, harness, medians)

SERVERS = ["nchan", "nio-floor", "hookstream", "hookstream-memory"]
TLS_SERVERS = ["nchan", "nio-floor", "hookstream"]
METRICS = [("server CPU µs per delivery", "cpu.server_cpu_us_per_delivery"),
           ("latency p50 ms", "latency_ms.p50"), ("latency p99 ms", "latency_ms.p99")]


def build_floor() -> str:
    fanout.log("building nio-floor (release)")
    subprocess.run(["swift", "build", "-c", "release"], cwd=HERE, check=True, stdout=subprocess.DEVNULL)
    return subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=HERE, check=True,
                          capture_output=True, text=True).stdout.strip() + "/nio-floor"


def load_tls():
    """bench/tls/run.py as a module: its certificates, TLS servers and harness."""
    spec = importlib.util.spec_from_file_location("tls_run", HERE.parent / "tls" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_floor(binary: str, certs: dict = None) -> fanout.Server:
    """nio-floor on a free port; on TLS (h2 and http/1.1 by ALPN) with `certs` (bench/tls's chain and key)."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-floor."))
    command = [binary, "0"] + ([str(certs["chain"]), str(certs["key"])] if certs else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=open(scratch / "server.log", "w"),
                               text=True, preexec_fn=fanout.raise_nofile)
    line = process.stdout.readline()  # "listening on PORT", once bound; empty if it died
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError("nio-floor did not start: " + (scratch / "server.log").read_text())
    port = int(line.split()[-1])
    base = f"{'https' if certs else 'http'}://127.0.0.1:{port}"
    return fanout.Server("nio-floor", process, scratch, f"{base}/sub", f"{base}/pub", [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", help="hookstream release binary (default: build it)")
    parser.add_argument("--floor-bin", help="nio-floor binary (default: build it)")
    parser.add_argument("--scenarios", default="p,e", help="bench/fanout scenario ids (default: p,e)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default: 5, or 3 with --tls)")
    parser.add_argument("--tls", action="store_true", help="bench/tls's T-e over HTTP/1.1 and HTTP/2 instead")
    parser.add_argument("--out", help="report path (default: RESULTS.md here for the standard run, else a temp file)")
    args = parser.parse_args()
    if args.tls:
        return main_tls(args)
    repeats = args.repeats or 5
    scenarios = args.scenarios.split(",")
    unknown = [s for s in scenarios if s not in fanout.FULL]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    standard = args.scenarios == "p,e" and repeats == 5
    out = Path(args.out) if args.out else (HERE / "RESULTS.md" if standard else Path(tempfile.gettempdir()) / "floor-RESULTS.md")

    fanout.raise_nofile()
    fanout.ensure_nchan()
    fanout.PYTHON = fanout.harness_python(False)
    binary = args.bin or fanout.release_binary()
    floor = args.floor_bin or build_floor()
    config = fanout.ROOT / "config/hookstream.yaml"
    memory = fanout.config_with_store(config, "memory")
    starters = {
        "nchan": fanout.start_nchan,
        "nio-floor": lambda: start_floor(floor),
        "hookstream": lambda: fanout.start_hookstream(binary, config),
        "hookstream-memory": lambda: fanout.start_hookstream(binary, memory),
    }
    facts = fanout.run_facts("sqlite and memory")
    results: dict = {}
    for scenario in scenarios:
        harness = lambda server, label: fanout.run_harness(server, fanout.FULL[scenario], label)  # noqa: E731
        run_rounds(scenario, fanout.FULL[scenario], repeats, SERVERS, starters, harness, facts, results)
    titles = {scenario: f"({scenario}) `{fanout.FULL[scenario]}`" for scenario in scenarios}
    write_report(out, results, scenarios, facts, repeats, SERVERS, titles,
                 "bench/fanout/ssebench.py with bench/fanout's arguments")
    fanout.log(f"wrote {out}")
    return 0


def main_tls(args) -> int:
    tls = load_tls()
    repeats = args.repeats or 3
    out = Path(args.out) if args.out else (HERE / "RESULTS-tls.md" if repeats == 3 else Path(tempfile.gettempdir()) / "floor-RESULTS-tls.md")
    fanout.raise_nofile()
    fanout.ensure_nchan()
    python = tls.harness_python()
    binary = args.bin or fanout.release_binary()
    floor = args.floor_bin or build_floor()
    work = Path(tempfile.mkdtemp(prefix="bench-floor-tls."))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    certs = tls.make_certificates(work)
    config = tls.tls_config(fanout.ROOT / "config/hookstream.yaml", certs, work)
    starters = {
        "nchan": lambda: tls.start_nchan(certs),
        "nio-floor": lambda: start_floor(floor, certs),
        "hookstream": lambda: tls.start_hookstream(binary, config),
    }
    facts = fanout.run_facts("sqlite")
    results: dict = {}
    cases = [f"T-e-{mode}" for mode in tls.MODES]
    for mode in tls.MODES:
        arguments = tls.FULL["T-e"].split() + tls.MODES[mode]
        harness = lambda server, label: tls.run_harness(python, server, arguments, label, certs["ca"])  # noqa: E731
        run_rounds(f"T-e-{mode}", " ".join(arguments), repeats, TLS_SERVERS, starters, harness, facts, results)
    titles = {f"T-e-{mode}": f"(T-e, {tls.MODE_NAMES[mode]}) `{tls.FULL['T-e']}{' --sub-h2' if mode == 'h2' else ''}`"
              for mode in tls.MODES}
    write_report(out, results, cases, facts, repeats, TLS_SERVERS, titles,
                 "bench/tls/ssebench_tls.py (bench/fanout's ssebench over TLS 1.3), certificates and nginx config as bench/tls")
    fanout.log(f"wrote {out}")
    return 0


def run_rounds(case: str, arguments: str, repeats: int, servers: list, starters: dict, harness, facts: dict,
               results: dict) -> None:
    """`repeats` rounds of `case`, each running every server in turn, a fresh process each (started by
    `starters[name]()`, measured by `harness(server, label)`, stopped by PID); summaries go to results[case][name]."""
    for repeat in range(repeats):
        for name in servers:
            label = f"{case}-{name}-{repeat + 1}"
            fanout.log(f"{label}: {arguments}")
            server = starters[name]()
            try:
                summary = harness(server, label)
            finally:
                server.terminate()
                shutil.rmtree(server.scratch, ignore_errors=True)
            summary["_run"] = facts
            results.setdefault(case, {}).setdefault(name, []).append(summary)
            fanout.log(f"{label}: CPU {fanout.pick(summary, 'cpu.server_cpu_us_per_delivery')} µs/delivery, "
                       f"exit {summary['_exit']}")


def write_report(out: Path, results: dict, scenarios: list, facts: dict, repeats: int, servers: list, titles: dict,
                 harness: str) -> None:
    def runs(scenario, name, path):
        return [fanout.pick(s, path) for s in results[scenario].get(name, [])]

    def against(scenario, name, base, path):
        ratios = fanout.paired_ratios(runs(scenario, name, path), runs(scenario, base, path))
        if not ratios:
            return "–"
        return f"{fanout.median(ratios):.2f}× ({fanout.span(ratios)})"

    lines = [
        "# The NIO floor: nchan, a bare SwiftNIO server and hookstream in one run set",
        "",
        f"- Date: {facts['started']} (start of the run)",
        f"- Machine: {facts['machine']}",
        f"- {repeats} runs per scenario and server, alternating {', '.join(servers)}; a fresh server per run; harness "
        f"{harness}.",
        "- Figures: medians over the runs. Ratios: the median (min–max) of the ratios of the runs made in the same "
        "round, so that each ratio compares servers measured within a minute of each other.",
        "",
    ]
    for scenario in scenarios:
        lines += [f"## {titles[scenario]}", "",
                  "| metric | " + " | ".join(servers) + " |", "|---" * (len(servers) + 1) + "|"]
        for label, path in METRICS:
            cells = [fanout.fmt(fanout.median(runs(scenario, name, path))) for name in servers]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        verified = [str(all(s["_exit"] == 0 for s in results[scenario].get(name, []))) for name in servers]
        lines.append("| every run verified (no loss, no dup, in order) | " + " | ".join(verified) + " |")
        lines += ["", "| ratio of the CPU per delivery | in the same round |", "|---|---|"]
        path = "cpu.server_cpu_us_per_delivery"
        for name, base in [("nio-floor", "nchan"), ("hookstream", "nchan"), ("hookstream-memory", "nchan"),
                           ("hookstream", "nio-floor"), ("hookstream-memory", "nio-floor")]:
            if name not in servers:
                continue
            lines.append(f"| {name} / {base} | {against(scenario, name, base, path)} |")
        lines.append("")
    out.write_text("\n".join(lines))
    with open(out.with_suffix(".jsonl"), "w") as raw:
        for scenario in scenarios:
            for name in servers:
                for summary in results[scenario].get(name, []):
                    raw.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    sys.exit(main())
