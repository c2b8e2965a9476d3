#!/usr/bin/env bash
# The durable write path: Roost vs Apache ZooKeeper 3.8 (forceSync=yes).
#
#   bench/storage/write-path.sh [group-commit|snapshot|all]     (default all)
#
# group-commit: write-only load (setData, --read-ratio 0:1, VALUE_SIZE bytes,
#   10,000 znodes) at 1, 8, 64 and 256 requests in flight in total
#   (1x1, 8x1, 64x1 sessions x outstanding, and 64x4), against Roost and then
#   ZooKeeper, both started once and fsyncing every acknowledged write. Roost's
#   mntr is read once the measured window has begun and again before it ends:
#   records/batches = group-commit batch size; fsyncs/s against writes/s.
#   ZooKeeper's mntr gives its fsyncs (zk_cnt_fsynctime) and its SyncRequestProcessor
#   batches (zk_sum/cnt_sync_processor_batch_size) the same way.
# snapshot: p99.9 write latency while snapshots are taken: a Roost with
#   TREE_ZNODES extra znodes (bench/storage/ztool.py populate) and
#   snapCount=SNAP_SMALL (a snapshot every SNAP_SMALL/2..SNAP_SMALL writes,
#   several per measured window) against the same tree with snapCount=10^9
#   (never); 64 writers x 1. The same for ZooKeeper.
#
# Env: WARMUP_S (3), DURATION_S (10), VALUE_SIZE (1024), TREE_ZNODES (200000),
#      SNAP_SMALL (20000), ZK_HEAP (2g), ROOST, LOADGEN, KEEP_WORK.
# Prints markdown tables; run on a quiet machine for figures worth quoting.
# Only processes this script started are stopped, by PID, on exit.
set -euo pipefail

WHAT=${1:-all}
WARMUP_S=${WARMUP_S:-3}
DURATION_S=${DURATION_S:-10}
VALUE_SIZE=${VALUE_SIZE:-1024}
TREE_ZNODES=${TREE_ZNODES:-200000}
SNAP_SMALL=${SNAP_SMALL:-20000}
ZK_HEAP=${ZK_HEAP:-2g}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/roost-writepath.XXXXXX)
# shellcheck source=bench/storage/lib.sh
. "$REPO/bench/storage/lib.sh"

# jq-free JSON reads
jget() { python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$1" "$2"; }

# run_load NAME PORT PID CLIENTS OUTSTANDING JSON -> prints the deltas of
#   "roost_records roost_batches roost_fsyncs zk_fsyncs zk_batched_requests zk_batches" and the seconds between
# Samples mntr after the loadgen has set up its key space and the warm-up has
# passed, and again 0.5 s before the measured window ends.
run_load() {
  local name=$1 port=$2 pid=$3 clients=$4 outstanding=$5 json=$6
  local err=$WORK/loadgen-$RANDOM.err
  "$LOADGEN" --servers "127.0.0.1:$port" --server-pid "$pid" --warmup "$WARMUP_S" --duration "$DURATION_S" \
    --clients "$clients" --outstanding "$outstanding" --value-size "$VALUE_SIZE" --znodes 10000 \
    --read-ratio 0:1 --quiet --json "$json" >/dev/null 2>"$err" &
  local lg=$! i
  for i in $(seq 1 600); do grep -q 'sessions on' "$err" && break; sleep 0.1; done
  sleep "$(awk -v w="$WARMUP_S" 'BEGIN{print w + 0.3}')"
  local t0 m0 t1 m1
  t0=$(date +%s.%N); m0=$(fourlw "$port" mntr)
  sleep "$(awk -v d="$DURATION_S" 'BEGIN{print d - 1}')"
  t1=$(date +%s.%N); m1=$(fourlw "$port" mntr)
  wait "$lg" || { cat "$err" >&2; return 1; }
  local k out=""
  for k in roost_log_records roost_log_batches roost_log_fsyncs zk_cnt_fsynctime zk_sum_sync_processor_batch_size zk_cnt_sync_processor_batch_size; do
    local a b
    a=$(mntr_get "$m0" $k); b=$(mntr_get "$m1" $k)
    out+="$(( ${b:-0} - ${a:-0} )) "
  done
  echo "$out$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.2f", a/b }'; }
ms() { awk -v u="$1" 'BEGIN{printf "%.2f", u/1000}'; }

group_commit() {
  local rport zport rpid zpid
  rport=$(pick_port 26181)
  start_roost roost "$rport" ""; rpid=$LAST_PID
  zport=$(pick_port $((rport + 1)))
  start_zk zookeeper "$zport" "" "$ZK_HEAP"; zpid=$LAST_PID
  wait_ready roost "$rport" "$rpid"; wait_ready zookeeper "$zport" "$zpid"
  log "warming ZooKeeper's JIT (10 s, discarded)"
  WARMUP_S=0 DURATION_S=10 run_load zookeeper "$zport" "$zpid" 32 8 "$WORK/warm.json" >/dev/null
  echo
  echo "### Group commit: setData only, ${VALUE_SIZE} B values, 10,000 znodes, ${DURATION_S} s measured after ${WARMUP_S} s warm-up"
  echo
  echo "| in flight (sessions x outstanding) | Roost writes/s | Roost p50 / p99 / p99.9 ms | records per batch (max since start) | fsyncs/s | ZooKeeper writes/s | ZooKeeper p50 / p99 / p99.9 ms | ZooKeeper requests per batch | ZooKeeper fsyncs/s | writes/s Roost/ZK | p99.9 Roost/ZK |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  local point c o
  for point in 1x1 8x1 64x1 64x4; do
    c=${point%x*}; o=${point#*x}
    log "group commit: $point on roost"
    read -r rec bat fs _ _ _ sec < <(run_load roost "$rport" "$rpid" "$c" "$o" "$WORK/roost-$point.json")
    local maxb
    maxb=$(mntr_get "$(fourlw "$rport" mntr)" roost_log_max_batch_records)
    log "group commit: $point on zookeeper"
    read -r _ _ _ zfs zreq zbat zsec < <(run_load zookeeper "$zport" "$zpid" "$c" "$o" "$WORK/zk-$point.json")
    local rj=$WORK/roost-$point.json zj=$WORK/zk-$point.json
    local rt zt
    rt=$(jget "$rj" throughput_ops_per_s); zt=$(jget "$zj" throughput_ops_per_s)
    printf '| %s = %d | %.0f | %s / %s / %s | %s (%s) | %.0f | %.0f | %s / %s / %s | %s | %.0f | %s | %s |\n' \
      "$point" $((c * o)) "$rt" \
      "$(ms "$(jget "$rj" ops.set.p50_us)")" "$(ms "$(jget "$rj" ops.set.p99_us)")" "$(ms "$(jget "$rj" ops.set.p999_us)")" \
      "$(awk -v r="$rec" -v b="$bat" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.1f", r/b }')" "$maxb" \
      "$(awk -v f="$fs" -v s="$sec" 'BEGIN{print f/s}')" \
      "$zt" \
      "$(ms "$(jget "$zj" ops.set.p50_us)")" "$(ms "$(jget "$zj" ops.set.p99_us)")" "$(ms "$(jget "$zj" ops.set.p999_us)")" \
      "$(awk -v r="$zreq" -v b="$zbat" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.1f", r/b }')" \
      "$(awk -v f="$zfs" -v s="$zsec" 'BEGIN{print f/s}')" \
      "$(ratio "$rt" "$zt")" "$(ratio "$(jget "$rj" ops.set.p999_us)" "$(jget "$zj" ops.set.p999_us)")"
    log "  roost: $rec records in $bat batches, $fs fsyncs over $sec s; zookeeper: $zfs fsyncs over $zsec s"
  done
  stop_server "$rpid"; stop_server "$zpid"
}

