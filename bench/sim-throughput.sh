#!/usr/bin/env bash
# Simulator throughput: `printwatch sim` with 1,000 agents (one per loopback
# address) under GET load from crates/sim/examples/load.rs for a fixed time.
# Reports answers/s, latency, the simulator's resident memory and the CPU
# time of both processes (they share the machine's cores).
#
# usage: bench/sim-throughput.sh [RECORDING...]      (see bench/README)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<EOF
usage: bench/sim-throughput.sh [RECORDING...]
  RECORDING  snmprec files, one simulator run each (default:
             ../shared/recordings/librenms/snmprec/jetdirect.snmprec and
             examples/recordings/acme-laser.snmprec)
environment (defaults in brackets):
  PRINTWATCH   printwatch binary [target/release/printwatch]
  LOAD         load generator [target/release/examples/load]
  BIND, COUNT, PORT   simulator addresses [127.90.0.0/22, 1000, 16190]
  DURATION     seconds measured per case, after 1 s of warm-up [10]
  VERSIONS     SNMP versions to load with [2c 3] (3 = authPriv SHA/AES)
  PER_TARGET   requests in flight per agent [1]
  CLIENTS      load generator clients [async-snmp printwatch]: async-snmp's client
               with a 4 MiB socket receive buffer, or printwatch's SnmpEngine
               (OS default buffer); printwatch is run with v2c only
  OUT          directory for raw results [a new temporary one]
build both binaries first:
  cargo build --release -p printwatch-cli --bin printwatch -p printwatch-sim --example load
EOF
}
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { usage; exit 0; }

