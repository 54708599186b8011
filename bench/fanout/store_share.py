#!/usr/bin/env python3
"""What the SQLite store adds to one publish: scenario p of `run.py` (1 subscriber, 200 events/s) against
hookstream with the SQLite store (the default config) and with the memory store, alternating, a fresh server
per run, so both see the same machine noise. Prints a Markdown table (medians, min–max, and the difference of
each back-to-back pair).

    bench/fanout/store_share.py                 # 5 pairs, about 4 minutes; release build
    bench/fanout/store_share.py --pairs 3 --bin .build/release/hookstream
"""
import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the fan-out benchmark: servers, harness, scenario p)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--bin", default=None, help="hookstream binary (default: the release build)")
    args = parser.parse_args()
    binary = str(Path(args.bin or run.release_binary()).resolve())
    run.PYTHON = run.harness_python(False)
    sqlite_config = run.ROOT / "config/hookstream.yaml"
    memory_config = run.config_with_store(sqlite_config, "memory")

    figures = {"sqlite": [], "memory": []}
    for pair in range(args.pairs):
        for store, config in (("sqlite", sqlite_config), ("memory", memory_config)):
            server = run.start_hookstream(binary, config)
            try:
                summary = run.run_harness(server, run.FULL["p"], f"p-{store}-{pair + 1}")
            finally:
                server.stop()
            if summary["_exit"] != 0:
                raise SystemExit(f"run p-{store}-{pair + 1} did not verify")
            figures[store].append(summary["cpu"]["server_cpu_us_per_delivery"])
            run.log(f"p-{store}-{pair + 1}: {figures[store][-1]} µs per publish")

    def cell(values):
        return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"

    differences = [s - m for s, m in zip(figures["sqlite"], figures["memory"])]
    print(f"Scenario p ({run.FULL['p']}), server CPU µs per publish, {args.pairs} pairs, medians (min–max)\n")
    print("| SQLite store | memory store | SQLite − memory, per pair |")
    print("|---|---|---|")
    print(f"| {cell(figures['sqlite'])} | {cell(figures['memory'])} | {cell(differences)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