snapshot_cmp() {
  echo
  echo "### p99.9 write latency with and without snapshots: ${TREE_ZNODES} extra znodes of 100 B, 64 sessions x 1, setData ${VALUE_SIZE} B, ${DURATION_S} s measured"
  echo
  echo "| server | snapCount | writes/s | p50 ms | p99 ms | p99.9 ms | max ms | snapshots during warm-up + run |"
  echo "|---|---|---|---|---|---|---|---|"
  local server sc port pid name parents
  parents=$(( (TREE_ZNODES + 999) / 1000 ))
  for server in roost zookeeper; do
    for sc in 1000000000 "$SNAP_SMALL"; do
      name=$server-snap$sc
      port=$(pick_port 27181)
      if [ $server = roost ]; then start_roost "$name" "$port" "snapCount=$sc"; else start_zk "$name" "$port" "snapCount=$sc" "$ZK_HEAP"; fi
      pid=$LAST_PID
      wait_ready "$name" "$port" "$pid"
      log "$name: populating $((parents * 1000)) znodes"
      python3 "$ZTOOL" populate --server "127.0.0.1:$port" --root /tree --parents "$parents" --children 1000 --value-size 100 >&2
      if [ $server = zookeeper ]; then
        WARMUP_S=0 DURATION_S=10 run_load "$name" "$port" "$pid" 32 8 "$WORK/warm.json" >/dev/null
      fi
      local before after
      # Roost purges old snapshots (its log line counts them); ZooKeeper keeps them all.
      snapcount() {
        if [ $server = roost ]; then grep -c 'snapshot written' "$WORK/$name/server.log" || true
        else find "$WORK/$name/data" -name 'snapshot.*' | wc -l; fi
      }
      before=$(snapcount)
      log "$name: measuring"
      run_load "$name" "$port" "$pid" 64 1 "$WORK/$name.json" >/dev/null
      after=$(snapcount)
      local j=$WORK/$name.json
      local snaps=$((after - before))
      printf '| %s | %s | %.0f | %s | %s | %s | %s | %s |\n' "$server" "$sc" "$(jget "$j" throughput_ops_per_s)" \
        "$(ms "$(jget "$j" ops.set.p50_us)")" "$(ms "$(jget "$j" ops.set.p99_us)")" "$(ms "$(jget "$j" ops.set.p999_us)")" \
        "$(ms "$(jget "$j" ops.set.max_us)")" "$snaps"
      stop_server "$pid"
      rm -rf "$WORK/$name/data"
    done
  done
}

echo "write-path: machine: $(machine); ZooKeeper $ZK_VERSION (-Xmx$ZK_HEAP, forceSync=yes); roost $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
case "$WHAT" in
  group-commit) group_commit ;;
  snapshot) snapshot_cmp ;;
  all) group_commit; snapshot_cmp ;;
  *) echo "usage: $0 [group-commit|snapshot|all]" >&2; exit 2 ;;
esac
