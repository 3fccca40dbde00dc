#!/usr/bin/env bash
# Discovery at network scale (issue 4): `printwatch scan` on simulated ranges.
#
#   24  a /24 with 21 synthetic printers, side by side with FusionInventory's
#       fusioninventory-netdiscovery (20 threads, 1 s timeout) on the same
#       range in the same run; optionally FusionInventory with its default of
#       one thread, once.
#   16  a /16 with 2,000 printers (the first 2,000 addresses), discovered and
#       collected with default settings and with the send rate raised.
#
# usage: bench/scan.sh [24|16|all]     (see --help)
#
# Loopback only: 127.95.0.0/24 and 127.96.0.0/16 on high ports, never
# 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<EOF
usage: bench/scan.sh [24|16|all]      (default: all)
  24   /24 with 21 printers: printwatch scan vs fusioninventory-netdiscovery
  16   /16 with 2,000 printers: printwatch scan, default rate and --rate \$RATE
environment (defaults in brackets):
  PRINTWATCH  printwatch binary [target/release/printwatch]
  OUT         directory for recordings, outputs and raw timings [a new one in /tmp]
  NET24, PORT24, PRINTERS24  [127.95.0.0/24, 16461, 21]
  RUNS24      timed runs of each tool on the /24 [5] (hyperfine if installed)
  FI_THREADS  threads of fusioninventory-netdiscovery [20]
  FI_ONE      also run FusionInventory with its default of one thread, once [1]
  FI_ONE_LIMIT  seconds after which that run is stopped [600]
  NET16, PORT16, PRINTERS16  [127.96.0.0/16, 16462, 2000]
  RUNS16      runs of each /16 case [3]
  RATE        raised send rate (probes per second) for the second /16 case [10000]
  NET_EMPTY, PORT_EMPTY  control: a /16 with nothing on that port [127.99.0.0/16, 16999]
needs: printwatch (release build: cargo build --release -p printwatch-cli),
GNU time as /usr/bin/time (Debian: time), awk, grep; for the /24 comparison
fusioninventory-netdiscovery (Debian: fusioninventory-agent
fusioninventory-agent-task-network); hyperfine optional (Debian: hyperfine).
Run on an otherwise idle machine: the simulator and the scanner share it.
EOF
}
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { usage; exit 0; }
CASES=${1:-all}
case "$CASES" in 24|16|all) ;; *) usage >&2; exit 2 ;; esac

PRINTWATCH=${PRINTWATCH:-target/release/printwatch}
OUT=${OUT:-$(mktemp -d /tmp/printwatch-bench-scan.XXXXXX)}
NET24=${NET24:-127.95.0.0/24}
PORT24=${PORT24:-16461}
PRINTERS24=${PRINTERS24:-21}
RUNS24=${RUNS24:-5}
FI_THREADS=${FI_THREADS:-20}
FI_ONE=${FI_ONE:-1}
FI_ONE_LIMIT=${FI_ONE_LIMIT:-600}
NET16=${NET16:-127.96.0.0/16}
PORT16=${PORT16:-16462}
PRINTERS16=${PRINTERS16:-2000}
RUNS16=${RUNS16:-3}
RATE=${RATE:-10000}
NET_EMPTY=${NET_EMPTY:-127.99.0.0/16}
PORT_EMPTY=${PORT_EMPTY:-16999}
mkdir -p "$OUT"

die() { echo "scan.sh: $*" >&2; exit 1; }
[[ -x "$PRINTWATCH" ]] || die "no printwatch binary at $PRINTWATCH: build it (cargo build --release -p printwatch-cli) or set PRINTWATCH"
[[ -x /usr/bin/time ]] || die "GNU time is needed as /usr/bin/time (Debian: apt-get install time)"
/usr/bin/time -f %M true 2>/dev/null || die "/usr/bin/time is not GNU time (-f %M)"
FI=$(command -v fusioninventory-netdiscovery || true)
if [[ "$CASES" != 16 && -z "$FI" ]]; then
  die "fusioninventory-netdiscovery not found (Debian: apt-get install fusioninventory-agent fusioninventory-agent-task-network); run 'bench/scan.sh 16' to skip the comparison"
