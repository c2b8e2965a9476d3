#!/usr/bin/env bash
# Tail latency, Roost vs Apache ZooKeeper 3.8 (forceSync=yes), side by side on
# one machine: the p99.9 and max of every operation, as ratios.
#
#   bench/tail.sh [closed|open|all]     (default all)
#
# closed: write-only (setData) and 10:1 getData:setData, closed loop, at 1, 8,
#   64 and 256 requests in flight (1x1, 8x1, 64x1, 64x4 sessions x
#   outstanding), 1 KiB values, 10,000 znodes; Roost then ZooKeeper at each
#   point. The peak ZooKeeper write-only throughput seen here (at 64x4) is
#   the reference for `open`.
# open: open loop (`--rate`, latency from each request's intended send time,
#   so a stall is charged to every request it delays): write-only and 10:1 at
#   50% and 80% of ZooKeeper's peak (measured by `closed` in the same run, or
#   ZK_PEAK_WRITES / ZK_PEAK_MIXED), 64 sessions.
#
# Prints markdown tables, each with the load average before and after; run on
# a quiet machine. Env: WARMUP_S (3), DURATION_S (15), ZK_HEAP (2g), ROOST,
# LOADGEN, ZK_PEAK_WRITES, ZK_PEAK_MIXED, KEEP_WORK, ROOST_EXTRA_CFG (zoo.cfg
# lines for Roost only, e.g. "preAllocSize=8192"). Only processes this
# script started are stopped, by PID, on exit.
set -euo pipefail

WHAT=${1:-all}
case $WHAT in closed|open|all) ;; *) echo "usage: $0 [closed|open|all]" >&2; exit 2 ;; esac
WARMUP_S=${WARMUP_S:-3}
DURATION_S=${DURATION_S:-15}
ZK_HEAP=${ZK_HEAP:-2g}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/roost-tail.XXXXXX)
# shellcheck source=bench/storage/lib.sh
. "$REPO/bench/storage/lib.sh"

