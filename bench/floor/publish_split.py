#!/usr/bin/env python3
"""Where one publish goes: scenario p of bench/fanout (a webhook to one subscriber, 200 a second), with the
kernel's counters, against nchan and nio-floor, and hookstream's user time split by stage.

    bench/floor/publish_split.py                       # ~6 minutes: writes bench/floor/PUBLISH-SPLIT.md
    bench/floor/publish_split.py --rounds 1 --out /tmp/split.md --bin PATH --floor-bin PATH

Part 1 runs (p) against each server, in rounds, a fresh server each run, with `perf stat` attached to the
server's process: system calls and context switches per publish, and from /proc the server's user and system
CPU per publish and how often its event-loop thread (nginx's worker) was preempted (nonvoluntary switches).

Part 2 runs 20,000 publishes back to back (one at a time, so the code stays warm) against nio-floor and
hookstream with `perf record -e cpu-clock:u -g`, and charges each user-time sample to the innermost stage of the
publish on its call stack (STAGES below): what NIO's part costs next to nio-floor's, and what the rest costs.

Needs perf (Debian's linux-perf; the script installs it with apt-get when missing) and root or
kernel.perf_event_paranoid <= 1 for the tracepoints.
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fanout"))
import run as fanout  # noqa: E402  (bench/fanout/run.py: servers and harness)

FLOOR = fanout.ROOT / "bench" / "floor" / "run.py"
COUNTERS = ["raw_syscalls:sys_enter", "context-switches", "syscalls:sys_enter_write", "syscalls:sys_enter_writev",
            "syscalls:sys_enter_read", "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_futex",
            "syscalls:sys_enter_timerfd_settime", "syscalls:sys_enter_epoll_ctl"]
# Innermost match wins: a sample in the JSON writer under Rule.draft counts as json-write.
STAGES = [
    ("JSON parse (the body)", r"JSONParser\."),
    ("JSON write (event data, the 202's body)", r"JSONValue\.(write|jsonText|writeString)"),
    ("rules: templates, topic and type checks", r"RuleEngine\.route|Rule\.draft"),
    ("the webhook's message (headers, query, body)", r"WebhookMessage\.make"),
    ("router", r"Router\.match"),
    ("the 202: built", r"WebhookIngest\.accepted|HTTPResponse\.encode|HTTPResponse\.json"),
    ("the 202: queued in order and written", r"writeReadyResponses|HTTPConnectionHandler\.complete"),
    ("append log: entry and write(2)", r"appendToLog|AppendLog\.append"),
    ("SSE frame", r"StreamFraming|SSEEncoder"),
    ("fan-out drain and the subscriber's write", r"StreamHub\.drain|StreamSubscriber"),
    ("broker: release in id order", r"Broker\.release"),
    ("store: numbering", r"SQLiteEventStore\.append|SQLiteEventStore\.number|MemoryEventStore"),
    ("broker, batcher, publisher", r"Broker\.publish|PublishBatcher|Publisher\."),
    ("webhook ingest (source, limits, metrics)", r"WebhookIngest\.handle|WebhookEndpoint"),
    ("connection handler (request state, routing)", r"HTTPConnectionHandler\."),
    ("NIO: HTTP/1.1 parser", r"llhttp|BetterHTTPParser|HTTPDecoder|ByteToMessageHandler"),
    ("NIO: socket reads", r"readFromSocket|readable0"),
    ("NIO: socket writes", r"flushNow|PendingWrites|flush0|writeToSocket"),
    ("NIO: event loop", r"SelectableEventLoop|Selector|NIOThread"),
    ("SQLite writer thread", r"SQLiteEventStore\.runWriter|SQLiteEventStore\.apply|_dispatch"),
]
NIO_STAGES = {name for name, _ in STAGES if name.startswith("NIO")}


def ensure_perf() -> None:
    if shutil.which("perf"):
        return
    fanout.log("installing linux-perf (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=120", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=120", "install", "-y", "-qq", "--no-install-recommends", "linux-perf"],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def load_floor():
    import importlib.util
    spec = importlib.util.spec_from_file_location("floor_run", FLOOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start(server: str, binaries: dict, floor) -> tuple:
    """(Server, pid of the process that does the work: nginx's worker, else the server)."""
    if server == "nchan":
        s = fanout.start_nchan()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            workers = subprocess.run(["pgrep", "-P", str(s.process.pid)], capture_output=True, text=True).stdout.split()
            if workers:
                return s, int(workers[0])
            time.sleep(0.02)
        raise RuntimeError("nginx started no worker")
    if server == "nio-floor":
        s = floor.start_floor(binaries["floor"])
        return s, s.process.pid
    config = fanout.config_with_store(fanout.ROOT / "config" / "hookstream.yaml", "memory") if server == "hookstream-memory" \
        else fanout.ROOT / "config" / "hookstream.yaml"
    s = fanout.start_hookstream(binaries["hookstream"], config)
    return s, s.process.pid


def threads(pid: int) -> dict:
    """{tid: (name, voluntary, nonvoluntary, utime + stime ticks)}"""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = open(f"/proc/{pid}/task/{tid}/status").read()
            stat = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            out[tid] = (open(f"/proc/{pid}/task/{tid}/comm").read().strip(),
                        int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0]),
                        int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0]), int(stat[11]) + int(stat[12]))
        except (FileNotFoundError, IndexError, ProcessLookupError):
            pass
    return out


