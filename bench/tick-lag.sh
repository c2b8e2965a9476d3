#!/usr/bin/env bash
# How late a Roost ensemble's consensus ticks run under load: the measure the
# election timeout is chosen from (docs/replication.md, "Timing").
#
#   bench/tick-lag.sh [idle|load|snapshots|hog]      (default load)
#
# Starts a 3-member ensemble (bench/ensemble-ctl.sh) and, for DURATION_S:
#   idle       no load;
#   load       the benchmark write load (write-only, CLIENTS x OUTSTANDING,
#              1 KiB values, 10,000 znodes, closed loop, as fast as it goes);
#   snapshots  the same with snapCount=SNAP_COUNT (a snapshot every few seconds);
#   hog        the same load, plus a busy loop pinned to CPU 0 (the client
#              shard's and consensus executor's core on 2 CPUs).
# Then prints each member's mntr tick metrics (roost_ticks,
# roost_tick_lag_p99_us, roost_tick_lag_max_us, roost_consensus_step_max_us:
# the longest the consensus executor spent on one input), its raft term before and
# after (an increase is an election), and the load average before and after.
#
# Env: DURATION_S (60), CLIENTS (32), OUTSTANDING (8), SNAP_COUNT (20000), KEEP_WORK,
#      ENSEMBLE_EXTRA_CFG (extra zoo.cfg lines), ROOST, LOADGEN.
# Only processes this script started are stopped, by PID.
set -euo pipefail
WHAT=${1:-load}
DURATION_S=${DURATION_S:-60}
CLIENTS=${CLIENTS:-32}
OUTSTANDING=${OUTSTANDING:-8}
SNAP_COUNT=${SNAP_COUNT:-20000}
REPO=$(cd "$(dirname "$0")/.." && pwd)
CTL=$REPO/bench/ensemble-ctl.sh
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
LOADGEN=${LOADGEN:-$TARGET/release/roost-loadgen}
export ROOST=${ROOST:-$TARGET/release/roost}
WORK=$(mktemp -d /tmp/roost-ticklag.XXXXXX)
DIR=$WORK/ensemble
HOG=
LG=
cleanup() {
  for p in $HOG $LG; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  "$CTL" stop "$DIR" >/dev/null 2>&1 || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

case $WHAT in
  idle|load|hog) ;;
  snapshots) export ENSEMBLE_EXTRA_CFG="${ENSEMBLE_EXTRA_CFG:-}"$'\n'"snapCount=$SNAP_COUNT" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

mntr() { # PORT -> the mntr text
  exec 3<>"/dev/tcp/127.0.0.1/$1"; printf mntr >&3; cat <&3; exec 3>&-
}
metric() { # TEXT NAME
  awk -v k="$2" '$1 == k {print $2}' <<<"$1"
}

"$CTL" init "$DIR" roost 3 28181 >/dev/null
"$CTL" start "$DIR" 120 >/dev/null
ports=$("$CTL" servers "$DIR" | tr ',' '\n' | cut -d: -f2)
declare -A term0
for p in $ports; do term0[$p]=$(metric "$(mntr "$p")" roost_raft_term); done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$WHAT" = hog ]; then
  taskset -c 0 bash -c 'while :; do :; done' &
  HOG=$!
fi
if [ "$WHAT" != idle ]; then
  "$LOADGEN" --servers "$("$CTL" servers "$DIR")" --clients "$CLIENTS" --outstanding "$OUTSTANDING" \
    --value-size 1024 --znodes 10000 --read-ratio 0:1 --warmup 0 --duration "$DURATION_S" \
    --quiet --json "$WORK/load.json" >/dev/null 2>"$WORK/loadgen.err" &
  LG=$!
  wait "$LG" || true
  LG=
else
  sleep "$DURATION_S"
fi
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$HOG" ]; then kill "$HOG"; wait "$HOG" 2>/dev/null || true; HOG=; fi
if [ -f "$WORK/load.json" ]; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("writes/s:", round(d.get("throughput_ops_per_s", 0)))' "$WORK/load.json"
fi
echo "| member port | ticks | tick lag p99 (ms) | tick lag max (ms) | longest step (ms) | elections |"
echo "|---|---|---|---|---|---|"
for p in $ports; do
  t=$(mntr "$p")
  printf '| %s | %s | %.1f | %.1f | %.1f | %s |\n' "$p" "$(metric "$t" roost_ticks)" \
    "$(echo "$(metric "$t" roost_tick_lag_p99_us) / 1000" | bc -l)" \
    "$(echo "$(metric "$t" roost_tick_lag_max_us) / 1000" | bc -l)" \
    "$(echo "$(metric "$t" roost_consensus_step_max_us) / 1000" | bc -l)" \
    "$(( $(metric "$t" roost_raft_term) - ${term0[$p]} ))"
done
