#!/usr/bin/env bash
# A real systemd as PID 1 for tests, on a host without one: systemd-nspawn boots the host's own /usr and /etc
# through a throwaway overlay (tmpfs upper layer), in a private network namespace (loopback only), to basic.target,
# so none of the host's enabled services start.
#   nspawn.sh DIR start [--bind-ro=SRC:DST | --bind=SRC:DST ...]   boot; wait until is-system-running
#   nspawn.sh DIR exec CMD...                                      run CMD inside (systemctl, journalctl, curl ...)
#   nspawn.sh DIR stop                                             power off, unmount everything
# DIR holds the overlay layers, the boot log and the pid; one DIR per container.
set -euo pipefail
R=$(realpath -m "$1"); shift
leader() { pgrep -P "$(cat "$R/nspawn.pid")" | head -1; }
case "$1" in
start)
  shift; mkdir -p "$R/rw" "$R/merged"
  # The container outlives this script: it must not hold descriptors a caller waits on (Foundation's Process
  # waits for a socket it hands its child to be closed by every holder).
  for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
  mount -t tmpfs -o size=2G tmpfs "$R/rw"; mkdir -p "$R/rw/upper" "$R/rw/work"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$R/rw/upper,workdir=$R/rw/work" "$R/merged"
  # --register=no --keep-unit: no machined or system bus needed on the host.
  systemd-nspawn -q -D "$R/merged" --register=no --keep-unit --private-network --machine="hs$$" "$@" \
      -b systemd.unit=basic.target systemd.firstboot=off > "$R/boot.log" 2>&1 &
  echo $! > "$R/nspawn.pid"
  for i in $(seq 300); do
    L=$(leader || true)
    if [ -n "$L" ]; then
      s=$(nsenter -t "$L" -a systemctl is-system-running 2>/dev/null || true)
      case "$s" in running|degraded) echo "container up ($s)"; exit 0;; esac
    fi
    sleep 0.1
  done
  echo "boot timed out"; tail -20 "$R/boot.log"; "$0" "$R" stop > /dev/null 2>&1 || true; exit 1 ;;
exec)
  shift; exec nsenter -t "$(leader)" -a "$@" ;;
stop)
  P=$(cat "$R/nspawn.pid"); L=$(leader || true)
  [ -n "$L" ] && kill -RTMIN+4 "$L" 2>/dev/null || kill "$P" 2>/dev/null || true   # RTMIN+4: poweroff
  for i in $(seq 100); do kill -0 "$P" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$P" 2>/dev/null && { kill -9 "$P"; sleep 1; }
  umount "$R/merged" 2>/dev/null || umount -l "$R/merged"
  umount "$R/rw" 2>/dev/null || umount -l "$R/rw"
  echo stopped ;;
esac