def cpu(pid: int) -> tuple:
    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(stat[11]), int(stat[12])


def harness(server, pid: int, arguments: str) -> subprocess.CompletedProcess:
    command = [fanout.PYTHON, str(fanout.HERE / "ssebench.py"), "--sub-url", server.sub_url, "--pub-url", server.pub_url,
               "--pid", str(pid), "--timeout", "110", "--label", "split"] + server.extra + arguments.split()
    return subprocess.run(command, capture_output=True, text=True, timeout=170, preexec_fn=fanout.raise_nofile)


def counted_run(server_name: str, binaries: dict, floor, publishes: int) -> dict:
    server, pid = start(server_name, binaries, floor)
    try:
        perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", ",".join(COUNTERS), "-p", str(pid)],
                                stderr=subprocess.PIPE, text=True)
        time.sleep(0.2)
        before, (u0, s0) = threads(pid), cpu(pid)
        result = harness(server, pid, f"-n 1 -m {publishes} --rate 200 --procs 1")
        after, (u1, s1) = threads(pid), cpu(pid)
        perf.send_signal(signal.SIGINT)
        _, err = perf.communicate(timeout=20)
    finally:
        server.stop()
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"ssebench printed no summary for {server_name}: {result.stderr[-2000:]}")
    summary = json.loads(lines[-1])
    if summary.get("verdict", {}).get("ok") is False or summary.get("errors"):
        fanout.log(f"warning: harness reported problems for {server_name}: {str(summary)[:300]}")
    counts = {}
    for line in err.strip().splitlines():
        parts = line.split(",")
        if len(parts) > 3 and re.fullmatch(r"[0-9.]+", parts[0]):
            counts[parts[2]] = float(parts[0]) / publishes
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    busiest = max(after, key=lambda tid: after[tid][3] - before.get(tid, (None, 0, 0, 0))[3])
    b = before.get(busiest, (None, 0, 0, 0))
    return {"user_us": (u1 - u0) * tick_us / publishes, "sys_us": (s1 - s0) * tick_us / publishes, "counts": counts,
            "loop_thread": after[busiest][0], "loop_voluntary": (after[busiest][1] - b[1]) / publishes,
            "loop_preempted": (after[busiest][2] - b[2]) / publishes,
            "harness_cpu_us": summary.get("cpu", {}).get("server_cpu_us_per_delivery")}


