#!/usr/bin/env python3
"""What one publish costs with the PostgreSQL store against the SQLite store: scenario p of the fan-out benchmark
(1 subscriber, 2,000 webhooks at 200/s, `bench/fanout/run.py`), alternating the two stores, a fresh daemon (and a
fresh PostgreSQL cluster, `scripts/postgres-scratch`) per run, so both see the same machine noise.

CPU per publish is counted twice for PostgreSQL: hookstream's process alone, and hookstream's plus the PostgreSQL
server's processes (the postmaster and its children: the backends of hookstream's connections, the WAL writer...),
which do the storing that SQLite does inside hookstream. The scratch cluster runs with `fsync=off`, as a test server
(SQLite's default, `store.sync: normal`, does not fsync a publish either).

    bench/store/postgres_share.py               # 4 pairs, about 4 minutes; release build
    bench/store/postgres_share.py --pairs 2 --bin .build/release/hookstream
"""
import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fanout"))
import run  # noqa: E402  (the fan-out benchmark: servers, harness, scenario p)

SCRATCH = run.ROOT / "scripts" / "postgres-scratch"


def postgres_config(folder: Path) -> Path:
    """The default config with `store.kind: postgres` on the scratch cluster in `folder`."""
    text = (run.ROOT / "config/hookstream.yaml").read_text()
    text, count = re.subn(r"(?m)^(store:[ \t]*\n(?:[ \t]+.*\n|[ \t]*\n)*?[ \t]+kind:[ \t]*)\w+.*\n",
                          lambda m: m.group(1) + "postgres\n"
                          + f'  postgres: {{ host: "{folder}", user: hookstream, database: postgres }}\n',
                          text, count=1)
    if count != 1:
        raise SystemExit("the default config has no block-style store: section with a kind: line")
    config = folder.parent / "hookstream.yaml"
    config.write_text(text)
    return config


def postmaster_pid(folder: Path) -> int:
    return int((folder / "data" / "postmaster.pid").read_text().split()[0])


def warm_up(server: run.Server):
    """One webhook before the harness starts: the store's writer connects on its first append, and its backend must
    exist when the harness takes the server's processes (it counts children that exist at its start)."""
    request = urllib.request.Request(server.pub_url, data=b'{"channel":"warm-up"}', method="POST",
                                     headers={"Content-Type": "application/json", **dict([server.extra[1].split(": ", 1)])})
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 202:
            raise SystemExit(f"warm-up webhook answered {response.status}")


def measure_sqlite(binary: str, label: str) -> float:
    """hookstream's CPU µs per publish for one run of scenario p on the default config (the SQLite store)."""
    server = run.start_hookstream(binary, run.ROOT / "config/hookstream.yaml")
    try:
        warm_up(server)
        summary = run.run_harness(server, run.FULL["p"], label)
    finally:
        server.stop()
    if summary["_exit"] != 0:
        raise SystemExit(f"run {label} did not verify")
    return summary["cpu"]["server_cpu_us_per_delivery"]


def measure_postgres(binary: str, label: str) -> tuple:
    """(hookstream's CPU µs per publish, PostgreSQL's processes') for one run of scenario p on a fresh cluster: the
    harness counts the postmaster and its children as an auxiliary process of the server, over the same window."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-pg."))
    scratch.chmod(0o755)
    folder = scratch / "pg"
    subprocess.run([str(SCRATCH), "start", str(folder)], check=True)
    try:
        server = run.start_hookstream(binary, postgres_config(folder))
        try:
            warm_up(server)
            server.extra = server.extra + ["--aux-pid", str(postmaster_pid(folder))]
            summary = run.run_harness(server, run.FULL["p"], label)
        finally:
            server.stop()
        if summary["_exit"] != 0:
            raise SystemExit(f"run {label} did not verify")
        cpu = summary["cpu"]
        hookstream = cpu["server_cpu_us_per_delivery"]
        # Both shares are of the same window: PostgreSQL's per publish is hookstream's scaled by their CPU shares.
        postgres = hookstream * cpu["aux_pct_of_core"] / cpu["server_pct_of_core"]
        return hookstream, postgres
    finally:
        subprocess.run([str(SCRATCH), "stop", str(folder)], check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", str(scratch)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--bin", default=None, help="hookstream binary (default: the release build)")
    args = parser.parse_args()
    binary = str(Path(args.bin or run.release_binary()).resolve())
    run.PYTHON = run.harness_python(False)

    sqlite, alone, both = [], [], []
    for pair in range(args.pairs):
        sqlite.append(measure_sqlite(binary, f"p-sqlite-{pair + 1}"))
        run.log(f"p-sqlite-{pair + 1}: {sqlite[-1]:.0f} µs per publish")
        hookstream, postgres = measure_postgres(binary, f"p-postgres-{pair + 1}")
        alone.append(hookstream)
        both.append(hookstream + postgres)
        run.log(f"p-postgres-{pair + 1}: {hookstream:.0f} µs per publish in hookstream, {postgres:.0f} in PostgreSQL")

    def cell(values):
        return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"

    def ratios(ours):
        values = [a / b for a, b in zip(ours, sqlite)]
        return f"{statistics.median(values):.2f}× ({min(values):.2f}–{max(values):.2f}×)"

    print(f"Scenario p ({run.FULL['p']}), server CPU µs per publish, {args.pairs} pairs, medians (min–max)\n")
    print("| | SQLite store | PostgreSQL store: hookstream | PostgreSQL store: hookstream + PostgreSQL |")
    print("|---|---|---|---|")
    print(f"| µs per publish | {cell(sqlite)} | {cell(alone)} | {cell(both)} |")
    print(f"| against SQLite, per pair | 1.00× | {ratios(alone)} | {ratios(both)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
