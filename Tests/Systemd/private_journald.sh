#!/usr/bin/env bash
# Runs a real systemd-journald in a private mount and PID namespace (its own /run), until this script is killed:
# `--kill-child` kills the namespace's init when unshare dies (even by SIGKILL), and with it journald.
# Volatile storage, no rate limit, the host's kernel log hidden. Prints "ready" once its native socket exists; from
# the host, the socket is /proc/<pid of this namespace's init>/root/run/systemd/journal/socket and the journal files
# are under .../root/run/log/journal.
set -euo pipefail
exec unshare --mount --pid --fork --kill-child --mount-proc bash -c '
  set -eu
  mount --make-rprivate /
  mount -t tmpfs -o mode=755 tmpfs /run
  mkdir -p /run/systemd/journald.conf.d /run/log/journal
  printf "[Journal]\nStorage=volatile\nRateLimitBurst=0\n" > /run/systemd/journald.conf.d/test.conf
  mount --bind /dev/null /dev/kmsg
  /lib/systemd/systemd-journald &
  for i in $(seq 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
  echo ready
  wait'