PRINTWATCH=${PRINTWATCH:-target/release/printwatch}
LOAD=${LOAD:-target/release/examples/load}
BIND=${BIND:-127.90.0.0/22}
COUNT=${COUNT:-1000}
PORT=${PORT:-16190}
DURATION=${DURATION:-10}
VERSIONS=${VERSIONS:-2c 3}
PER_TARGET=${PER_TARGET:-1}
CLIENTS=${CLIENTS:-async-snmp printwatch}
OUT=${OUT:-$(mktemp -d /tmp/printwatch-bench-sim.XXXXXX)}
mkdir -p "$OUT"
if [[ $# -gt 0 ]]; then RECS=("$@"); else
  RECS=(../shared/recordings/librenms/snmprec/jetdirect.snmprec examples/recordings/acme-laser.snmprec)
fi

# One GET = one PDU: sysDescr.0 alone, or six objects a collector reads.
ONE=1.3.6.1.2.1.1.1.0
SIX=1.3.6.1.2.1.1.1.0,1.3.6.1.2.1.1.2.0,1.3.6.1.2.1.1.3.0,1.3.6.1.2.1.43.11.1.1.6.1.1,1.3.6.1.2.1.43.11.1.1.8.1.1,1.3.6.1.2.1.43.11.1.1.9.1.1

# Other work on the machine skews the numbers: say what there was.
machine_load() {
  local builds
  builds=$(pgrep -c -x 'cargo|rustc|cargo-fuzz|cc|ld|clang' 2>/dev/null || true)
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $builds cargo/rustc/cc/ld processes running"
}
LOAD_BEFORE=$(machine_load)
die() { echo "sim-throughput: $*" >&2; exit 1; }
build_hint="cargo build --release -p printwatch-cli --bin printwatch -p printwatch-sim --example load"
[[ -x "$PRINTWATCH" ]] || die "no $PRINTWATCH: build it with '$build_hint'"
[[ -x "$LOAD" ]] || die "no $LOAD: build it with '$build_hint'"
for r in "${RECS[@]}"; do [[ -f "$r" ]] || die "no recording $r"; done
[[ "$BIND" == 127.* ]] || die "BIND must be a loopback block (127.0.0.0/8)"
command -v ps >/dev/null || die "ps missing (Debian: apt-get install procps)"

SIM=""
cleanup() { [[ -n "$SIM" ]] && kill "$SIM" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

RESULTS="$OUT/results.tsv"
: >"$RESULTS"
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

for rec in "${RECS[@]}"; do
  name=$(basename "$rec" .snmprec)
  echo "== $name: starting $COUNT agents" >&2
  t0=$(date +%s%N)
  "$PRINTWATCH" sim --bind "$BIND" --count "$COUNT" --port "$PORT" --map "$OUT/$name.map" "$rec" 2>"$OUT/$name.sim.err" &
  SIM=$!
  for _ in $(seq 1 300); do
    grep -q "^serving" "$OUT/$name.sim.err" 2>/dev/null && break
    kill -0 "$SIM" 2>/dev/null || die "printwatch sim stopped: $(cat "$OUT/$name.sim.err")"
    sleep 0.05
  done
  grep -q "^serving" "$OUT/$name.sim.err" || die "printwatch sim did not start in 15 s"
  start_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  idle_rss=$(ps -o rss= -p "$SIM" | tr -d ' ')
  objects=$(grep -c . "$rec")
  for client in $CLIENTS; do
  for version in $VERSIONS; do
    [[ $client == printwatch && $version != 2c ]] && continue
    for oids in ONE SIX; do
      case_name="$name-$client-v$version-$oids"
      echo "== $case_name" >&2
      cmd=("$LOAD" --client "$client" --map "$OUT/$name.map" --duration "$DURATION" --per-target "$PER_TARGET"
           --snmp-version "$version" --oids "${!oids}" --watch-pid "$SIM")
      "${cmd[@]}" >"$OUT/$case_name.txt" 2>"$OUT/$case_name.err" || die "$case_name: $(cat "$OUT/$case_name.err")"
      f="$OUT/$case_name.txt"
      n_oids=$(val oids_per_get "$f")
      printf '%s\t' "$name" "$objects" "$start_ms" "$idle_rss" "$client" "$version" "$n_oids" \
        "$(val answers_per_s "$f")" "$(val varbinds_per_s "$f")" "$(val timeouts "$f")" \
        "$(val latency_p50_us "$f")" "$(val latency_p99_us "$f")" \
        "$(val sim_cpu_user_s "$f")" "$(val sim_cpu_sys_s "$f")" "$(val sim_cpu_us_per_answer "$f")" \
        "$(val load_cpu_user_s "$f")" "$(val load_cpu_sys_s "$f")" "$(val sim_rss_kib "$f")" \
        "$(val udp_rcvbuf_drops "$f")" >>"$RESULTS"
      printf '%s\n' "${cmd[*]}" >>"$RESULTS"
      sleep 1
    done
  done
  done
  kill "$SIM"; wait "$SIM" 2>/dev/null || true; SIM=""
  sleep 1
done

echo
echo "$COUNT agents on $BIND port $PORT; ${DURATION} s per case; $PER_TARGET request(s) in flight per agent; results in $OUT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "before: $LOAD_BEFORE"
echo "after:  $(machine_load)"
echo "CPU seconds are over the measured window (wall ${DURATION} s, 2 cores = $((2 * DURATION)) CPU-s available)"
echo
echo "| recording (lines) | start ms | sim RSS idle / loaded MB | client | version | OIDs per GET | answers/s | varbinds/s | timeouts | UDP drops | latency p50 / p99 ms | sim CPU s | sim µs per answer | load gen CPU s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s (%s) | %s | %.1f / %.1f | %s | %s | %s | %s | %s | %s | %s | %.2f / %.2f | %.2f | %s | %.2f |\n",
  $1, $2, $3, $4/1024, $18/1024, $5, $6, $7, $8, $9, $10, $19, $11/1000, $12/1000, $13+$14, $15, $16+$17 }' "$RESULTS"
echo
echo "commands:"
cut -f20 "$RESULTS" | sed 's/^/    /'
