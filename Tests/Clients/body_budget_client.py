#!/usr/bin/env python3
"""Sends webhook bodies part way on several connections at once, to hold hookstream's budget of request bodies
(server.limits.buffered_bodies), and reports what each connection was answered.

usage: body_budget_client.py PORT SIZE PARTIAL
Every body is SIZE bytes of JSON; PARTIAL bytes of it are sent first. The server is expected to hold room for one
partial body and not two (buffered_bodies between PARTIAL and 2 x PARTIAL, body_bytes at least SIZE):
  1. connections A and B each send a head and PARTIAL bytes, then wait: exactly one of them is to be refused
     (503) while the other waits for the rest of its body;
  2. the waiting one sends the rest and is answered;
  3. the refused one's request is sent again whole on a new connection and is answered;
  4. connection C sends PARTIAL bytes; a whole request is then refused while C holds its part ("held_by_partial");
     C closes without the rest, and a whole request D is sent, again every 0.1 s while it is refused, until it is
     answered or 10 s pass (the budget C held must come back).
Prints one JSON line: {"first": [status, status] of A and B after step 1 (null: no answer yet), "refusal": the
503's head and body, "completed": status of step 2, "retried": status of step 3, "held_by_partial", "after_close": statuses of step 4,
"after_close_tries": how many tries it took}.
"""
import json
import select
import socket
import sys
import time

port, size, partial = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
# A JSON body of exactly `size` bytes: {"pad":"xxx...x"}
body = b'{"pad":"' + b"x" * (size - 10) + b'"}'
assert len(body) == size
head = (f"POST /hooks/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n").encode()


def connect():
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def read_answer(sock, timeout=10.0):
    """One HTTP answer (head and Content-Length body), or None if the connection says nothing within `timeout`."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head_bytes, rest = data.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return {"status": int(lines[0].split()[1]), "head": lines, "body": rest[:length].decode()}
    except socket.timeout:
        return None
    except OSError:  # reset: a refused request's unread bytes make the server's close a reset
        return None


def whole_request():
    sock = connect()
    sock.sendall(head + body)
    answer = read_answer(sock)
    sock.close()
    return answer


result = {}
# 1. Two partial bodies at once: one fits, the other is refused.
a, b = connect(), connect()
for sock in (a, b):
    sock.sendall(head + body[:partial])
answers = {a: None, b: None}
deadline = time.monotonic() + 10
while time.monotonic() < deadline and all(answer is None for answer in answers.values()):
    ready, _, _ = select.select([a, b], [], [], 0.2)
    for sock in ready:
        answers[sock] = read_answer(sock)
result["first"] = [answers[a] and answers[a]["status"], answers[b] and answers[b]["status"]]
refused = a if answers[a] is not None else b
waiting = b if refused is a else a
result["refusal"] = answers[refused]
# Anything more from the waiting one within a moment would be a second refusal.
extra = read_answer(waiting, timeout=0.5)
if extra is not None:
    result["first"] = [answers[a] and answers[a]["status"], answers[b] and answers[b]["status"], extra["status"]]

# 2. The waiting one finishes its body and is answered.
waiting.sendall(body[partial:])
completed = read_answer(waiting)
result["completed"] = completed and completed["status"]
waiting.close()
refused.close()

# 3. The refused request, again, whole.
retried = whole_request()
result["retried"] = retried and retried["status"]

# 4. A partial body whose client goes away: its bytes come back to the budget. First a whole request is sent (again
# every 0.05 s while it is answered, until the server has read C's bytes) and is to be refused: C holds the budget.
c = connect()
c.sendall(head + body[:partial])
probe, deadline = None, time.monotonic() + 10
while time.monotonic() < deadline:
    probe = whole_request()
    if probe is None or probe["status"] == 503:
        break
    time.sleep(0.05)
result["held_by_partial"] = probe and probe["status"]
c.close()
tries, status = 0, None
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    tries += 1
    answer = whole_request()
    status = answer and answer["status"]
    if status == 202:
        break
    time.sleep(0.1)
result["after_close"] = status
result["after_close_tries"] = tries
print(json.dumps(result))
