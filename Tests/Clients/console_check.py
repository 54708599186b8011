#!/usr/bin/env python3
"""Uses hookstream's /console in headless Chromium as a person would: types a token and topics, clicks Connect,
and reports the table's rows once it shows COUNT events (and the state line), as JSON.

usage: console_check.py BASE_URL TOKEN TOPICS COUNT"""
import json
import sys
import time

from cdp import Browser

base, token, topics, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
browser = Browser()
status = 1
try:
    tab = browser.open_tab(base + "/console")
    tab.evaluate(f"document.getElementById('token').value = {json.dumps(token)};"
                 f"document.getElementById('topics').value = {json.dumps(topics)};"
                 "document.getElementById('connect').click(); true")
    print(json.dumps({"clicked": True}), flush=True)
    rows = "JSON.stringify([...document.querySelectorAll('#events tr')].map(r => [...r.cells].map(c => c.textContent)))"
    deadline = time.time() + 30
    while True:
        table = json.loads(tab.evaluate(rows))
        events = [r for r in table if r[0] != ""]
        if len(events) >= count:
            print(json.dumps({"rows": table, "state": tab.evaluate("document.getElementById('state').textContent"),
                              "last": tab.evaluate("document.getElementById('last').textContent")}), flush=True)
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
