#!/usr/bin/env python3
"""A real browser's EventSource against the daemon: headless Chromium, driven over CDP on a pipe (stdlib only).

usage: browser_client.py ORIGIN STREAM_PATH COUNT TYPE [TYPE ...]

Opens ORIGIN/healthz (so the stream is same-origin), then `new EventSource(STREAM_PATH)` in that page, listening
for the given event types. Prints {"open": true} once the stream is open, then one JSON line per event
({"type", "lastEventId", "data"}) when COUNT events arrived and a last line {"opens": n} (how often the stream
opened: more than once after the browser reconnected by itself), and exits 0; exits 1 on timeout or error."""
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

origin, path, count, types = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]

profile = tempfile.mkdtemp(prefix="hookstream-chromium-")
to_read, to_write = os.pipe()
from_read, from_write = os.pipe()


def child() -> None:
    # Chromium reads commands on fd 3 and answers on fd 4; the pipe fds may be 3 and 4 themselves, so move them first.
    a, b = fcntl.fcntl(to_read, fcntl.F_DUPFD, 10), fcntl.fcntl(from_write, fcntl.F_DUPFD, 10)
    os.dup2(a, 3)
    os.dup2(b, 4)


chrome = subprocess.Popen(
    [shutil.which("chromium") or "/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
     "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-pipe",
     "about:blank"],
    preexec_fn=child, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_read)
os.close(from_write)
pending, sequence = b"", 0


def call(method, params=None, session=None, timeout=10):
    global pending, sequence
    sequence += 1
    message = {"id": sequence, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    os.write(to_write, json.dumps(message).encode() + b"\0")
    end = time.time() + timeout
    while True:
        while b"\0" not in pending:
            if not select.select([from_read], [], [], max(0, end - time.time()))[0]:
                raise TimeoutError(method)
            chunk = os.read(from_read, 65536)
            if not chunk:
                raise EOFError("chromium exited")
            pending += chunk
        line, pending = pending.split(b"\0", 1)
        reply = json.loads(line)
        if reply.get("id") == sequence:
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply["result"]


def evaluate(session, expression):
    return call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)["result"].get("value")


SCRIPT = """
window.R = {opens: 0, errors: 0, events: []};
const source = new EventSource(%s);
source.onopen = () => R.opens++;
source.onerror = () => R.errors++;
for (const type of %s) {
  source.addEventListener(type, e => R.events.push({type: e.type, lastEventId: e.lastEventId, data: e.data}));
}
true
"""

status = 1
try:
    # The first answer waits for Chromium's start, which on a fresh machine (its caches cold) took more than 10 s.
    page = next(t for t in call("Target.getTargets", timeout=60)["targetInfos"] if t["type"] == "page")
    session = call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
    call("Page.enable", session=session)
    call("Page.navigate", {"url": origin + "/healthz"}, session=session)
    deadline = time.time() + 20
    while evaluate(session, "document.readyState") != "complete":
        if time.time() > deadline:
            raise TimeoutError("the page did not load")
        time.sleep(0.05)
    evaluate(session, SCRIPT % (json.dumps(path), json.dumps(types)))
    deadline = time.time() + 40
    while not evaluate(session, "R.opens > 0"):
        if time.time() > deadline:
            raise TimeoutError("the stream did not open: " + json.dumps(evaluate(session, "JSON.stringify(R)")))
        time.sleep(0.05)
    print(json.dumps({"open": True}), flush=True)
    while True:
        state = json.loads(evaluate(session, "JSON.stringify(R)"))
        if len(state["events"]) >= count:
            for event in state["events"]:
                print(json.dumps(event), flush=True)
            print(json.dumps({"opens": state["opens"]}), flush=True)
            status = 0
            break
        if time.time() > deadline:
            raise TimeoutError(f"{len(state['events'])} of {count} events: " + json.dumps(state))
        time.sleep(0.05)
except Exception as error:  # the test reads stderr
    print(f"browser_client: {error}", file=sys.stderr, flush=True)
finally:
    try:
        call("Browser.close", timeout=3)
    except Exception:
        pass
    try:
        chrome.wait(5)
    except subprocess.TimeoutExpired:
        chrome.kill()
        chrome.wait()
    shutil.rmtree(profile, ignore_errors=True)
sys.exit(status)