fi
HYPERFINE=$(command -v hyperfine || true)
[[ "$NET24 $NET16 $NET_EMPTY" == *127.0.0.* ]] && die "stay off 127.0.0.0/24"

machine_load() {
  local builds
  builds=$(pgrep -c -x 'cargo|rustc|cc|ld|clang' 2>/dev/null || true)
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $builds cargo/rustc/cc/ld processes running"
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); printwatch $(git rev-parse --short HEAD 2>/dev/null || echo '?'); raw files in $OUT"
echo "before: $(machine_load)"

SIM_PID=
stop_sim() {
  if [[ -n "$SIM_PID" ]]; then
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
    SIM_PID=
  fi
}
trap stop_sim EXIT

# start_sim NAME BLOCK COUNT PORT RECORDINGS: RECORDINGS synthetic printer
# recordings (`printwatch demo --write-recordings`, 16 vendors) served round
# robin with --unique on the first COUNT addresses of BLOCK.
start_sim() {
  local name=$1 block=$2 count=$3 port=$4 n=$5 rec="$OUT/recordings-$5"
  if ss -Huln "sport = :$port" | grep -q "${block%.*}"; then
    die "something already listens on port $port in $block"
  fi
  if [[ ! -d "$rec" ]]; then
    "$PRINTWATCH" demo --write-recordings "$rec" --printers "$n" >/dev/null 2>&1
    # Printers only: the demo fleet also has a router (zz-router).
    rm -f "$rec"/zz-*.snmprec
  fi
  "$PRINTWATCH" sim --bind "$block" --count "$count" --port "$port" --unique \
    --map "$OUT/$name.map" "$rec" >"$OUT/$name.sim.log" 2>&1 &
  SIM_PID=$!
  local i
  for i in $(seq 100); do
    grep -q serving "$OUT/$name.sim.log" && break
    kill -0 "$SIM_PID" 2>/dev/null || die "printwatch sim stopped: $(cat "$OUT/$name.sim.log")"
    sleep 0.2
  done
  grep -q serving "$OUT/$name.sim.log" || die "printwatch sim did not start"
}

# Datagrams the kernel dropped because a socket's receive buffer was full.
rcvbuf_errors() { awk '/^Udp:/ { if (!h) { for (i=1;i<=NF;i++) if ($i=="RcvbufErrors") c=i; h=1 } else print $c }' /proc/net/snmp; }

# CPU seconds (user+system) a process has used so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$1/stat"; }

