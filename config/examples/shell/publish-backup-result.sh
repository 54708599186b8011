#!/usr/bin/env bash
# Reports a backup job's result to hookstream over its Unix socket: one JSON line on jobs/backup, e.g.
#   {"topic":"jobs/backup","event":"job-finished","data":{"job":"nightly-backup","host":"nas-01","status":"ok",...}}
#
# Usage: publish-backup-result.sh [--print] JOB STATUS [BYTES [SECONDS]]
#   JOB      the job's name, e.g. nightly-backup
#   STATUS   ok, or anything else for a failure (published as event job-failed instead of job-finished)
#   BYTES    optional: how much was backed up; SECONDS: optional, how long it took
#   --print  print the line instead of sending it (to try it from the repository: ... --print x ok | hookstream route --config config/examples/shell/hookstream.yaml --source local --body -)
#
# At the end of a backup script:
#   restic backup /srv && status=ok || status=failed
#   publish-backup-result.sh nightly-backup "$status" "$(du -sb /srv | cut -f1)" "$SECONDS"
#
# The socket is $HOOKSTREAM_SOCKET, else ./run/hookstream.sock (server.unix_socket.path, which is relative to
# the daemon's working directory). Needs only bash and python3's standard library. Exits 0 once hookstream
# has stored the event, 1 when it refused the line or could not be reached, 2 for bad arguments.
set -euo pipefail

print_only=0
if [[ "${1:-}" == "--print" ]]; then print_only=1; shift; fi
if [[ $# -lt 2 || $# -gt 4 ]]; then
    sed -n 's/^# \{0,1\}//; 5,9p' "$0" >&2
    exit 2
fi
for number in "${3:-0}" "${4:-0}"; do
    [[ "$number" =~ ^[0-9]+$ ]] || { echo "publish-backup-result.sh: BYTES and SECONDS must be whole numbers, not '$number'" >&2; exit 2; }
done

exec python3 -c '
import json, socket, sys, time

path, print_only, job, status, size, seconds = sys.argv[1:7]
data = {"job": job, "host": socket.gethostname(), "status": status}
if size:
    data["bytes"] = int(size)
if seconds:
    data["seconds"] = int(seconds)
data["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
event = "job-finished" if status == "ok" else "job-failed"
line = json.dumps({"topic": "jobs/backup", "event": event, "data": data}, separators=(",", ":"))
if print_only == "1":
    print(line)
    sys.exit(0)

try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
except OSError as error:
    print(f"publish-backup-result.sh: cannot send to {path}: {error}", file=sys.stderr)
    sys.exit(1)

answer = reply.decode(errors="replace").strip()
print(answer)
try:
    ok = json.loads(answer).get("ok") is True
except ValueError:
    ok = False
sys.exit(0 if ok else 1)
' "${HOOKSTREAM_SOCKET:-./run/hookstream.sock}" "$print_only" "$1" "$2" "${3:-}" "${4:-}"
