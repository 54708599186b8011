#!/usr/bin/env python3
"""A subscriber that pauses, for hookstream's frame-integrity test.

Opens GET /events with a tiny receive buffer, waits until the response has started to arrive (MSG_PEEK, so
nothing is consumed) and prints {"connected": true}. Then, for each line "read N" on stdin, it reads and parses
the stream until the event with id N has arrived ("slowread N": the same, 4 KiB at a time with a pause after
each, so the server finds a little room in the socket again and again), and prints what it saw since the last
report:
{"events": [[id, data], ...], "comments": [...], "malformed": [...], "eof": bool}. While no line has come, it
reads nothing, so the server's writes back up: first into the kernel's buffers, then into the server's queue.

The parser is strict: every line of a frame must be a field the stream uses (id, event, data, retry) or a
comment, and a frame with data must have an id, but for the server's `hookstream.reset` (reported under "resets",
with the position in "events" it came at); anything else is reported as malformed.

usage: pausing_client.py HOST PORT PATH TOKEN [LAST_EVENT_ID]
"""
import json
import socket
import sys
import time

from stream_socket import open_stream


def main() -> int:
    host, port, path, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sock = open_stream(host, port, path, token, sys.argv[5] if len(sys.argv) > 5 else None)
    sock.settimeout(30)
    print(json.dumps({"connected": True}), flush=True)

    pending = b""
    in_body = False
    eof = False
    for command in sys.stdin:
        mode, wanted = command.split()[0], int(command.split()[1])
        size, pause = (4096, 0.001) if mode == "slowread" else (1 << 16, 0)
        report = {"events": [], "comments": [], "malformed": [], "resets": [], "eof": False}
        seen = 0
        while seen < wanted and not eof:
            try:
                chunk = sock.recv(size)
                if pause:
                    time.sleep(pause)
            except (socket.timeout, ConnectionResetError):
                chunk = b""
            if not chunk:
                eof = True
                break
            pending += chunk
            if not in_body:
                end = pending.find(b"\r\n\r\n")
                if end < 0:
                    continue
                pending = pending[end + 4:]
                in_body = True
            while (end := pending.find(b"\n\n")) >= 0:
                frame, pending = pending[:end], pending[end + 2:]
                event_id, event_type, data = None, None, []
                for line in frame.decode("utf-8", "replace").split("\n"):
                    if line.startswith(":"):
                        report["comments"].append(line)
                    elif line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif line.startswith("event: "):
                        event_type = line[7:]
                    elif line.startswith("retry: "):
                        pass
                    else:
                        report["malformed"].append(line[:200])
                if event_type == "hookstream.reset" and event_id is None:
                    report["resets"].append({"at": len(report["events"]), "data": "\n".join(data)})
                elif data:
                    if event_id is None or not event_id.isdigit():
                        report["malformed"].append("a frame with data and no numeric id")
                        continue
                    report["events"].append([int(event_id), "\n".join(data)])
                    seen = int(event_id)
        report["eof"] = eof
        print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
