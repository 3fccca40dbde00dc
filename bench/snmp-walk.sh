#!/usr/bin/env bash
# Full-device walk: `printwatch walk` against net-snmp's `snmpbulkwalk`, both
# walking the same recording served by `printwatch sim` (and by snmpsim when
# it is installed). Per case: objects walked, UDP packets and payload bytes in
# each direction (tcpdump on lo), wall time (hyperfine) and client CPU.
#
# usage: bench/snmp-walk.sh [RECORDING]      (see bench/README)
#
# Loopback only: the servers listen on $ADDR:$PORT and $SNMPSIM_ADDR:$SNMPSIM_PORT
# (127.77.0.x, high ports), never on 127.0.0.1, where a system snmpd may be.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<EOF
usage: bench/snmp-walk.sh [RECORDING]
  RECORDING  snmprec file to serve (default: the largest printmaster recording,
             ../shared/recordings/printmaster/snmprec/pm_kyocera_cs4053.snmprec)
environment (defaults in brackets):
  PRINTWATCH    printwatch binary [target/release/printwatch]
  ADDR, PORT    where printwatch sim listens [127.77.0.1, 16177]
  RUNS          timed runs per case [10] (hyperfine, after 2 warm-up runs)
  REPS          max-repetitions values [25 50]
  V3            also walk with v3 authPriv SHA/AES, max-repetitions 25 [1]
  SNMPSIM       snmpsim-command-responder, optional second server [$PRINTWATCH_SNMPSIM,
                else /opt/printwatch-ci/snmpsim-venv/bin/ (.ci/run's venv), else
                /tmp/snmpsim-venv/bin/ (../shared/recordings/README.md); "" to skip]
  SNMPSIM_ADDR, SNMPSIM_PORT  [127.77.0.2, 16178]
  OUT           directory for captures and raw results [a new temporary one]
needs: net-snmp tools (Debian: snmp), tcpdump and the right to capture on lo
(root or CAP_NET_RAW), hyperfine (optional: Debian hyperfine), awk.
EOF
}
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { usage; exit 0; }

REC=${1:-../shared/recordings/printmaster/snmprec/pm_kyocera_cs4053.snmprec}
PRINTWATCH=${PRINTWATCH:-target/release/printwatch}
ADDR=${ADDR:-127.77.0.1}
PORT=${PORT:-16177}
RUNS=${RUNS:-10}
REPS=${REPS:-25 50}
V3=${V3:-1}
if [[ -z "${SNMPSIM+set}" ]]; then
  SNMPSIM=${PRINTWATCH_SNMPSIM:-/opt/printwatch-ci/snmpsim-venv/bin/snmpsim-command-responder}
  [[ -x "$SNMPSIM" ]] || SNMPSIM=/tmp/snmpsim-venv/bin/snmpsim-command-responder
fi
SNMPSIM_ADDR=${SNMPSIM_ADDR:-127.77.0.2}
SNMPSIM_PORT=${SNMPSIM_PORT:-16178}
OUT=${OUT:-$(mktemp -d /tmp/printwatch-bench-walk.XXXXXX)}
mkdir -p "$OUT"

# Other work on the machine skews the numbers: say what there was.
machine_load() {
  local builds
  builds=$(pgrep -c -x 'cargo|rustc|cargo-fuzz|cc|ld|clang' 2>/dev/null || true)
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $builds cargo/rustc/cc/ld processes running"
}
LOAD_BEFORE=$(machine_load)
die() { echo "snmp-walk: $*" >&2; exit 1; }

# ---- prerequisites
[[ -f "$REC" ]] || die "no recording $REC (the shared recordings live in ../shared/recordings; or give a file)"
[[ -x "$PRINTWATCH" ]] || die "no $PRINTWATCH: build it with 'cargo build --release -p printwatch-cli' (or set PRINTWATCH)"
for tool in snmpbulkwalk snmpget; do
  command -v $tool >/dev/null || die "$tool missing: install net-snmp's tools (Debian: apt-get install snmp)"
