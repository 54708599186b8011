#!/usr/bin/env python3
"""A stand-in for systemd's side of sd_notify: binds NOTIFY_SOCKET (a path, or @name for an abstract socket) and
prints one JSON line per datagram: {"t": monotonic seconds, "pid": sender pid (SO_PASSCRED), "fields": {...}}.
Prints {"listening": ADDRESS} first. Exits after --seconds, or 0.5 s after STOPPING=1."""
import argparse
import array
import json
import os
import socket
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    if args.address.startswith("@"):
        s.bind("\0" + args.address[1:])
    else:
        if os.path.exists(args.address):
            os.unlink(args.address)
        s.bind(args.address)
    print(json.dumps({"listening": args.address}), flush=True)
    end = time.monotonic() + args.seconds
    while (left := end - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            data, ancillary, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
        except socket.timeout:
            break
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = array.array("i", payload[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        print(json.dumps({"t": time.monotonic(), "pid": pid, "fields": fields}), flush=True)
        if fields.get("STOPPING") == "1":
            end = min(end, time.monotonic() + 0.5)


if __name__ == "__main__":
    main()
