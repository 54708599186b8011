#!/usr/bin/env python3
"""A page of a web app, in headless Chromium, as a user has it: served from an origin of its own by a tiny server
that, like the app's backend, sets the session cookie (HttpOnly) and serves the page; then a script runs in it.

usage: web_page.py --script JS --until JS --result JS [--ready JS] [--cookie NAME=VALUE] [--tabs N] [--timeout S] [--port P]
                   [--page-url URL] [--chromium-arg ARG]...

The page origin is http://127.0.0.1:<--port, or a free one> (printed first: {"origin": ...}). The cookie is set on 127.0.0.1,
so the browser also sends it to hookstream on another port of the same host, the way a cookie for .example.com
reaches api.example.com. --script runs in every tab (its `TAB` is the tab's index); --ready, when given, is polled
in the first tab and announced once truthy ({"ready": true}); --until is polled until truthy in every tab, then
{"result": [--result of each tab]} is printed and the script exits 0 (1 on timeout or error, with the state so far).
With --page-url the tabs open that URL instead, and the script runs in its origin (a page of a site that is not the
app's, say).
"""
import argparse
import http.server
import json
import sys
import threading
import time

from cdp import Browser

parser = argparse.ArgumentParser()
parser.add_argument("--script", required=True)
parser.add_argument("--until", required=True)
parser.add_argument("--result", required=True)
parser.add_argument("--ready")
parser.add_argument("--cookie", default=None)
parser.add_argument("--tabs", type=int, default=1)
parser.add_argument("--timeout", type=float, default=40)
parser.add_argument("--port", type=int, default=0, help="the page origin's port (0: any free one)")
parser.add_argument("--page-url", help="open this URL instead of the page server's page")
parser.add_argument("--chromium-arg", action="append", default=[],
                    help="an extra Chromium switch, e.g. --ignore-certificate-errors-spki-list=HASH for a test CA")
args = parser.parse_args()


class PageServer(http.server.BaseHTTPRequestHandler):
    def log_message(self, *rest):
        pass

    def do_GET(self):
        body = b"<!doctype html><title>app</title><p>app page</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if args.cookie:
            self.send_header("Set-Cookie", args.cookie + "; Path=/; HttpOnly; SameSite=Lax")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), PageServer)
threading.Thread(target=server.serve_forever, daemon=True).start()
origin = f"http://127.0.0.1:{server.server_address[1]}"
print(json.dumps({"origin": origin}), flush=True)

browser = Browser(extra_arguments=args.chromium_arg)
status = 1
tabs = []
try:
    for index in range(args.tabs):
        tab = browser.open_tab(args.page_url or origin + f"/page{index}", reuse_first=(index == 0))
        tab.evaluate(f"window.TAB = {index}; {args.script}; true")
        tabs.append(tab)
    deadline = time.time() + args.timeout
    announced = args.ready is None
    while True:
        if not announced and tabs[0].evaluate(args.ready):
            print(json.dumps({"ready": True}), flush=True)
            announced = True
        if announced and all(tab.evaluate(args.until) for tab in tabs):
            print(json.dumps({"result": [json.loads(tab.evaluate(f"JSON.stringify({args.result})")) for tab in tabs]}), flush=True)
            status = 0
            break
        if time.time() > deadline:
            state = [tab.evaluate(f"JSON.stringify({args.result})") for tab in tabs]
            raise TimeoutError("the page did not reach its end: " + "; ".join(state))
        time.sleep(0.05)
except Exception as error:
    print(f"web_page: {error}", file=sys.stderr, flush=True)
finally:
    browser.close()
    server.shutdown()
sys.exit(status)
