#!/usr/bin/env bash
# Packets and bytes of one collection (issue 3): `printwatch collect` (v2c)
# beside FusionInventory's `fusioninventory-netinventory` (Debian package
# fusioninventory-agent-task-network), on the same recordings, served by the
# same `printwatch sim`, in the same run.
#
# usage: bench/collect.sh [RECORDING...]      (see --help and bench/README)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<EOF
usage: bench/collect.sh [RECORDING...]
  RECORDING  snmprec files (default: every full or partial walk of the shared
             recordings, \$PRINTWATCH_RECORDINGS/librenms/snmprec/*.snmprec and
             \$PRINTWATCH_RECORDINGS/printmaster/snmprec/*.snmprec)
All the recordings are served at once by one \`printwatch sim\`, one loopback
address each. Per recording, each tool collects the device once under tcpdump
(UDP datagrams and payload bytes each way), then RUNS times for the wall time
(median). Whether each found the serial, the model and a page counter is read
from its output (printwatch's JSON; FusionInventory's XML <SERIAL>, <MODEL>,
<PAGECOUNTERS>).
environment (defaults in brackets):
  PRINTWATCH_RECORDINGS  the shared recordings [../shared/recordings]
  PRINTWATCH   printwatch binary [target/release/printwatch]
  NETINV       FusionInventory's netinventory [fusioninventory-netinventory]
  BIND, PORT   simulator block and port [127.97.0.0/24, 161]; loopback only,
               never 127.0.0.0/24 (a system snmpd may listen there)
  FUSION_CREDENTIALS   netinventory --credentials [version:2c,community:public]
               (its --community alone means SNMPv1)
  FUSION_TYPE  netinventory --type, e.g. PRINTER [none: it detects the type]
  RUNS         timed runs per tool and recording [5]
  LIMIT        seconds allowed to one collection [120]
  OUT          directory for raw results [a new temporary one]
Needs (Debian): fusioninventory-agent-task-network, tcpdump, snmp (snmpget),
python3, hyperfine (optional), and root or CAP_NET_RAW (tcpdump on lo) and
CAP_NET_BIND_SERVICE (port 161; FusionInventory can use another with PORT).
Build first:
  cargo build --release -p printwatch-cli --no-default-features
EOF
}
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { usage; exit 0; }

RECDIR=${PRINTWATCH_RECORDINGS:-../shared/recordings}
PRINTWATCH=${PRINTWATCH:-target/release/printwatch}
NETINV=${NETINV:-fusioninventory-netinventory}
BIND=${BIND:-127.97.0.0/24}
PORT=${PORT:-161}
FUSION_CREDENTIALS=${FUSION_CREDENTIALS:-version:2c,community:public}
FUSION_TYPE=${FUSION_TYPE:-}
RUNS=${RUNS:-5}
LIMIT=${LIMIT:-120}
OUT=${OUT:-$(mktemp -d /tmp/printwatch-bench-collect.XXXXXX)}
mkdir -p "$OUT"
die() { echo "collect.sh: $*" >&2; exit 1; }

if [[ $# -gt 0 ]]; then RECS=("$@"); else
  shopt -s nullglob
  RECS=("$RECDIR"/librenms/snmprec/*.snmprec "$RECDIR"/printmaster/snmprec/*.snmprec)
  shopt -u nullglob
  [[ ${#RECS[@]} -gt 0 ]] || die "no recordings under $RECDIR (set PRINTWATCH_RECORDINGS or give files)"
fi

# ---- prerequisites
for r in "${RECS[@]}"; do [[ -f "$r" ]] || die "no recording $r"; done
dupes=$(for r in "${RECS[@]}"; do basename "$r"; done | sort | uniq -d)
[[ -z "$dupes" ]] || die "two recordings with the same name: $dupes"
[[ -x "$PRINTWATCH" ]] || die "no $PRINTWATCH: build it with 'cargo build --release -p printwatch-cli --no-default-features' (or set PRINTWATCH)"
command -v "$NETINV" >/dev/null || die "$NETINV missing (Debian: apt-get install fusioninventory-agent-task-network)"
command -v snmpget >/dev/null || die "snmpget missing (Debian: apt-get install snmp)"
command -v python3 >/dev/null || die "python3 missing"
command -v tcpdump >/dev/null || die "tcpdump missing (Debian: apt-get install tcpdump)"
[[ "$RUNS" =~ ^[1-9][0-9]?$ ]] || die "RUNS must be 1 to 99"
[[ "$LIMIT" =~ ^[1-9][0-9]*$ ]] || die "LIMIT must be a number of seconds"
[[ "$BIND" =~ ^127\.([0-9]+)\.([0-9]+)\.0/24$ ]] || die "BIND must be a loopback /24 such as 127.97.0.0/24"
[[ "$BIND" != 127.0.0.0/24 ]] || die "BIND must not be 127.0.0.0/24 (a system snmpd may answer on 127.0.0.1)"
[[ ${#RECS[@]} -le 254 ]] || die "at most 254 recordings in a /24"
NET=${BIND%.0/24}
if ! timeout 2 tcpdump -i lo -c 1 -w /dev/null 'udp and port 9' >/dev/null 2>"$OUT/tcpdump-check.err"; then
  grep -q "listening on" "$OUT/tcpdump-check.err" \
    || { cat "$OUT/tcpdump-check.err" >&2; die "tcpdump cannot capture on lo: run as root or give tcpdump CAP_NET_RAW"; }
fi
HYPERFINE=$(command -v hyperfine || true)
[[ -n "$HYPERFINE" ]] || echo "collect.sh: hyperfine not found; timing with a loop of $RUNS runs, median" >&2

machine_load() {
  local builds
  builds=$(pgrep -c -x 'cargo|rustc|cc|ld|clang' 2>/dev/null || true)
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $builds cargo/rustc/cc/ld processes running"
}
LOAD_BEFORE=$(machine_load)

SIM_PID=
cleanup() { [[ -n "$SIM_PID" ]] && kill "$SIM_PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

# ---- the simulator: one address per recording, in the order of the map
"$PRINTWATCH" sim --bind "$BIND" --count "${#RECS[@]}" --port "$PORT" --map "$OUT/sim.map" \
  "${RECS[@]}" >"$OUT/sim.out" 2>"$OUT/sim.err" &
SIM_PID=$!
for _ in $(seq 1 100); do
  kill -0 "$SIM_PID" 2>/dev/null || die "printwatch sim ended (port $PORT taken, or no right to bind it?): $(cat "$OUT/sim.err")"
  [[ -f "$OUT/sim.map" && $(wc -l <"$OUT/sim.map") -ge ${#RECS[@]} ]] && break
  sleep 0.1
done
[[ $(wc -l <"$OUT/sim.map") -ge ${#RECS[@]} ]] || die "printwatch sim wrote no map within 10 s"
while IFS=$'\t' read -r addr _; do
  ok=
  for _ in $(seq 1 50); do
    snmpget -v2c -c public -t 0.2 -r 0 "$addr" 1.3.6.1.2.1.1.2.0 >/dev/null 2>&1 && { ok=1; break; }
    sleep 0.1
  done
  [[ -n "$ok" ]] || die "no agent answering on $addr"
done <"$OUT/sim.map"

# ---- one collection under tcpdump: prints "exit req_pkts req_bytes resp_pkts resp_bytes ms"
capture() { # NAME ADDR COMMAND...
  local name=$1 addr=$2 try code t0 t1; shift 2
  local pcap="$OUT/$name.pcap"
  for try in 1 2 3; do
    tcpdump -i lo --immediate-mode -B 32768 -U -n -w "$pcap" "udp and host $addr and port $PORT" \
      2>"$OUT/$name.tcpdump.err" &
    local tp=$!
    for _ in $(seq 1 50); do grep -q "listening on" "$OUT/$name.tcpdump.err" 2>/dev/null && break; sleep 0.1; done
    code=0
    t0=$(date +%s%N)
    timeout "$LIMIT" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || code=$?
    t1=$(date +%s%N)
    sleep 0.5
    kill -INT $tp; wait $tp 2>/dev/null || true
    grep -q "^0 packets dropped by kernel" "$OUT/$name.tcpdump.err" && break
    echo "collect.sh: $name: tcpdump dropped packets (try $try)" >&2
    [[ $try == 3 ]] && die "$name: tcpdump keeps dropping packets; is the machine busy?"
  done
  [[ $code == 124 ]] && echo "collect.sh: $name: stopped after $LIMIT s" >&2
  # "... IP 127.97.0.1.40000 > 127.97.0.5.161: UDP, length 47"
  tcpdump -r "$pcap" -n -q 2>/dev/null | awk -v dst="$addr.$PORT:" -v code="$code" -v ms=$(( (t1 - t0) / 1000000 )) '
    { len = $NF; if ($5 == dst) { qn++; qb += len } else { rn++; rb += len } }
    END { printf "%d %d %d %d %d %d\n", code, qn, qb, rn, rb, ms }'
}

# ---- wall time: median of RUNS runs, in milliseconds
timed() { # NAME COMMAND...
  local name=$1; shift
  if [[ -n "$HYPERFINE" ]]; then
    "$HYPERFINE" -N -i --warmup 1 --runs "$RUNS" --export-json "$OUT/$name.hyperfine.json" \
      "timeout $LIMIT $(printf '%q ' "$@")" >"$OUT/$name.hyperfine" 2>&1 \
      || { cat "$OUT/$name.hyperfine" >&2; die "$name: hyperfine failed"; }
    python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' \
      "$OUT/$name.hyperfine.json"
  else
    local times=() t0 t1
    for _ in $(seq 1 "$RUNS"); do
      t0=$(date +%s%N); timeout "$LIMIT" "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N)
      times+=($(( (t1 - t0) / 1000000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR]=$1 } END { print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2) }'
  fi
}

# ---- what each found: serial, model, page counter ("S M P", "-" when missing)
found_printwatch() {
  python3 - "$1" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("- - -"); sys.exit()
print(" ".join([
    "S" if d.get("serial") else "-",
    "M" if d.get("model") else "-",
    "P" if d.get("meters") else "-",
]))
EOF
}
found_fusion() {
  python3 - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    dev = ET.parse(sys.argv[1]).getroot().find("CONTENT/DEVICE")
except Exception:
    dev = None
if dev is None:
    print("- - -"); sys.exit()
def text(path):
    e = dev.find(path)
    return e is not None and (e.text or "").strip() != ""
pages = dev.find("PAGECOUNTERS")
print(" ".join([
    "S" if text("INFO/SERIAL") else "-",
    "M" if text("INFO/MODEL") else "-",
    "P" if pages is not None and any((c.text or "").strip() for c in pages) else "-",
]))
EOF
}

fusion_args() { # ADDR
  local a=(--host "$1" --port "$PORT" --credentials "$FUSION_CREDENTIALS")
  [[ -n "$FUSION_TYPE" ]] && a+=(--type "$FUSION_TYPE")
  printf '%s\n' "${a[@]}"
}

RESULTS="$OUT/results.tsv"
printf 'recording\ttool\texit\treq_pkts\treq_bytes\tresp_pkts\tresp_bytes\tcaptured_ms\tmedian_ms\tfound\n' >"$RESULTS"
while IFS=$'\t' read -r addr rec; do
  rec=$(basename "$rec" .snmprec)
  host=${addr%:*}
  echo "== $rec ($addr)" >&2
  pw=("$PRINTWATCH" collect --json --community public "$addr")
  mapfile -t fa < <(fusion_args "$host")
  fi=("$NETINV" "${fa[@]}")
  p=$(capture "$rec-printwatch" "$host" "${pw[@]}")
  f=$(capture "$rec-fusion" "$host" "${fi[@]}")
  pt=$(timed "$rec-printwatch" "${pw[@]}")
  ft=$(timed "$rec-fusion" "${fi[@]}")
  printf '%s\tprintwatch\t%s\t%s\t%s\n' "$rec" "${p// /$'\t'}" "$pt" "$(found_printwatch "$OUT/$rec-printwatch.out")" >>"$RESULTS"
  printf '%s\tfusioninventory\t%s\t%s\t%s\n' "$rec" "${f// /$'\t'}" "$ft" "$(found_fusion "$OUT/$rec-fusion.out")" >>"$RESULTS"
done <"$OUT/sim.map"
LOAD_AFTER=$(machine_load)

# ---- the table
python3 - "$RESULTS" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows:
    by.setdefault(r["recording"], {})[r["tool"]] = r
def pairs(r): return max(int(r["req_pkts"]), int(r["resp_pkts"]))
def nbytes(r): return int(r["req_bytes"]) + int(r["resp_bytes"])
def pk(r):
    q, a = int(r["req_pkts"]), int(r["resp_pkts"])
    return f"{q}" if q == a else f"{q}/{a}"
def ex(r): return "" if r["exit"] == "0" else f" (exit {r['exit']})"
print("| recording | printwatch pairs | bytes | ms | found | FusionInventory pairs | bytes | ms | found | pairs × | bytes × |")
print("|---|--:|--:|--:|:-:|--:|--:|--:|:-:|--:|--:|")
tot = {"printwatch": [0, 0, 0], "fusioninventory": [0, 0, 0]}
for rec, t in by.items():
    p, f = t["printwatch"], t["fusioninventory"]
    for k, r in (("printwatch", p), ("fusioninventory", f)):
        tot[k][0] += pairs(r); tot[k][1] += nbytes(r); tot[k][2] += int(r["median_ms"])
    rp = f"{pairs(f)/pairs(p):.1f}" if pairs(p) else "–"
    rb = f"{nbytes(f)/nbytes(p):.1f}" if nbytes(p) else "–"
    print(f"| {rec} | {pk(p)}{ex(p)} | {nbytes(p):,} | {p['median_ms']} | {p['found']} "
          f"| {pk(f)}{ex(f)} | {nbytes(f):,} | {f['median_ms']} | {f['found']} | {rp} | {rb} |")
p, f = tot["printwatch"], tot["fusioninventory"]
print(f"| **total ({len(by)})** | {p[0]:,} | {p[1]:,} | {p[2]:,} | | {f[0]:,} | {f[1]:,} | {f[2]:,} | "
      f"| {f[0]/max(p[0],1):.1f} | {f[1]/max(p[1],1):.1f} |")
EOF
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); before: $LOAD_BEFORE; after: $LOAD_AFTER"
echo "raw results: $OUT (results.tsv, pcaps, outputs)"