jget() { python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d.get(k, {}) if isinstance(d, dict) else {}
print(d if d != {} else "")' "$1" "$2"; }
ms() { [ -n "$1" ] && awk -v u="$1" 'BEGIN{printf "%.2f", u/1000}' || echo "-"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a/b }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# load NAME PORT PID CLIENTS OUTSTANDING RATIO RATE JSON
load() {
  "$LOADGEN" --servers "127.0.0.1:$2" --server-pid "$3" --warmup "$WARMUP_S" --duration "$DURATION_S" \
    --clients "$4" --outstanding "$5" --value-size 1024 --znodes 10000 --read-ratio "$6" \
    ${7:+--rate "$7"} --quiet --json "$8" >/dev/null 2>"$8.err" || { cat "$8.err" >&2; return 1; }
}

# row LABEL ROOST_JSON ZK_JSON OP: one table row for op (set or get)
row() {
  local r=$2 z=$3 op=$4
  printf '| %s | %s | %.0f / %.0f | %s / %s | %s / %s | %s / %s | %s / %s | %s | %s |\n' \
    "$1" "$op" "$(jget "$r" throughput_ops_per_s)" "$(jget "$z" throughput_ops_per_s)" \
    "$(ms "$(jget "$r" "ops.$op.p50_us")")" "$(ms "$(jget "$z" "ops.$op.p50_us")")" \
    "$(ms "$(jget "$r" "ops.$op.p99_us")")" "$(ms "$(jget "$z" "ops.$op.p99_us")")" \
    "$(ms "$(jget "$r" "ops.$op.p999_us")")" "$(ms "$(jget "$z" "ops.$op.p999_us")")" \
    "$(ms "$(jget "$r" "ops.$op.max_us")")" "$(ms "$(jget "$z" "ops.$op.max_us")")" \
    "$(ratio "$(jget "$r" "ops.$op.p999_us")" "$(jget "$z" "ops.$op.p999_us")")" \
    "$(ratio "$(jget "$r" "ops.$op.max_us")" "$(jget "$z" "ops.$op.max_us")")"
}
header() {
  echo "| point | op | ops/s Roost / ZK | p50 ms | p99 ms | p99.9 ms | max ms | p99.9 Roost/ZK | max Roost/ZK |"
  echo "|---|---|---|---|---|---|---|---|---|"
}

rport=$(pick_port 28181)
start_roost roost "$rport" "${ROOST_EXTRA_CFG:-}"; rpid=$LAST_PID
zport=$(pick_port $((rport + 1)))
start_zk zookeeper "$zport" "" "$ZK_HEAP"; zpid=$LAST_PID
wait_ready roost "$rport" "$rpid"; wait_ready zookeeper "$zport" "$zpid"
log "warming ZooKeeper's JIT (10 s, discarded)"
WARMUP_S=0 DURATION_S=10 load zookeeper "$zport" "$zpid" 32 8 10:1 "" "$WORK/warm.json"
echo "tail: ROOST_EXTRA_CFG=${ROOST_EXTRA_CFG:-none}; machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; ZooKeeper $ZK_VERSION (-Xmx$ZK_HEAP, forceSync=yes); roost $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"

ZK_PEAK_WRITES=${ZK_PEAK_WRITES:-}
ZK_PEAK_MIXED=${ZK_PEAK_MIXED:-}
if [ "$WHAT" != open ]; then
  for mix in 0:1 10:1; do
    echo
    echo "### Closed loop, --read-ratio $mix, 1 KiB values, ${DURATION_S} s after ${WARMUP_S} s warm-up (load average before: $(loadavg))"
    echo
    header
    for point in 1x1 8x1 64x1 64x4; do
      c=${point%x*}; o=${point#*x}
      log "closed $mix $point"
      load roost "$rport" "$rpid" "$c" "$o" "$mix" "" "$WORK/r-$mix-$point.json"
      load zookeeper "$zport" "$zpid" "$c" "$o" "$mix" "" "$WORK/z-$mix-$point.json"
      row "$point = $((c * o))" "$WORK/r-$mix-$point.json" "$WORK/z-$mix-$point.json" set
      [ "$mix" = 0:1 ] || row "$point = $((c * o))" "$WORK/r-$mix-$point.json" "$WORK/z-$mix-$point.json" get
    done
    echo
    echo "(load average after: $(loadavg))"
  done
  ZK_PEAK_WRITES=$(jget "$WORK/z-0:1-64x4.json" throughput_ops_per_s)
  ZK_PEAK_MIXED=$(jget "$WORK/z-10:1-64x4.json" throughput_ops_per_s)
fi
if [ "$WHAT" != closed ]; then
  [ -n "$ZK_PEAK_WRITES" ] && [ -n "$ZK_PEAK_MIXED" ] || {
    echo "bench: open needs ZooKeeper's peaks: run all, or set ZK_PEAK_WRITES and ZK_PEAK_MIXED" >&2; exit 2; }
  for mix in 0:1 10:1; do
    peak=$ZK_PEAK_WRITES; [ "$mix" = 10:1 ] && peak=$ZK_PEAK_MIXED
    echo
    echo "### Open loop, --read-ratio $mix, 64 sessions, latency from the intended send time; ZooKeeper's closed-loop peak ${peak%.*} ops/s (load average before: $(loadavg))"
    echo
    header
    for pct in 50 80; do
      rate=$(awk -v p="$peak" -v f="$pct" 'BEGIN{printf "%.0f", p * f / 100}')
      log "open $mix at $pct% ($rate ops/s)"
      load roost "$rport" "$rpid" 64 16 "$mix" "$rate" "$WORK/ro-$mix-$pct.json"
      load zookeeper "$zport" "$zpid" 64 16 "$mix" "$rate" "$WORK/zo-$mix-$pct.json"
      row "$pct% ($rate/s)" "$WORK/ro-$mix-$pct.json" "$WORK/zo-$mix-$pct.json" set
      [ "$mix" = 0:1 ] || row "$pct% ($rate/s)" "$WORK/ro-$mix-$pct.json" "$WORK/zo-$mix-$pct.json" get
    done
    echo
    echo "(load average after: $(loadavg))"
  done
fi
stop_server "$rpid"; stop_server "$zpid"
