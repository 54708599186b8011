#!/usr/bin/env bash
# Store benchmark: acknowledged webhooks per second with the SQLite store against the memory store
# (1 and 16 concurrent senders, in one run, interleaved), and replay speed from a 1,000,000-event log
# against a raw sqlite3 read of the same rows. Release build; results to bench/store/RESULTS-latest.md.
#
# usage: bench/store/run.sh [seconds per load run, default 5] [rounds, default 2]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-5}
ROUNDS=${2:-2}
EVENTS=${REPLAY_EVENTS:-1000000}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v bc >/dev/null || need+=(bc)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

swift build -c release --product hookstream >/dev/null
BIN="$(swift build -c release --show-bin-path)/hookstream"
WORK=$(mktemp -d /tmp/hookstream-bench-store.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

config() {  # $1 = store kind, $2 = folder
  cat > "$2/hookstream.yaml" <<YAML
server: { listen: 127.0.0.1:0 }
store: { kind: $1, path: $2/events.db, sync: normal, retention: { max_events_per_topic: 10000000, interval: 1h } }
auth:
  tokens: [{ name: bench, secret: { value: bench-token }, subscribe: ["bench/**"] }]
sources: { demo: {} }
rules:
  - { name: bench, source: demo, publish: { topic: "bench/{{ body.channel }}", event: "{{ body.type }}" } }
YAML
}

start_daemon() {  # $1 = folder; sets PID and PORT once the daemon says it listens (polled, not assumed)
  "$BIN" serve --config "$1/hookstream.yaml" 2>"$1/log" &
  PID=$!
  PORT=""
  for _ in $(seq 1 500); do
    PORT=$(grep -o 'address=127.0.0.1:[0-9]*' "$1/log" 2>/dev/null | head -1 | cut -d: -f2 || true)
    [ -n "$PORT" ] && break
    sleep 0.02
  done
  [ -n "$PORT" ] || { echo "daemon did not start:"; cat "$1/log"; exit 1; }
}

stop_daemon() { kill -TERM "$PID"; wait "$PID" || true; }

declare -A RESULT
for round in $(seq 1 "$ROUNDS"); do
  for senders in 1 16; do
    for kind in memory sqlite; do
      dir="$WORK/$kind-$senders-$round"; mkdir -p "$dir"; config "$kind" "$dir"
      start_daemon "$dir"
      threads=$(( senders > 1 ? 2 : 1 ))
      out=$(wrk -t"$threads" -c"$senders" -d"${SECONDS_PER_RUN}s" -s bench/store/post.lua "http://127.0.0.1:$PORT/hooks/demo")
      stop_daemon
      rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      bad=$(echo "$out" | awk '/Non-2xx/ {print $5}'); bad=${bad:-0}
      errors=$(echo "$out" | awk '/Socket errors/ {print}' || true)
      lat=$(echo "$out" | awk '/Latency/ {print $2}')
      stored=$(sqlite3 "$dir/events.db" "SELECT count(*) FROM events" 2>/dev/null || echo "-")
      echo "round $round: $kind, $senders senders: $rps acknowledged/s, mean latency $lat, non-2xx $bad ${errors:+($errors)} stored $stored"
      RESULT["$kind-$senders-$round"]=$rps
      [ "$bad" = "0" ] || { echo "non-202 answers: the run is invalid"; exit 1; }
    done
  done
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Replay: a log of $EVENTS events over 10 topics, written with sqlite3 into the schema the daemon creates.
dir="$WORK/replay"; mkdir -p "$dir"; config sqlite "$dir"
start_daemon "$dir"
stop_daemon
sqlite3 "$dir/events.db" <<SQL
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $EVENTS)
INSERT INTO events(id, topic, type, data, is_json, time, source)
SELECT i, 'bench/t' || (i % 10), 'tick', '{"n":' || i || ',"payload":"a small webhook body, like most"}', 1,
       CAST(strftime('%s', 'now') AS INTEGER) * 1000, 'demo' FROM n;
INSERT OR IGNORE INTO topics(name) SELECT DISTINCT topic FROM events;
UPDATE meta SET value = $EVENTS WHERE key = 'last_id';
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
raw_start=$(date +%s.%N)
sqlite3 "$dir/events.db" "SELECT id, topic, type, data FROM events WHERE id > 0 ORDER BY id" > /dev/null
raw_end=$(date +%s.%N)
raw_rate=$(echo "$EVENTS / ($raw_end - $raw_start)" | bc -l | cut -d. -f1)
replay_rates=()
for round in $(seq 1 "$ROUNDS"); do
  start_daemon "$dir"
  result=$(python3 bench/store/replay_client.py "$PORT" bench-token 'bench/**' "$EVENTS")
  stop_daemon
  echo "round $round: replay $result"
  replay_rates+=("$(echo "$result" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events_per_second"])')")
done

mem1=$(median "${RESULT[memory-1-1]}" "${RESULT[memory-1-2]:-${RESULT[memory-1-1]}}")
sql1=$(median "${RESULT[sqlite-1-1]}" "${RESULT[sqlite-1-2]:-${RESULT[sqlite-1-1]}}")
mem16=$(median "${RESULT[memory-16-1]}" "${RESULT[memory-16-2]:-${RESULT[memory-16-1]}}")
sql16=$(median "${RESULT[sqlite-16-1]}" "${RESULT[sqlite-16-2]:-${RESULT[sqlite-16-1]}}")
replay=$(median "${replay_rates[@]}")
ratio() { echo "scale=2; $1 / $2" | bc -l; }

{
  echo "# Store benchmark, $(date -u +%Y-%m-%d) on $(nproc) cores ($(uname -m)), release build"
  echo
  echo "Medians of $ROUNDS rounds, ${SECONDS_PER_RUN}s each, wrk on the same machine; runs interleaved memory/sqlite."
  echo
  echo "| acknowledged webhooks/s | memory (baseline) | sqlite (sync: normal) | sqlite / memory |"
  echo "|---|---|---|---|"
  echo "| 1 sender | $mem1 | $sql1 | $(ratio "$sql1" "$mem1") |"
  echo "| 16 senders | $mem16 | $sql16 | $(ratio "$sql16" "$mem16") |"
  echo
  echo "| replay of $EVENTS events to one client | events/s | ratio to raw sqlite3 read |"
  echo "|---|---|---|"
  echo "| raw \`sqlite3\` SELECT to /dev/null (baseline) | $raw_rate | 1.00 |"
  echo "| hookstream, Last-Event-ID: 0 | $replay | $(ratio "$replay" "$raw_rate") |"
} | tee bench/store/RESULTS-latest.md
