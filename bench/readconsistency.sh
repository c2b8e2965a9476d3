#!/usr/bin/env bash
# roost.readConsistency=sequential vs linearizable vs lease, one local
# 3-member Roost ensemble per mode, all up for the whole run; runs
# interleaved (seq, lin, lease, seq, ...) so machine drift hits every mode
# alike. Sessions are spread over every member (--servers lists all).
#
#   bench/readconsistency.sh OUTDIR
#
# Environment: RUNS (2), WARMUP_S (5), DURATION_S (20), CLIENTS (32),
# OUTSTANDING (8), RATIOS ("1:0 10:1", loadgen --read-ratio), MODES
# ("sequential linearizable lease"; sequential must be first: the ratios are
# to it), ROOST and LOADGEN (binaries; default $CARGO_TARGET_DIR/release/...).
# Prints a table of medians and MODE/sequential ratios; JSON per run in OUTDIR.
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
MODES=${MODES:-"sequential linearizable lease"}
[[ ${MODES%% *} == sequential ]] || { echo "MODES must start with sequential" >&2; exit 2; }
ctl="$repo/bench/ensemble-ctl.sh"
port=26181
for mode in $MODES; do
  ENSEMBLE_EXTRA_CFG="roost.readConsistency=$mode" "$ctl" init "$out/$mode" roost 3 "$port" >/dev/null
  port=$((port + 100))
done
stop_all() { for mode in $MODES; do "$ctl" stop "$out/$mode" >/dev/null 2>&1; done; }
trap stop_all EXIT
for mode in $MODES; do "$ctl" start "$out/$mode" 60 >/dev/null; done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/conditions.txt"
for ratio in $RATIOS; do
  for run in $(seq 1 "$RUNS"); do
    for mode in $MODES; do
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
# ReadIndex batching and lease use on the non-sequential members.
for mode in $MODES; do
  [[ $mode == sequential ]] && continue
  for port in $(. "$out/$mode/ensemble.env"; echo "${CLIENT_PORTS[@]}"); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port"; printf mntr >&"$fd"
    grep -E 'roost_read_(index_rounds|barriers)|roost_lease_(renewals|reads)' <&"$fd" | tr '\n' ' '
    echo "($mode, port $port)"
    exec {fd}>&-
  done
done | tee "$out/batching.txt"
python3 - "$out" "$RATIOS" "$MODES" <<'PY'
import json, glob, statistics, sys
out, ratios, modes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def med(mode, ratio, f):
    vals = [f(json.load(open(p))) for p in sorted(glob.glob(f"{out}/{mode}-{ratio.replace(':','_')}-run*.json"))]
    return statistics.median(vals)
rows = [("throughput (ops/s)", lambda j: j["throughput_ops_per_s"]),
        ("getData p50 (µs)", lambda j: j["ops"]["get"]["p50_us"]),
        ("getData p99 (µs)", lambda j: j["ops"]["get"]["p99_us"]),
        ("getData errors", lambda j: j["ops"]["get"]["errors"])]
others = modes[1:]
for ratio in ratios:
    head = " | ".join(modes) + " | " + " | ".join(f"{m}/seq" for m in others)
    print(f"\n--read-ratio {ratio}\n\n| | {head} |\n|---|" + "---:|" * (len(modes) + len(others)))
    for name, f in rows:
        vals = [med(m, ratio, f) for m in modes]
        ratios_ = [f"{v / vals[0]:.2f}" if vals[0] else "-" for v in vals[1:]]
        print(f"| {name} | " + " | ".join(f"{v:,.0f}" for v in vals) + " | " + " | ".join(ratios_) + " |")
PY