done
command -v tcpdump >/dev/null || die "tcpdump missing (Debian: apt-get install tcpdump)"
if ! timeout 2 tcpdump -i lo -c 1 -w /dev/null 'udp and port 9' >/dev/null 2>"$OUT/tcpdump-check.err"; then
  # timeout's 124 is the normal end (nothing captured); anything else is a refusal
  if ! grep -q "listening on" "$OUT/tcpdump-check.err"; then
    cat "$OUT/tcpdump-check.err" >&2
    die "tcpdump cannot capture on lo: run as root or give tcpdump CAP_NET_RAW"
  fi
fi
HYPERFINE=$(command -v hyperfine || true)
[[ -n "$HYPERFINE" ]] || echo "snmp-walk: hyperfine not found (Debian: apt-get install hyperfine); timing with a loop of $RUNS runs, median" >&2
[[ "$ADDR" == 127.* && "$ADDR" != 127.0.0.1 ]] || die "ADDR must be a loopback address other than 127.0.0.1"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_for_agent() { # ADDR PORT COMMUNITY
  for _ in $(seq 1 100); do
    snmpget -v2c -c "$3" -t 0.2 -r 0 "$1:$2" 1.3.6.1.2.1.1.2.0 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "no agent answering on $1:$2"
}

# ---- timing: median wall time, mean user+system CPU, in milliseconds
time_case() { # NAME COMMAND...
  local name=$1; shift
  if [[ -n "$HYPERFINE" ]]; then
    "$HYPERFINE" -N --warmup 2 --runs "$RUNS" --export-csv "$OUT/$name.csv" "$*" >"$OUT/$name.hyperfine" 2>&1 \
      || { cat "$OUT/$name.hyperfine" >&2; die "$name: hyperfine failed"; }
    # command,mean,stddev,median,user,system,min,max (seconds)
    awk -F, 'NR==2 { printf "%.1f %.1f %.1f %.1f\n", $4*1000, ($5+$6)*1000, $7*1000, $8*1000 }' "$OUT/$name.csv"
  else
    local times=() t0 t1
    "$@" >/dev/null 2>&1; "$@" >/dev/null 2>&1
    for _ in $(seq 1 "$RUNS"); do
      t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
      times+=($(( (t1 - t0) / 1000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR]=$1 } END { m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.1f - %.1f %.1f\n", m/1000, a[1]/1000, a[NR]/1000 }'
  fi
}

# ---- packets: one run under tcpdump; prints "req_pkts req_bytes resp_pkts resp_bytes"
capture_case() { # NAME SERVER_ADDR SERVER_PORT COMMAND...
  local name=$1 saddr=$2 sport=$3; shift 3
  local pcap="$OUT/$name.pcap" try
  for try in 1 2 3 4 5; do
    # --immediate-mode: without it the last packets can still sit in the
    # capture buffer when tcpdump is stopped, and are lost. -B: 32 MiB of
    # buffer, for a busy machine.
    tcpdump -i lo --immediate-mode -B 32768 -U -n -w "$pcap" "udp and host $saddr and port $sport" \
      2>"$OUT/$name.tcpdump.err" &
    local tp=$!
    for _ in $(seq 1 50); do grep -q "listening on" "$OUT/$name.tcpdump.err" 2>/dev/null && break; sleep 0.1; done
    "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || die "$name failed: $(cat "$OUT/$name.err")"
    sleep 1
    kill -INT $tp; wait $tp 2>/dev/null || true
    grep -q "^0 packets dropped by kernel" "$OUT/$name.tcpdump.err" && break
    echo "snmp-walk: $name: tcpdump dropped packets (try $try): $(grep dropped "$OUT/$name.tcpdump.err")" >&2
    [[ $try == 5 ]] && die "$name: tcpdump keeps dropping packets; is the machine busy?"
  done
  # "... IP 127.0.0.1.40000 > 127.77.0.1.16177: UDP, length 47"
  tcpdump -r "$pcap" -n -q 2>/dev/null | awk -v dst="$saddr.$sport:" '
    { len = $NF; if ($5 == dst) { qn++; qb += len } else { rn++; rb += len } }
    END { printf "%d %d %d %d\n", qn, qb, rn, rb }'
}

# Objects in a walk's output: snmprec lines (printwatch), or "OID = ..." lines
# of snmpbulkwalk -On (a string value may span lines; those lines are not
# counted, nor its closing "No more variables left in this MIB View").
# Also writes the sorted OID list, to compare the two tools.
count_objects() { # NAME KIND
  local f="$OUT/$1.out"
  if [[ $2 == printwatch ]]; then
    cut -d'|' -f1 "$f" | sort >"$OUT/$1.oids"
  else
    grep -E '^\.[0-9.]+ = ' "$f" | grep -vE ' = (No more variables left|No Such (Object|Instance))' | sed -E 's/^\.([0-9.]+) = .*/\1/' | sort >"$OUT/$1.oids"
  fi
  wc -l <"$OUT/$1.oids"
}

RESULTS="$OUT/results.tsv"
: >"$RESULTS"

run_case() { # SERVER LABEL TOOL VERSION REPS SADDR SPORT COMMAND...
  local server=$1 label=$2 tool=$3 version=$4 reps=$5 saddr=$6 sport=$7; shift 7
  local name="$server-$label"
  echo "== $name: $*" >&2
  local packets objects timing
  packets=$(capture_case "$name" "$saddr" "$sport" "$@")
  objects=$(count_objects "$name" "$tool")
  timing=$(time_case "$name" "$@")
  local p t
  read -ra p <<<"$packets"; read -ra t <<<"$timing"
  printf '%s\t' "$server" "$tool" "$version" "$reps" "$objects" "${p[@]}" "${t[@]}" >>"$RESULTS"
  printf '%s\n' "$*" >>"$RESULTS"
  # columns: server tool version reps objects req_pkts req_bytes resp_pkts resp_bytes median_ms cpu_ms min_ms max_ms command
}

V3_PW=(--snmp-version 3 --user simulator --auth-protocol sha --auth-password auctoritas --priv-protocol aes --priv-password privatus)
V3_NS=(-v3 -l authPriv -u simulator -a SHA -A auctoritas -x AES -X privatus)
# net-snmp: numeric OIDs, no MIB files loaded (printwatch loads none either)
NS=(snmpbulkwalk -m '' -On -t 2 -r 1)

cases_for_server() { # SERVER SADDR SPORT COMMUNITY CONTEXT
  local server=$1 saddr=$2 sport=$3 community=$4 context=$5
  local target="$saddr:$sport" ctx_pw=() ctx_ns=()
  if [[ -n "$context" ]]; then ctx_pw=(--context "$context"); ctx_ns=(-n "$context"); fi
  for r in $REPS; do
    run_case "$server" "snmpbulkwalk-v2c-r$r" net-snmp 2c "$r" "$saddr" "$sport" \
      "${NS[@]}" -v2c -c "$community" -Cr"$r" "$target" .1
    run_case "$server" "printwatch-v2c-r$r" printwatch 2c "$r" "$saddr" "$sport" \
      "$PRINTWATCH" walk --community "$community" --max-repetitions "$r" "$target"
  done
  # The fixed cost of one invocation (process start, one exchange): a walk of
  # sysDescr alone.
  run_case "$server" "snmpbulkwalk-v2c-sysdescr" net-snmp 2c "25, sysDescr only" "$saddr" "$sport" \
    "${NS[@]}" -v2c -c "$community" -Cr25 "$target" .1.3.6.1.2.1.1.1
  run_case "$server" "printwatch-v2c-sysdescr" printwatch 2c "25, sysDescr only" "$saddr" "$sport" \
    "$PRINTWATCH" walk --community "$community" "$target" 1.3.6.1.2.1.1.1
  if [[ "$V3" == 1 ]]; then
    run_case "$server" "snmpbulkwalk-v3-r25" net-snmp 3 25 "$saddr" "$sport" \
      "${NS[@]}" "${V3_NS[@]}" "${ctx_ns[@]}" -Cr25 "$target" .1
    run_case "$server" "printwatch-v3-r25" printwatch 3 25 "$saddr" "$sport" \
      "$PRINTWATCH" walk "${V3_PW[@]}" "${ctx_pw[@]}" --max-repetitions 25 "$target"
  fi
}

# ---- server 1: printwatch sim
"$PRINTWATCH" sim --bind "$ADDR" --port "$PORT" --map "$OUT/sim.map" "$REC" 2>"$OUT/sim.err" &
PIDS+=($!)
wait_for_agent "$ADDR" "$PORT" public
cases_for_server "printwatch-sim" "$ADDR" "$PORT" public ""

# ---- server 2 (optional): snmpsim
if [[ -n "$SNMPSIM" && -x "$SNMPSIM" ]]; then
  base=$(basename "$REC" .snmprec)
  mkdir -p "$OUT/snmpsim-data" "$OUT/snmpsim-cache"
  cp "$REC" "$OUT/snmpsim-data/"
  chmod -R a+rwX "$OUT/snmpsim-cache" "$OUT/snmpsim-data"; chmod a+rx "$OUT"
  user_opts=()
  [[ $(id -u) == 0 ]] && user_opts=(--process-user=nobody --process-group=nogroup)
  "$SNMPSIM" --data-dir="$OUT/snmpsim-data" --cache-dir="$OUT/snmpsim-cache" \
    --agent-udpv4-endpoint="$SNMPSIM_ADDR:$SNMPSIM_PORT" "${user_opts[@]}" \
    --v3-user=simulator --v3-auth-key=auctoritas --v3-auth-proto=SHA \
    --v3-priv-key=privatus --v3-priv-proto=AES >"$OUT/snmpsim.log" 2>&1 &
  PIDS+=($!)
  wait_for_agent "$SNMPSIM_ADDR" "$SNMPSIM_PORT" "$base"
  cases_for_server "snmpsim" "$SNMPSIM_ADDR" "$SNMPSIM_PORT" "$base" "$base"
else
  echo "snmp-walk: snmpsim not found at '${SNMPSIM}': second server skipped (see ../shared/recordings/README.md)" >&2
fi

# ---- the OID sets of the two tools must match
for f in "$OUT"/*-printwatch-v2c-r25.oids; do
  server=$(basename "$f" -printwatch-v2c-r25.oids)
  if cmp -s "$f" "$OUT/$server-snmpbulkwalk-v2c-r25.oids"; then
    echo "$server: printwatch walk and snmpbulkwalk returned the same $(wc -l <"$f") OIDs" >&2
  else
    echo "$server: WARNING: the OID sets differ (diff $f $OUT/$server-snmpbulkwalk-v2c-r25.oids)" >&2
  fi
done

# ---- report (markdown); ratios against snmpbulkwalk, same server, version and max-repetitions
echo
echo "recording: $REC ($(grep -c . "$REC") lines); results in $OUT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "before: $LOAD_BEFORE"
echo "after:  $(machine_load)"
echo
echo "| server | client | version | max-rep | objects | requests (pkts / bytes) | responses (pkts / bytes) | wall median ms | client CPU ms | pkts ratio | bytes ratio | wall ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
  { key = $1 SUBSEP $3 SUBSEP $4; row[NR] = $0
    if ($2 == "net-snmp") { bp[key] = $6 + $8; bb[key] = $7 + $9; bw[key] = $10 } }
  END { for (i = 1; i <= NR; i++) { split(row[i], c, "\t"); key = c[1] SUBSEP c[3] SUBSEP c[4]
          printf "| %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s | %.2f | %.2f | %.2f |\n",
            c[1], c[2] == "net-snmp" ? "snmpbulkwalk" : "printwatch walk", c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11],
            (c[6]+c[8]) / bp[key], (c[7]+c[9]) / bb[key], c[10] / bw[key] } }' "$RESULTS"
echo
echo "commands:"
cut -f14 "$RESULTS" | sed 's/^/    /'
