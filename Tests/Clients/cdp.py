"""Headless Chromium driven over the DevTools protocol on a pipe (stdlib only): the browser half the browser tests
share. `Browser()` starts Chromium with a fresh profile; `open_tab(url)` gives a tab to evaluate JavaScript in."""
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


class Browser:
    def __init__(self, extra_arguments=()):
        self.profile = tempfile.mkdtemp(prefix="hookstream-chromium-")
        to_read, self.to_write = os.pipe()
        self.from_read, from_write = os.pipe()

        def child() -> None:
            # Chromium reads commands on fd 3 and answers on fd 4; the pipes may be 3 and 4 themselves, so move them first.
            a, b = fcntl.fcntl(to_read, fcntl.F_DUPFD, 10), fcntl.fcntl(from_write, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [shutil.which("chromium") or "/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
             *extra_arguments, "about:blank"],
            preexec_fn=child, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_read)
        os.close(from_write)
        self.pending, self.sequence = b"", 0

    def call(self, method, params=None, session=None, timeout=10):
        self.sequence += 1
        message = {"id": self.sequence, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_write, json.dumps(message).encode() + b"\0")
        end = time.time() + timeout
        while True:
            while b"\0" not in self.pending:
                if not select.select([self.from_read], [], [], max(0, end - time.time()))[0]:
                    raise TimeoutError(method)
                chunk = os.read(self.from_read, 65536)
                if not chunk:
                    raise EOFError("chromium exited")
                self.pending += chunk
            line, self.pending = self.pending.split(b"\0", 1)
            reply = json.loads(line)
            if reply.get("id") == self.sequence:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open_tab(self, url, reuse_first=True):
        """A tab showing `url` (loaded): the first existing page, or a new one."""
        # The first call waits for Chromium's start, which on a fresh machine (its caches cold) took more than 10 s.
        targets = [t for t in self.call("Target.getTargets", timeout=60)["targetInfos"] if t["type"] == "page"]
        if reuse_first and targets:
            target = targets[0]["targetId"]
        else:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        tab = Tab(self, session, target)
        self.call("Page.enable", session=session)
        self.call("Page.navigate", {"url": url}, session=session)
        deadline = time.time() + 20
        while tab.evaluate("document.readyState") != "complete" or tab.evaluate("location.href") != url:
            if time.time() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)
        return tab

    def close(self):
        try:
            self.call("Browser.close", timeout=3)
        except Exception:
            pass
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class Tab:
    def __init__(self, browser, session, target):
        self.browser, self.session, self.target = browser, session, target

    def evaluate(self, expression, await_promise=False):
        result = self.browser.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError("page script failed: " + json.dumps(result["exceptionDetails"])[:500])
        return result["result"].get("value")

    def close(self):
        self.browser.call("Target.closeTarget", {"targetId": self.target})
