#!/usr/bin/env python3
"""Uses hookstream's /console in headless Chromium as a person would: types a token and topics, clicks Connect,
and reports the table's rows once it shows COUNT events (and the state line), as JSON.

usage: console_check.py BASE_URL TOKEN TOPICS COUNT [CLICKS]

With CLICKS 2, Connect is clicked again once the stream is open (a person who clicks twice), and the report says
how many reconnects the page counted."""
import json
import sys
import time

from cdp import Browser

base, token, topics, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
clicks = int(sys.argv[5]) if len(sys.argv) > 5 else 1
browser = Browser()
status = 1
try:
    tab = browser.open_tab(base + "/console")
    tab.evaluate(f"document.getElementById('token').value = {json.dumps(token)};"
                 f"document.getElementById('topics').value = {json.dumps(topics)};"
                 "document.getElementById('connect').click(); true")
    state = "document.getElementById('state').textContent"
    for _ in range(clicks - 1):
        deadline = time.time() + 30
        while tab.evaluate(state) != "open":
            if time.time() > deadline:
                raise TimeoutError("the console's state stayed " + tab.evaluate(state))
            time.sleep(0.05)
        tab.evaluate("document.getElementById('connect').click(); true")
    print(json.dumps({"clicked": clicks}), flush=True)
    rows = "JSON.stringify([...document.querySelectorAll('#events tr')].map(r => [...r.cells].map(c => c.textContent)))"
    deadline = time.time() + 30
    while True:
        table = json.loads(tab.evaluate(rows))
        events = [r for r in table if r[0] != ""]
        if len(events) >= count:
            print(json.dumps({"rows": table, "state": tab.evaluate(state),
                              "last": tab.evaluate("document.getElementById('last').textContent"),
                              "reconnects": tab.evaluate("document.getElementById('reconnects').textContent")}), flush=True)
            status = 0
            break
        if time.time() > deadline:
            raise TimeoutError("the console showed " + json.dumps(table))
        time.sleep(0.05)
except Exception as error:
    print(f"console_check: {error}", file=sys.stderr, flush=True)
finally:
    browser.close()
sys.exit(status)
