#!/usr/bin/env bash
# The agent's resident memory idle and while monitoring 2,000 simulated
# printers, and the seconds from `printwatch demo` to every device in the
# API (issue 9). Loopback only: the fleet on 127.210.0.0/21 (UDP 16400), the
# server on 127.0.0.1. Needs curl and python3.
#   bench/agent.sh            (MONITOR_SECS=240 COUNT=2040 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p printwatch-cli --bin printwatch
PW="$PWD/target/release/printwatch"
COUNT="${COUNT:-2040}"           # 51 recordings: 50 printers and a router, round robin
MONITOR_SECS="${MONITOR_SECS:-240}"
TMP="$(mktemp -d /tmp/printwatch-agent-bench.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

rss() { awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "%.1f MB resident, %.1f MB peak", r/1024, h/1024}' "/proc/$1/status"; }

echo "== printwatch demo: seconds until every device is in the API"
start=$(date +%s.%N)
"$PW" demo --listen 127.0.0.1:0 --stop-after 2 >"$TMP/demo.out" 2>/dev/null &
demo=$!
while ! grep -q "the agent delivered" "$TMP/demo.out" 2>/dev/null; do
  kill -0 "$demo" 2>/dev/null || { echo "demo ended early"; cat "$TMP/demo.out"; exit 1; }
  sleep 0.05
done
end=$(date +%s.%N)
head -n 1 "$TMP/demo.out"
python3 -c "print(f'from start to every device visible: {$end - $start:.1f} s')"
wait "$demo" || true

echo "== fleet: $COUNT addresses on 127.210.0.0/21"
"$PW" demo --write-recordings "$TMP/rec" --printers 50 >/dev/null 2>&1
"$PW" sim --bind 127.210.0.0/21 --count "$COUNT" --port 16400 --unique --pages-per-minute 2 \
  --map "$TMP/map.txt" "$TMP"/rec/*.snmprec 2>"$TMP/sim.log" &
PIDS+=($!)
sleep 3

echo "== server"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PRINTWATCH_ADMIN_PASSWORD=bench-password "$PW" server --data "$TMP/server" --listen "127.0.0.1:$PORT" \
  --admin-email admin@localhost >"$TMP/server.log" 2>&1 &
PIDS+=($!)
until curl -s "http://127.0.0.1:$PORT/api/v1/openapi.json" >/dev/null; do sleep 0.2; done
api() { curl -s -X "$1" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' "http://127.0.0.1:$PORT$2" ${3:+-d "$3"}; }
TOKEN=$(curl -s -X POST -H 'content-type: application/json' -d '{"email":"admin@localhost","password":"bench-password"}' \
  "http://127.0.0.1:$PORT/api/v1/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
TENANT=$(api GET /api/v1/tenants | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
code() { api POST /api/v1/agents "{\"tenant_id\": $TENANT, \"name\": \"$1\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["activation_code"])'; }

echo "== agent, idle (activated, no ranges)"
"$PW" agent activate --server "http://127.0.0.1:$PORT" --code "$(code idle)" --state "$TMP/idle" >/dev/null
printf '[heartbeat]\nevery = "10s"\n' >"$TMP/idle.toml"
"$PW" agent run --state "$TMP/idle" --config "$TMP/idle.toml" 2>"$TMP/idle.log" &
idle=$!; PIDS+=($idle)
sleep 30
echo "idle: $(rss $idle)"
kill "$idle"

echo "== agent monitoring the fleet (collect every 1m, $MONITOR_SECS s)"
"$PW" agent activate --server "http://127.0.0.1:$PORT" --code "$(code fleet)" --state "$TMP/fleet" >/dev/null
cat >"$TMP/fleet.toml" <<TOML
[scan]
ranges = ["127.210.0.0/21"]
port = 16400
rate = 2000
every = "1h"
[collect]
every = "1m"
[heartbeat]
every = "30s"
TOML
"$PW" agent run --state "$TMP/fleet" --config "$TMP/fleet.toml" 2>"$TMP/fleet.log" &
agent=$!; PIDS+=($agent)
for ((t = 0; t < MONITOR_SECS; t += 30)); do
  sleep 30
  devices=$("$PW" agent status --state "$TMP/fleet" --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["devices"], "devices,", s["collections"], "collections, spool", s["spool_records"])')
  echo "t=$((t + 30))s: $(rss $agent); $devices"
done
echo "in the API: $(api GET '/api/v1/devices?limit=1' >/dev/null; api GET /api/v1/agents | python3 -c 'import json,sys; a=[x for x in json.load(sys.stdin) if x["name"]=="fleet"][0]; print(a["devices"], "devices reported by the agent, status", a["status"])')"