# stats FILE COLUMN: "median (min–max)" of a column of numbers.
stats() {
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '
    {v[NR]=$1} END {
      if (NR == 0) { print "-"; exit }
      m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
      printf "%g (%g–%g)", m, v[1], v[NR] }'
}
median() {
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '
    {v[NR]=$1} END { if (NR == 0) { print 0; exit }
      print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'
}
join_col() { awk -v c="$2" '{printf "%s%s", (NR>1 ? " · " : ""), $c}' "$1"; }

bench24() {
  local first last pw fi
  start_sim s24 "$NET24" "$PRINTERS24" "$PORT24" "$PRINTERS24"
  # The /24's usable addresses: .1 to .254.
  first=${NET24%/*}; first=${first%.*}.1
  last=${first%.*}.254
  rm -f "$OUT"/pw24.* "$OUT"/fi24.*
  # Each run appends "wall rss_kb user sys" and what it found.
  pw="/usr/bin/time -a -o $OUT/pw24.time -f '%e %M %U %S' $PRINTWATCH scan $NET24 --port $PORT24 --timeout 1 --json >$OUT/pw24.out 2>$OUT/pw24.err; echo \$(wc -l <$OUT/pw24.out) \$(grep -o '\"serial\":\"[^\"]*\"' $OUT/pw24.out | sort -u | wc -l) >>$OUT/pw24.found"
  fi="/usr/bin/time -a -o $OUT/fi24.time -f '%e %M %U %S' $FI --first $first --last $last --port $PORT24 --community public --threads $FI_THREADS --timeout 1 >$OUT/fi24.out 2>$OUT/fi24.err; echo \$(grep -c '<TYPE>PRINTER</TYPE>' $OUT/fi24.out) \$(grep -o '<SERIAL>[^<]*' $OUT/fi24.out | sort -u | wc -l) \$(grep -c '<DEVICE>' $OUT/fi24.out) >>$OUT/fi24.found"
  echo "/24: $RUNS24 runs each; during: $(machine_load)"
  if [[ -n "$HYPERFINE" ]]; then
    "$HYPERFINE" --runs "$RUNS24" --warmup 0 --export-json "$OUT/h24.json" \
      -n "printwatch scan" "$pw" -n "fusioninventory-netdiscovery --threads $FI_THREADS" "$fi" >"$OUT/h24.txt"
  else
    local i
    for i in $(seq "$RUNS24"); do bash -c "$pw"; bash -c "$fi"; done
  fi
  local one="not run"
  if [[ "$FI_ONE" == 1 ]]; then
    echo "/24: FusionInventory with one thread, once (stopped after $FI_ONE_LIMIT s)"
    if /usr/bin/time -o "$OUT/fi1.time" -f '%e %M %U %S' timeout "$FI_ONE_LIMIT" \
        "$FI" --first "$first" --last "$last" --port "$PORT24" --community public --timeout 1 \
        >"$OUT/fi1.out" 2>"$OUT/fi1.err"; then
      one="$(awk '{print $1}' "$OUT/fi1.time") s, $(awk '{printf "%.0f", $2/1024}' "$OUT/fi1.time") MB, $(grep -c '<TYPE>PRINTER</TYPE>' "$OUT/fi1.out" || true) printers"
    else
      one="stopped after $FI_ONE_LIMIT s"
    fi
  fi
  stop_sim
  local pwm fim
  pwm=$(median "$OUT/pw24.time" 1); fim=$(median "$OUT/fi24.time" 1)
  echo
  echo "| /24, $PRINTERS24 printers, 1 s timeout | wall s, median (min–max) | peak RSS MB, median | CPU s (user+sys), median | printers found per run |"
  echo "|---|---|---|---|---|"
  echo "| printwatch scan | $(stats "$OUT/pw24.time" 1) | $(awk '{print $2/1024}' "$OUT/pw24.time" | sort -g | awk '{v[NR]=$1} END {printf "%.1f", v[int((NR+1)/2)]}') | $(awk '{print $3+$4}' "$OUT/pw24.time" | sort -g | awk '{v[NR]=$1} END {printf "%.2f", v[int((NR+1)/2)]}') | $(join_col "$OUT/pw24.found" 1) |"
  echo "| fusioninventory-netdiscovery, $FI_THREADS threads | $(stats "$OUT/fi24.time" 1) | $(awk '{print $2/1024}' "$OUT/fi24.time" | sort -g | awk '{v[NR]=$1} END {printf "%.1f", v[int((NR+1)/2)]}') | $(awk '{print $3+$4}' "$OUT/fi24.time" | sort -g | awk '{v[NR]=$1} END {printf "%.2f", v[int((NR+1)/2)]}') | $(join_col "$OUT/fi24.found" 1) |"
  echo
  echo "wall time ratio FusionInventory/printwatch (medians): $(awk -v a="$fim" -v b="$pwm" 'BEGIN {printf "%.1f×", a/b}')"
  echo "distinct serials per run: printwatch $(join_col "$OUT/pw24.found" 2); FusionInventory $(join_col "$OUT/fi24.found" 2) (FusionInventory <DEVICE> entries, ping included: $(join_col "$OUT/fi24.found" 3))"
  echo "FusionInventory, one thread (default): $one"
  [[ -n "$HYPERFINE" ]] && { echo; cat "$OUT/h24.txt"; }
  echo
}

bench16() {
  # 16 recordings, one per vendor: with 21, --unique gives some pairs of
  # same-family recordings (KY…05 and KY…21) the same serial at addresses 26
  # apart, and the scan rightly reports each such pair as one device.
  start_sim s16 "$NET16" "$PRINTERS16" "$PORT16" 16
  echo "/16: $(wc -l <"$OUT/s16.map") agents served; sim RSS $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$SIM_PID/status"); during: $(machine_load)"
  local label args i before after
  echo
  local drops0 drops1 wall rss user sys
  echo "| /16, $PRINTERS16 printers | run | wall s | peak RSS MB | scanner CPU s (user / sys) | simulator CPU s | UDP rcvbuf drops (whole machine) | printers (JSON lines) | distinct serials | stderr summary |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for label in default "--rate $RATE"; do
    args=()
    [[ "$label" == default ]] || args=(--rate "$RATE")
    for i in $(seq "$RUNS16"); do
      before=$(cpu_of "$SIM_PID"); drops0=$(rcvbuf_errors)
      /usr/bin/time -o "$OUT/s16.time" -f '%e %M %U %S' "$PRINTWATCH" scan "$NET16" --port "$PORT16" "${args[@]}" --json \
        >"$OUT/s16.out" 2>"$OUT/s16.err"
      after=$(cpu_of "$SIM_PID"); drops1=$(rcvbuf_errors)
      read -r wall rss user sys <"$OUT/s16.time"
      echo "| $label | $i | $wall | $(awk -v k="$rss" 'BEGIN {printf "%.1f", k/1024}') | $user / $sys | $(awk -v a="$before" -v b="$after" 'BEGIN {printf "%.2f", b-a}') | $((drops1 - drops0)) | $(wc -l <"$OUT/s16.out") | $(grep -o '"serial":"[^"]*"' "$OUT/s16.out" | sort -u | wc -l) | $(grep -m1 ' printers on ' "$OUT/s16.err") |"
      cp "$OUT/s16.out" "$OUT/s16.$((${#args[@]} ? 2 : 1)).$i.json"
    done
  done
  # Control: a /16 where no socket listens on the port (the simulator still
  # runs). On Linux ≥ 6.13 a datagram that finds no socket by address ends
  # in a lookup by port alone, which walks every socket bound to that port:
  # here the simulator's $PRINTERS16, a cost of this setup, not of a network.
  for label in default "--rate $RATE"; do
    args=()
    [[ "$label" == default ]] || args=(--rate "$RATE")
    # Nothing answers: `scan` exits 3 (no printer found, no address answered).
    status=0
    /usr/bin/time -o "$OUT/s16.time" -f '%e %M %U %S' "$PRINTWATCH" scan "$NET_EMPTY" --port "$PORT_EMPTY" "${args[@]}" \
      >/dev/null 2>"$OUT/empty.err" || status=$?
    [[ $status == 3 ]] || { echo "control scan: exit $status, expected 3"; cat "$OUT/empty.err"; exit 1; }
    read -r wall rss user sys <"$OUT/s16.time"
    echo "| control: $NET_EMPTY, no agent on port $PORT_EMPTY, $label | 1 | $wall | $(awk -v k="$rss" 'BEGIN {printf "%.1f", k/1024}') | $user / $sys | - | - | - | - | $(grep -m1 ' printers on ' "$OUT/empty.err") |"
  done
  stop_sim
  echo
}

[[ "$CASES" == 16 ]] || bench24
[[ "$CASES" == 24 ]] || bench16
echo "after: $(machine_load)"
