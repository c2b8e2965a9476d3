#!/usr/bin/env bash
# Failover against a standalone Roost: starts one server, lets roost-loadgen
# kill -9 it and restart it ROUNDS times while writing, prints the windows.
#
#   bench/failover.sh            knobs: ROUNDS (3), KILL_INTERVAL_S (3),
#                                CLIENTS (8), PORT (first free from 24181),
#                                OUT (directory for failover.json/.html)
#
# Only the servers this script started are stopped, by PID, on exit.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
ROUNDS=${ROUNDS:-3}
KILL_INTERVAL_S=${KILL_INTERVAL_S:-3}
CLIENTS=${CLIENTS:-8}
port_busy() { ss -Htan 2>/dev/null | awk '{print $4; print $5}' | grep -q ":$1\$"; }
PORT=${PORT:-24181}
while port_busy "$PORT"; do PORT=$((PORT + 1)); done
(cd "$REPO" && cargo build --release -p roost -p loadgen)
WORK=$(mktemp -d /tmp/roost-failover.XXXXXX)
OUT=${OUT:-$WORK}
cat > "$WORK/zoo.cfg" <<CFG
tickTime=2000
dataDir=$WORK/data
clientPort=$PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
CFG
START="nohup $TARGET/release/roost serve --config $WORK/zoo.cfg >> $WORK/roost.log 2>&1 & echo \$! > $WORK/roost.pid"
cleanup() {
  if [ -f "$WORK/roost.pid" ]; then kill "$(cat "$WORK/roost.pid")" 2>/dev/null || true; fi
  [ "$OUT" = "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT
sh -c "$START"
for _ in $(seq 50); do
  ss -Htln | grep -q ":$PORT " && break
  sleep 0.1
done
"$TARGET/release/roost-loadgen" --workload failover --servers "127.0.0.1:$PORT" \
  --clients "$CLIENTS" --outstanding 2 --warmup 2 --rounds "$ROUNDS" \
  --kill-interval "$KILL_INTERVAL_S" --kill-cmd 'kill -9 {pid}' --pid-file "$WORK/roost.pid" \
  --restart-cmd "$START" --json "$OUT/failover.json" --html "$OUT/failover.html"
echo "bench: results in $OUT/failover.json and $OUT/failover.html" >&2
