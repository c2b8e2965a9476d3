#!/usr/bin/env bash
# The cross-member staleness window (issue 18): how often a read on one
# member misses a write another session just had acknowledged on another,
# Roost against Apache ZooKeeper 3.8, each as a local 3-member ensemble at
# the shipped defaults, measured by examples/staleness.rs from one fast
# (single-threaded tokio) client process. Pairs: the writer on the leader
# and the reader on a follower; both on different followers; the writer on
# a follower and the reader on the leader. Systems take turns per run.
#
#   bench/staleness.sh OUTDIR
#
# Environment: RUNS (3), ROUNDS (2000 per pair and run), SYSTEMS
# ("roost zookeeper"), ROOST (binary; default target/release/roost),
# STALENESS (default target/release/examples/staleness; built if missing).
# Prints one line per (system, pair, run) and a table of totals; the raw
# lines are in OUTDIR/results.txt, the load averages in OUTDIR/conditions.txt.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
export ROOST=${ROOST:-$target/release/roost}
STALENESS=${STALENESS:-$target/release/examples/staleness}
RUNS=${RUNS:-3} ROUNDS=${ROUNDS:-2000} SYSTEMS=${SYSTEMS:-"roost zookeeper"}
[ -x "$STALENESS" ] || (cd "$repo" && cargo build --release --example staleness)
ctl="$repo/bench/ensemble-ctl.sh"
port=28181
for sys in $SYSTEMS; do
  "$ctl" init "$out/$sys" "$sys" 3 "$port" >/dev/null
  port=$((port + 100))
done
stop_all() { for sys in $SYSTEMS; do "$ctl" stop "$out/$sys" >/dev/null 2>&1 || true; done; }
trap stop_all EXIT
for sys in $SYSTEMS; do "$ctl" start "$out/$sys" 120 >/dev/null; done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/conditions.txt"
: > "$out/results.txt"
for run in $(seq 1 "$RUNS"); do
  for sys in $SYSTEMS; do
    # "mN pid=P addr=HOST:PORT mode=M ..." per member.
    status=$("$ctl" status "$out/$sys")
    leader=$(sed -n 's/.* addr=\([^ ]*\) mode=leader.*/\1/p' <<<"$status" | head -1)
    followers=($(sed -n 's/.* addr=\([^ ]*\) mode=follower.*/\1/p' <<<"$status"))
    [ -n "$leader" ] && [ "${#followers[@]}" -ge 2 ] || {
      echo "$sys: no leader and two followers" >&2; echo "$status" >&2; exit 1; }
    for pair in leader-follower follower-follower follower-leader; do
      case $pair in
        leader-follower) w=$leader r=${followers[0]} ;;
        follower-follower) w=${followers[0]} r=${followers[1]} ;;
        follower-leader) w=${followers[1]} r=$leader ;;
      esac
      line=$(timeout 300 "$STALENESS" "$w" "$r" "$ROUNDS")
      echo "system=$sys pair=$pair run=$run $line" | tee -a "$out/results.txt"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/conditions.txt"
python3 - "$out/results.txt" <<'PY'
import sys, collections
tot = collections.defaultdict(lambda: [0, 0, 0, 0])
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split())
    t = tot[(f["system"], f["pair"])]
    t[0] += int(f["rounds"]); t[1] += int(f["misses"])
    t[2] = max(t[2], int(f["window_max_us"])); t[3] += int(f["unresolved"])
print("| system | writer -> reader | rounds | misses | miss rate | longest window (us) | unresolved |")
print("|---|---|---|---|---|---|---|")
for (sys_, pair), (rounds, misses, wmax, unres) in sorted(tot.items()):
    print(f"| {sys_} | {pair.replace('-', ' -> ')} | {rounds} | {misses} | {misses / rounds:.2%} | {wmax} | {unres} |")
PY
