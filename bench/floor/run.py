#!/usr/bin/env python3
"""The NIO floor: what an SSE pub/sub server on SwiftNIO's HTTP/1.1 pipeline costs at the fixed-rate scenarios of
bench/fanout, beside nchan and hookstream, in one run set (see README.md).

    bench/floor/run.py                       # p and e, 5 pairs each: writes bench/floor/RESULTS.md (+ .jsonl)
    bench/floor/run.py --scenarios p --repeats 2 --out /tmp/floor.md     # a quick look

Servers, alternating in this order for each repeat, a fresh process per run:
  nchan               nginx + nchan, 1 worker (bench/fanout/nchan.conf)
  nio-floor           bench/floor's server: NIOHTTP1's request decoder, one handler, one event loop; no auth, no
                      rules, no store (bench/floor/Sources/nio-floor/main.swift)
  hookstream          release build, config/hookstream.yaml (token auth, SQLite store, 202 after the append)
  hookstream-memory   the same with store.kind: memory
The harness is bench/fanout's ssebench.py with bench/fanout's arguments for the scenario.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fanout"))
import run as fanout  # noqa: E402  (bench/fanout/run.py: servers, harness, medians)

SERVERS = ["nchan", "nio-floor", "hookstream", "hookstream-memory"]
METRICS = [("server CPU µs per delivery", "cpu.server_cpu_us_per_delivery"),
           ("latency p50 ms", "latency_ms.p50"), ("latency p99 ms", "latency_ms.p99")]


def build_floor() -> str:
    fanout.log("building nio-floor (release)")
    subprocess.run(["swift", "build", "-c", "release"], cwd=HERE, check=True, stdout=subprocess.DEVNULL)
    return subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=HERE, check=True,
                          capture_output=True, text=True).stdout.strip() + "/nio-floor"


def start_floor(binary: str) -> fanout.Server:
    scratch = Path(tempfile.mkdtemp(prefix="bench-floor."))
    process = subprocess.Popen([binary, "0"], stdout=subprocess.PIPE, stderr=open(scratch / "server.log", "w"),
                               text=True, preexec_fn=fanout.raise_nofile)
    line = process.stdout.readline()  # "listening on PORT", once bound; empty if it died
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError("nio-floor did not start: " + (scratch / "server.log").read_text())
    port = int(line.split()[-1])
    base = f"http://127.0.0.1:{port}"
    return fanout.Server("nio-floor", process, scratch, f"{base}/sub", f"{base}/pub", [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", help="hookstream release binary (default: build it)")
    parser.add_argument("--floor-bin", help="nio-floor binary (default: build it)")
    parser.add_argument("--scenarios", default="p,e", help="bench/fanout scenario ids (default: p,e)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="report path (default: RESULTS.md here for the standard run, else a temp file)")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    unknown = [s for s in scenarios if s not in fanout.FULL]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    standard = args.scenarios == "p,e" and args.repeats == 5
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
        for repeat in range(args.repeats):
            for name in SERVERS:
                label = f"{scenario}-{name}-{repeat + 1}"
                fanout.log(f"{label}: {fanout.FULL[scenario]}")
                server = starters[name]()
                try:
                    summary = fanout.run_harness(server, fanout.FULL[scenario], label)
                finally:
                    server.stop()
                summary["_run"] = facts
                results.setdefault(scenario, {}).setdefault(name, []).append(summary)
                fanout.log(f"{label}: CPU {fanout.pick(summary, 'cpu.server_cpu_us_per_delivery')} µs/delivery, "
                           f"exit {summary['_exit']}")
    write_report(out, results, scenarios, facts, args.repeats)
    fanout.log(f"wrote {out}")
    return 0


def write_report(out: Path, results: dict, scenarios: list, facts: dict, repeats: int) -> None:
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
        f"- {repeats} runs per scenario and server, alternating nchan, nio-floor, hookstream, hookstream-memory; a "
        "fresh server per run; harness bench/fanout/ssebench.py with bench/fanout's arguments.",
        "- Figures: medians over the runs. Ratios: the median (min–max) of the ratios of the runs made in the same "
        "round, so that each ratio compares servers measured within a minute of each other.",
        "",
    ]
    for scenario in scenarios:
        lines += [f"## ({scenario}) `{fanout.FULL[scenario]}`", "",
                  "| metric | " + " | ".join(SERVERS) + " |", "|---" * (len(SERVERS) + 1) + "|"]
        for label, path in METRICS:
            cells = [fanout.fmt(fanout.median(runs(scenario, name, path))) for name in SERVERS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        verified = [str(all(s["_exit"] == 0 for s in results[scenario].get(name, []))) for name in SERVERS]
        lines.append("| every run verified (no loss, no dup, in order) | " + " | ".join(verified) + " |")
        lines += ["", "| ratio of the CPU per delivery | in the same round |", "|---|---|"]
        path = "cpu.server_cpu_us_per_delivery"
        for name, base in [("nio-floor", "nchan"), ("hookstream", "nchan"), ("hookstream-memory", "nchan"),
                           ("hookstream", "nio-floor"), ("hookstream-memory", "nio-floor")]:
            lines.append(f"| {name} / {base} | {against(scenario, name, base, path)} |")
        lines.append("")
    out.write_text("\n".join(lines))
    with open(out.with_suffix(".jsonl"), "w") as raw:
        for scenario in scenarios:
            for name in SERVERS:
                for summary in results[scenario].get(name, []):
                    raw.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    sys.exit(main())
