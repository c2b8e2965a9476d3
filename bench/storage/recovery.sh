#!/usr/bin/env bash
# Recovery time and memory with a large tree: Roost vs Apache ZooKeeper 3.8.
#
#   bench/storage/recovery.sh
#
# For each server in turn (never both at once): start on an empty data
# directory; create PARENTS x CHILDREN znodes of VALUE_SIZE bytes
# (bench/storage/ztool.py populate: pipelined creates, 1000 in flight); wait
# SETTLE_S (a snapshot in progress may finish); stop it (SIGTERM); then
# RESTARTS times: start it on the same data and time from launch to the first
# successful getData of the last znode created (a new connection every 10 ms),
# and read its RSS (VmRSS) SETTLE_S after that read; stop it.
#
# Both servers keep their default snapCount (100000), so each restart loads a
# snapshot and replays the log after it. ZooKeeper runs with -Xms/-Xmx
# $ZK_HEAP (no pre-touch, so RSS is what it used).
#
# Env: PARENTS (1000), CHILDREN (1000), VALUE_SIZE (100), RESTARTS (3),
#      SETTLE_S (5), ZK_HEAP (2g), ROOST, LOADGEN (binaries; default
#      $CARGO_TARGET_DIR or target/release), KEEP_WORK (keep the data).
# Only processes this script started are stopped, by PID, on exit.
set -euo pipefail

PARENTS=${PARENTS:-1000}
CHILDREN=${CHILDREN:-1000}
VALUE_SIZE=${VALUE_SIZE:-100}
RESTARTS=${RESTARTS:-3}
SETTLE_S=${SETTLE_S:-5}
ZK_HEAP=${ZK_HEAP:-2g}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/roost-recovery.XXXXXX)
# shellcheck source=bench/storage/lib.sh
. "$REPO/bench/storage/lib.sh"

ZNODES=$((PARENTS * CHILDREN + PARENTS + 1))
LAST=/tree/p$((PARENTS - 1))/c$((CHILDREN - 1))
log "machine: $(machine)"
log "tree: $PARENTS x $CHILDREN znodes of $VALUE_SIZE B (+ parents) = $ZNODES"

declare -A RESULT
for name in roost zookeeper; do
  port=$(pick_port 25181)
  if [ $name = roost ]; then start_roost $name "$port" ""; else start_zk $name "$port" "" "$ZK_HEAP"; fi
  pid=$LAST_PID
  wait_ready $name "$port" "$pid"
  log "$name: populating ($ZNODES znodes)"
  pop=$(python3 "$ZTOOL" populate --server "127.0.0.1:$port" --root /tree \
    --parents "$PARENTS" --children "$CHILDREN" --value-size "$VALUE_SIZE")
  count=$(mntr_get "$(fourlw "$port" mntr)" zk_znode_count)
  log "$name: $pop; zk_znode_count $count"
  sleep "$SETTLE_S"
  stop_server "$pid"
  # Newest snapshot's size (du would count Roost's preallocated, zero-filled
  # log segments and not ZooKeeper's sparse preallocation).
  snap=$(find "$WORK/$name/data" -type f -name 'snapshot.*' ! -name '*.tmp' -printf '%T@ %s\n' | sort -n | tail -1 | awk '{printf "%.0f", $2/1048576}')
  disk=${snap:-0}
  log "$name: files $(find "$WORK/$name/data" -type f -printf '%f=%s ' | tr '\n' ' ')"
  times=() rsss=()
  for i in $(seq 1 "$RESTARTS"); do
    sleep 1
    if [ $name = roost ]; then start_roost $name "$port" ""; else start_zk $name "$port" "" "$ZK_HEAP"; fi
    pid=$LAST_PID
    t=$(python3 "$ZTOOL" probe --server "127.0.0.1:$port" --path "$LAST" --since "$LAST_START" --timeout 600)
    [ "$t" != timeout ] || { log "$name did not serve $LAST"; tail -20 "$WORK/$name/server.log" >&2; exit 1; }
    count=$(mntr_get "$(fourlw "$port" mntr)" zk_znode_count)
    sleep "$SETTLE_S"
    rss=$(rss_mib "$pid")
    extra=""
    [ $name = roost ] && extra=" ($(grep 'recovered' "$WORK/$name/server.log" | tail -1 | grep -o 'replayed=[0-9]*\|replay_ms=[0-9]*\|total_ms=[0-9]*' | tr '\n' ' '))"
    log "$name restart $i: first read after ${t} s, RSS ${rss} MiB, zk_znode_count $count$extra"
    times+=("$t") rsss+=("$rss")
    stop_server "$pid"
  done
  RESULT[$name.t]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  RESULT[$name.rss]=$(printf '%s\n' "${rsss[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  RESULT[$name.all]="${times[*]} s; RSS ${rsss[*]} MiB"
  RESULT[$name.disk]=$disk
done

echo
echo "recovery: $ZNODES znodes ($PARENTS x $CHILDREN, $VALUE_SIZE B values), median of $RESTARTS restarts"
echo "machine: $(machine); ZooKeeper $ZK_VERSION (-Xmx$ZK_HEAP); roost $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
printf '| figure | Roost | ZooKeeper | Roost / ZooKeeper |\n|---|---|---|---|\n'
printf '| launch to first read (s) | %s | %s | %s |\n' "${RESULT[roost.t]}" "${RESULT[zookeeper.t]}" \
  "$(awk -v a="${RESULT[roost.t]}" -v b="${RESULT[zookeeper.t]}" 'BEGIN{printf "%.2f", a/b}')"
printf '| RSS after recovery (MiB) | %s | %s | %s |\n' "${RESULT[roost.rss]}" "${RESULT[zookeeper.rss]}" \
  "$(awk -v a="${RESULT[roost.rss]}" -v b="${RESULT[zookeeper.rss]}" 'BEGIN{printf "%.2f", a/b}')"
printf '| newest snapshot (MiB) | %s | %s | %s |\n' "${RESULT[roost.disk]}" "${RESULT[zookeeper.disk]}" \
  "$(awk -v a="${RESULT[roost.disk]}" -v b="${RESULT[zookeeper.disk]}" 'BEGIN{printf "%.2f", a/b}')"
echo "each restart: Roost ${RESULT[roost.all]}; ZooKeeper ${RESULT[zookeeper.all]}"
