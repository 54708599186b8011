#!/usr/bin/env python3
"""An SSE subscriber for hookstream's end-to-end tests, built on httpx + httpx-sse (a client we did not write).

Prints one JSON object per line: first {"status": ..., "headers": {...}} (and {"body": ...} when not 200),
then {"id", "event", "data", "retry"} per event. Exits after --count events, or with status 3 after --timeout seconds.
"""
import argparse
import json
import os
import sys
import threading

import httpx
from httpx_sse import connect_sse


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    parser.add_argument("--cookie", action="append", default=[], help="name=value")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=20)
    args = parser.parse_args()

    def give_up() -> None:
        print(json.dumps({"timeout": True}), flush=True)
        os._exit(3)

    timer = threading.Timer(args.timeout, give_up)
    timer.daemon = True
    timer.start()

    headers = dict(h.split(": ", 1) for h in args.header)
    cookies = dict(c.split("=", 1) for c in args.cookie)
    with httpx.Client(timeout=httpx.Timeout(args.timeout, connect=5), cookies=cookies) as client:
        with connect_sse(client, "GET", args.url, headers=headers) as source:
            response = source.response
            print(json.dumps({"status": response.status_code, "headers": dict(response.headers)}), flush=True)
            if response.status_code != 200:
                response.read()
                print(json.dumps({"body": response.text}), flush=True)
                return 0
            received = 0
            for event in source.iter_sse():
                if event.data == "" and event.retry is not None:
                    # httpx-sse reports the connect greeting's bare "retry:" block as an empty event;
                    # browsers dispatch nothing for it, so neither do we.
                    print(json.dumps({"retry": event.retry}), flush=True)
                    continue
                print(json.dumps({"id": event.id, "event": event.event, "data": event.data, "retry": event.retry}), flush=True)
                received += 1
                if received >= args.count:
                    return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
