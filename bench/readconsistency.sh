#!/usr/bin/env bash
# roost.readConsistency=sequential vs linearizable on two local 3-member Roost
# ensembles, runs interleaved (seq, lin, seq, lin, ...) so machine drift hits
# both alike. Sessions are spread over every member (--servers lists all).
#
#   bench/readconsistency.sh OUTDIR
#
# Environment: RUNS (2), WARMUP_S (5), DURATION_S (20), CLIENTS (32),
# OUTSTANDING (8), RATIOS ("1:0 10:1", loadgen --read-ratio), ROOST and
# LOADGEN (binaries; default $CARGO_TARGET_DIR/release/...).
# Prints a table of medians and lin/seq ratios; JSON per run in OUTDIR.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
export ROOST=${ROOST:-$target/release/roost}
LOADGEN=${LOADGEN:-$target/release/roost-loadgen}
RUNS=${RUNS:-2} WARMUP_S=${WARMUP_S:-5} DURATION_S=${DURATION_S:-20}
CLIENTS=${CLIENTS:-32} OUTSTANDING=${OUTSTANDING:-8} RATIOS=${RATIOS:-"1:0 10:1"}
ctl="$repo/bench/ensemble-ctl.sh"
port=26181
for mode in sequential linearizable; do
  ENSEMBLE_EXTRA_CFG="roost.readConsistency=$mode" "$ctl" init "$out/$mode" roost 3 "$port" >/dev/null
  port=$((port + 100))
done
trap '"$ctl" stop "$out/sequential" >/dev/null 2>&1; "$ctl" stop "$out/linearizable" >/dev/null 2>&1' EXIT
for mode in sequential linearizable; do "$ctl" start "$out/$mode" 60 >/dev/null; done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/conditions.txt"
for ratio in $RATIOS; do
  for run in $(seq 1 "$RUNS"); do
    for mode in sequential linearizable; do
      servers=$("$ctl" servers "$out/$mode")
      json="$out/${mode}-${ratio/:/_}-run$run.json"
      "$LOADGEN" --servers "$servers" --warmup "$WARMUP_S" --duration "$DURATION_S" \
        --clients "$CLIENTS" --outstanding "$OUTSTANDING" --threads 2 --value-size 1024 \
        --znodes 10000 --read-ratio "$ratio" --quiet --json "$json" >/dev/null
      echo "$mode $ratio run $run done ($(cut -d' ' -f1-3 /proc/loadavg))"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/conditions.txt"
# ReadIndex batching on the linearizable members: barriers per round.
for port in $(. "$out/linearizable/ensemble.env"; echo "${CLIENT_PORTS[@]}"); do
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"; printf mntr >&"$fd"
  grep -E 'roost_read_(index_rounds|barriers)' <&"$fd" | tr '\n' ' '; echo "(port $port)"
  exec {fd}>&-
done | tee "$out/batching.txt"
python3 - "$out" "$RATIOS" <<'PY'
import json, glob, statistics, sys
out, ratios = sys.argv[1], sys.argv[2].split()
def med(mode, ratio, f):
    vals = [f(json.load(open(p))) for p in sorted(glob.glob(f"{out}/{mode}-{ratio.replace(':','_')}-run*.json"))]
    return statistics.median(vals)
rows = [("throughput (ops/s)", lambda j: j["throughput_ops_per_s"]),
        ("getData p50 (µs)", lambda j: j["ops"]["get"]["p50_us"]),
        ("getData p99 (µs)", lambda j: j["ops"]["get"]["p99_us"]),
        ("getData errors", lambda j: j["ops"]["get"]["errors"])]
for ratio in ratios:
    print(f"\n--read-ratio {ratio}\n\n| | sequential | linearizable | lin/seq |\n|---|---:|---:|---:|")
    for name, f in rows:
        s, l = med("sequential", ratio, f), med("linearizable", ratio, f)
        r = f"{l / s:.2f}" if s else "-"
        print(f"| {name} | {s:,.0f} | {l:,.0f} | {r} |")
PY