def profiled_run(server_name: str, binaries: dict, floor, publishes: int, data: Path) -> dict:
    server, pid = start(server_name, binaries, floor)
    try:
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock:u", "-F", "4999", "-g", "-o", str(data), "-p", str(pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        u0, _ = cpu(pid)
        harness(server, pid, f"-n 1 -m {publishes} --procs 1")
        u1, _ = cpu(pid)
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
    finally:
        server.stop()
    script = subprocess.run(f"perf script -i {data} -F ip,sym 2>/dev/null | swift demangle --simplified", shell=True,
                            capture_output=True, text=True).stdout
    if not script.strip():
        raise RuntimeError(f"perf recorded nothing for {server_name} (perf_event_paranoid, or perf missing?)")
    compiled = [(name, re.compile(pattern)) for name, pattern in STAGES]
    counts, total, frames = collections.Counter(), 0, []

    def charge():
        nonlocal total
        if not frames:
            return
        total += 1
        for frame in frames:
            for name, pattern in compiled:
                if pattern.search(frame):
                    counts[name] += 1
                    return
        counts["elsewhere (the runtime's and libc's own frames)"] += 1

    for line in script.splitlines():
        if not line.strip():
            charge()
            frames = []
        else:
            parts = line.strip().split(" ", 1)
            if len(parts) == 2:
                frames.append(parts[1])
    charge()
    user_us = (u1 - u0) * 1e6 / os.sysconf("SC_CLK_TCK") / publishes
    return {"user_us": user_us, "shares": {name: count / total for name, count in counts.items()} if total else {}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="at least 1")
    parser.add_argument("--publishes", type=int, default=2000, help="per counted run, at 200/s")
    parser.add_argument("--bin", help="hookstream release binary (default: build it)")
    parser.add_argument("--floor-bin", help="nio-floor binary (default: build it)")
    parser.add_argument("--out", default=str(HERE / "PUBLISH-SPLIT.md"))
    parser.add_argument("--profile-only", action="store_true", help="part 2 only, printed (for A/B runs of two builds)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    fanout.raise_nofile()
    ensure_perf()
    fanout.ensure_nchan()
    floor = load_floor()
    binaries = {"hookstream": args.bin or fanout.release_binary(), "floor": args.floor_bin or floor.build_floor()}
    servers = ["nchan", "nio-floor", "hookstream", "hookstream-memory"]
    counted = collections.defaultdict(list)
    for round_number in range(0 if args.profile_only else args.rounds):
        for name in servers:
            fanout.log(f"round {round_number + 1}: {name}")
            counted[name].append(counted_run(name, binaries, floor, args.publishes))
    scratch = Path(tempfile.mkdtemp(prefix="publish-split."))
    try:
        fanout.log("profiling nio-floor and hookstream, 20,000 publishes back to back")
        profiles = {name: profiled_run(name, binaries, floor, 20000, scratch / f"{name}.data") for name in ["nio-floor", "hookstream"]}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.profile_only:
        print(json.dumps({name: round(profile["user_us"], 1) for name, profile in profiles.items()}))
        return 0
    write(Path(args.out), counted, profiles, servers, args)
    fanout.log(f"wrote {args.out}")
    return 0


def write(out: Path, counted: dict, profiles: dict, servers: list, args) -> None:
    def med(name, key, counter=None):
        values = [run["counts"].get(counter, 0.0) if counter else run[key] for run in counted[name]]
        return statistics.median(values)

    lines = [f"# One publish, split ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"`bench/floor/publish_split.py`: scenario p (one subscriber, {args.publishes} webhooks at 200/s), "
             f"{args.rounds} rounds, medians; hookstream on the default config (SQLite store) and with `store.kind: memory`.", "",
             "| per publish | " + " | ".join(servers) + " |", "|---|" + "---|" * len(servers)]
    rows = [("server CPU, user µs", "user_us", None), ("server CPU, system µs", "sys_us", None),
            ("system calls", None, "raw_syscalls:sys_enter"), ("write / writev", None, "syscalls:sys_enter_write"),
            ("epoll_wait", None, "syscalls:sys_enter_epoll_wait"), ("futex", None, "syscalls:sys_enter_futex"),
            ("timerfd_settime", None, "syscalls:sys_enter_timerfd_settime"), ("context switches", None, "context-switches"),
            ("loop thread preempted (nonvoluntary switches)", "loop_preempted", None)]
    for label, key, counter in rows:
        if counter == "syscalls:sys_enter_write":
            cells = [f"{med(s, None, 'syscalls:sys_enter_write') + med(s, None, 'syscalls:sys_enter_writev'):.2f}" for s in servers]
        elif key in ("user_us", "sys_us"):
            cells = [f"{med(s, key):.0f}" for s in servers]
        else:
            cells = [f"{med(s, key, counter):.2f}" for s in servers]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "CPU from /proc (10 ms ticks over about 10 s of publishing, so ±5 µs); counts from `perf stat`.", "",
              "## User time of a warm publish, by stage", "",
              "20,000 publishes one after another (no rate limit), `perf record -e cpu-clock:u -g`; each sample is charged "
              "to the innermost stage on its stack.", ""]
    floor_us, hook_us = profiles["nio-floor"]["user_us"], profiles["hookstream"]["user_us"]
    nio_share = sum(share for name, share in profiles["hookstream"]["shares"].items() if name in NIO_STAGES)
    lines += [f"User CPU per publish: nio-floor {floor_us:.0f} µs, hookstream {hook_us:.0f} µs. Of hookstream's, the NIO "
              f"stages take {100 * nio_share:.0f}% ({nio_share * hook_us:.0f} µs), the rest {100 * (1 - nio_share):.0f}% "
              f"({(1 - nio_share) * hook_us:.0f} µs). The last column is nio-floor's, for the stages it has (its one handler "
              "runs inside the parser's callback, so its own work counts in the parser's row).", "",
              "| stage | share of hookstream's user time | hookstream µs | nio-floor µs |", "|---|---|---|---|"]
    floor_shares = profiles["nio-floor"]["shares"]
    for name, share in sorted(profiles["hookstream"]["shares"].items(), key=lambda item: -item[1]):
        floor_cell = f"{floor_shares[name] * floor_us:.1f}" if name in floor_shares else "–"
        lines.append(f"| {name} | {100 * share:.1f}% | {share * hook_us:.1f} | {floor_cell} |")
    out.write_text("\n".join(lines) + "\n")
    (out.with_suffix(".json")).write_text(json.dumps({"counted": counted, "profiles": profiles}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
