#!/usr/bin/env python3
"""What one SQLite commit of one event costs, apart from hookstream: the same schema, pragmas and statements
as `SQLiteEventStore` (WAL, `synchronous=NORMAL`, `BEGIN IMMEDIATE` / `INSERT` / `COMMIT`), driven from
Python's `sqlite3`, which links the same system libsqlite3 the daemon uses.

Two paces: back to back (as under load) and one commit every 5 ms (as at 200 events/s, the fan-out
benchmark's scenarios e and p, where every event is its own transaction). Between paced commits other work
runs, the caches go cold and the core may idle; that is the cost hookstream pays at such rates. Only the
thread's CPU time inside each transaction is counted (it includes the kernel's part of the WAL writes); a
baseline of three `SELECT 1` statements, measured the same way at the same pace, is subtracted: it is what
Python and SQLite's statement machinery cost around any three statements, so the figures are what the
transaction itself adds. Like hookstream, the connection does no automatic checkpoint inside a commit
(`wal_autocheckpoint=0`); it checkpoints every 500 commits, untimed, as hookstream's writer thread does
outside publishes.

Variants show where the cost lies: without the per-topic index (which retention and per-topic replay need),
and with `locking_mode=EXCLUSIVE` (no shared-memory locks; it would lock out every other reader). A reference
row times one `write` of the same event to an append-only file: what a log-structured store would pay.

    bench/store/commit_cost.py            # prints a table; about a minute
"""
import os
import sqlite3
import statistics
import tempfile
import time

SCHEMA = """
CREATE TABLE events (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,
                     is_json INTEGER NOT NULL, time INTEGER NOT NULL, source TEXT NOT NULL);
CREATE INDEX events_by_topic ON events(topic, id);
"""
DATA = '{"seq":1234,"ts":1790000000000000000,"run":"4d353ebb","pad":""}'


def timed(step, commits: int, gap: float, between=None) -> float:
    """Median thread-CPU µs of `step(i)` for i in 1...commits, `gap` seconds apart; `between(i)` runs untimed."""
    samples = []
    for i in range(1, commits + 1):
        start = time.thread_time_ns()
        step(i)
        samples.append(time.thread_time_ns() - start)
        if between:
            between(i)
        if gap:
            time.sleep(gap)
    return statistics.median(samples) / 1000


def measure(folder: str, commits: int, gap: float, index: bool = True, exclusive: bool = False, baseline: bool = False) -> float:
    """Median thread-CPU µs per transaction (or per three `SELECT 1` with `baseline`)."""
    path = os.path.join(folder, f"t{time.monotonic_ns()}.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    if exclusive:
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.executescript(SCHEMA if index else SCHEMA.split("CREATE INDEX")[0])

    def select(_: int) -> None:
        for _ in range(3):
            db.execute("SELECT 1")

    def commit(i: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", (i, "demo/general", "message", DATA, 1, 1790000000000 + i, "demo"))
        db.execute("COMMIT")

    def checkpoint(i: int) -> None:
        if i % 500 == 0:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # as hookstream's writer thread does, untimed

    result = timed(select if baseline else commit, commits, gap, checkpoint)
    db.close()
    return result


def measure_log_append(folder: str, commits: int, gap: float) -> float:
    """The floor a store could reach: one `write` of the event's bytes to an append-only file (what a
    log-structured store does per commit with `sync: normal`; no index, no locks). Median thread-CPU µs."""
    record = ("1\tdemo/general\tmessage\t" + DATA + "\n").encode()
    fd = os.open(os.path.join(folder, f"log{time.monotonic_ns()}"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    result = timed(lambda _: os.write(fd, record), commits, gap)
    os.close(fd)
    return result


def main() -> None:
    rounds = 3
    variants = [
        ("hookstream's commit (table + per-topic index)", {}),
        ("without the per-topic index", {"index": False}),
        ("with locking_mode=EXCLUSIVE", {"exclusive": True}),
    ]
    # Variants interleaved, several rounds: the machine is shared and its noise moves from minute to minute.
    warm = {label: [] for label, _ in variants}
    cold = {label: [] for label, _ in variants}
    base = {"warm": [], "cold": []}
    log_label = "reference: one `write` to an append-only file"
    warm[log_label], cold[log_label] = [], []
    with tempfile.TemporaryDirectory(prefix="commit-cost.") as folder:
        for _ in range(rounds):
            warm_base = measure(folder, 3000, 0, baseline=True)
            cold_base = measure(folder, 1000, 0.005, baseline=True)
            base["warm"].append(warm_base)
            base["cold"].append(cold_base)
            for label, options in variants:
                warm[label].append(measure(folder, 3000, 0, **options) - warm_base)
                cold[label].append(measure(folder, 1000, 0.005, **options) - cold_base)
            warm[log_label].append(measure_log_append(folder, 3000, 0))  # no statements: nothing to subtract
            cold[log_label].append(measure_log_append(folder, 1000, 0.005))

    def cell(values: list) -> str:
        return f"{statistics.median(values):.1f} µs ({min(values):.0f}–{max(values):.0f})"

    print(f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} cores; median thread CPU per transaction, less the same "
          f"for three `SELECT 1`; median of {rounds} interleaved rounds (min–max)\n")
    print("| variant | back to back (warm) | one every 5 ms (cold) |")
    print("|---|---|---|")
    for label in warm:
        print(f"| {label} | {cell(warm[label])} | {cell(cold[label])} |")
    print(f"| (three `SELECT 1`, subtracted above) | {cell(base['warm'])} | {cell(base['cold'])} |")


if __name__ == "__main__":
    main()
