#!/usr/bin/env bash
# Side-by-side benchmark: Roost vs Apache ZooKeeper 3.8 (Debian package), same
# machine, same settings, same roost-loadgen workload.
#
#   bench/run.sh SCENARIO        SCENARIO: read-only | write-only | mixed
#
# Knobs (environment): WARMUP_S (per-run warm-up, default 10), DURATION_S
# (measured seconds per run, default 20), RUNS (runs per server, median taken,
# default 3), JIT_WARM_S (one discarded run per server first so ZooKeeper's
# JIT is warm, default 10), CLIENTS (32), OUTSTANDING (8), THREADS (loadgen
# worker threads, default: one per core), ZK_HEAP (1g), DOCS (the results
# file, default docs/benchmarks.md; set DOCS= to skip it).
#
# For write scenarios a third server runs: ZooKeeper with forceSync=no, to
# show what fsync costs ZooKeeper (Roost and default ZooKeeper both fsync).
#
# Only processes this script started are stopped, by PID, on exit.
set -euo pipefail

SCENARIO=${1:-}
case "$SCENARIO" in
  read-only)  RATIO=1:0;  VALUE_SIZE=1024; ZNODES=10000 ;;
  write-only) RATIO=0:1;  VALUE_SIZE=1024; ZNODES=10000 ;;
  mixed)      RATIO=10:1; VALUE_SIZE=1024; ZNODES=10000 ;;
  # Watch fan-out: 100 watcher sessions re-arming data watches on 10 znodes,
  # one writer setting them at 200 writes/s (loadgen's watch workload).
  watch)      RATIO=10:1; VALUE_SIZE=1024; ZNODES=10
              WORKLOAD_ARGS=(--workload watch --watchers "${WATCHERS:-100}" --write-rate "${WRITE_RATE:-200}") ;;
  *) echo "usage: $0 read-only|write-only|mixed|watch" >&2; exit 2 ;;
esac
WARMUP_S=${WARMUP_S:-10}
DURATION_S=${DURATION_S:-20}
RUNS=${RUNS:-3}
JIT_WARM_S=${JIT_WARM_S:-10}
CLIENTS=${CLIENTS:-32}
OUTSTANDING=${OUTSTANDING:-8}
THREADS=${THREADS:-$(nproc)}
ZK_HEAP=${ZK_HEAP:-1g}
# Client ports: far from 2181 so a developer's own server is never hit.
# A port any socket still uses (TIME_WAIT from an earlier run included) is
# skipped: Roost's listener does not set SO_REUSEADDR yet, so it would not bind.
port_busy() { ss -Htan 2>/dev/null | awk '{print $4; print $5}' | grep -q ":$1\$"; }
pick_port() { # FIRST
  local p=$1
  while port_busy "$p"; do p=$((p + 1)); done
  echo "$p"
}
ROOST_PORT=${ROOST_PORT:-$(pick_port 23181)}
ZK_PORT=${ZK_PORT:-$(pick_port $((ROOST_PORT + 1)))}
ZK_NOSYNC_PORT=${ZK_NOSYNC_PORT:-$(pick_port $((ZK_PORT + 1)))}

REPO=$(cd "$(dirname "$0")/.." && pwd)
DOCS=${DOCS-$REPO/docs/benchmarks.md}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
ROOST=$TARGET/release/roost
LOADGEN=$TARGET/release/roost-loadgen

log() { echo "bench: $*" >&2; }

# --- build -------------------------------------------------------------------
log "building roost and roost-loadgen (release)"
(cd "$REPO" && cargo build --release -p roost -p loadgen)

# --- Apache ZooKeeper --------------------------------------------------------
if [ ! -f /usr/share/java/zookeeper.jar ]; then
  log "installing Debian's zookeeper package"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y zookeeper zookeeper-bin
fi
command -v java >/dev/null || { echo "bench: java is missing" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is missing" >&2; exit 1; }
# zookeeper.jar's manifest names its own dependencies (/usr/share/java/*);
# the server additionally needs an slf4j binding to log at all.
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar
ZK_VERSION=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo unknown)

WORK=$(mktemp -d /tmp/roost-bench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# One configuration for every server; only the port, data directory and (for
# the second ZooKeeper row) forceSync differ. Roost ignores the keys it does
# not know (with a warning), as ZooKeeper does.
write_cfg() { # PORT NAME EXTRA
  mkdir -p "$WORK/$2/data"
  cat > "$WORK/$2/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$WORK/$2/data
clientPort=$1
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
$3
CFG
}

cat > "$WORK/log4j.properties" <<'L4J'
log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
L4J

start_zk() { # NAME PORT EXTRA_CFG -> sets LAST_PID
  write_cfg "$2" "$1" "$3"
  java -Xms"$ZK_HEAP" -Xmx"$ZK_HEAP" -XX:+AlwaysPreTouch \
    -Dlog4j.configuration="file:$WORK/log4j.properties" \
    -Dzookeeper.admin.enableServer=false \
    -cp "$ZK_CP" org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/$1/zoo.cfg" \
    > "$WORK/$1/server.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

start_roost() { # NAME PORT -> sets LAST_PID
  write_cfg "$2" "$1" "roost.logLevel=warn"
  "$ROOST" serve --config "$WORK/$1/zoo.cfg" > "$WORK/$1/server.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

wait_ready() { # NAME PORT PID
  local i reply
  for i in $(seq 1 100); do
    if ! kill -0 "$3" 2>/dev/null; then
      echo "bench: $1 exited; its log:" >&2; cat "$WORK/$1/server.log" >&2; exit 1
    fi
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$2" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null || true)
    if [ "$reply" = imok ]; then return 0; fi
    sleep 0.2
  done
  echo "bench: $1 did not answer ruok on port $2" >&2; exit 1
}

NAMES=(roost zookeeper)
declare -A PORT PID
start_roost roost "$ROOST_PORT"; PID[roost]=$LAST_PID; PORT[roost]=$ROOST_PORT
start_zk zookeeper "$ZK_PORT" ""; PID[zookeeper]=$LAST_PID; PORT[zookeeper]=$ZK_PORT
if [ "$RATIO" != "1:0" ]; then
  start_zk zookeeper-nosync "$ZK_NOSYNC_PORT" "forceSync=no"
  PID[zookeeper-nosync]=$LAST_PID; PORT[zookeeper-nosync]=$ZK_NOSYNC_PORT
  NAMES+=(zookeeper-nosync)
fi
for n in "${NAMES[@]}"; do wait_ready "$n" "${PORT[$n]}" "${PID[$n]}"; done
log "servers up: $(for n in "${NAMES[@]}"; do printf '%s=127.0.0.1:%s(pid %s) ' "$n" "${PORT[$n]}" "${PID[$n]}"; done)"

LOADGEN_ARGS=(--clients "$CLIENTS" --outstanding "$OUTSTANDING" --threads "$THREADS"
  --value-size "$VALUE_SIZE" --znodes "$ZNODES" --read-ratio "$RATIO" --quiet
  ${WORKLOAD_ARGS[@]+"${WORKLOAD_ARGS[@]}"})

loadgen() { # NAME WARMUP DURATION JSON
  "$LOADGEN" --servers "127.0.0.1:${PORT[$1]}" --server-pid "${PID[$1]}" \
    --warmup "$2" --duration "$3" --json "$4" "${LOADGEN_ARGS[@]}"
}

# --- warm the servers (JIT, allocator, page cache), results discarded -------
if [ "$JIT_WARM_S" != 0 ]; then
  for n in "${NAMES[@]}"; do
    log "warming $n for ${JIT_WARM_S}s"
    loadgen "$n" 0 "$JIT_WARM_S" "$WORK/warm-$n.json" > /dev/null
  done
fi

# --- measured runs, servers interleaved so drift hits all alike -------------
mkdir -p "$WORK/results"
for run in $(seq 1 "$RUNS"); do
  for n in "${NAMES[@]}"; do
    log "run $run/$RUNS: $n (warm-up ${WARMUP_S}s, measure ${DURATION_S}s)"
    loadgen "$n" "$WARMUP_S" "$DURATION_S" "$WORK/results/$n-$run.json" | sed 's/^/    /' >&2
  done
done

COMMAND="bench/run.sh $SCENARIO  (WARMUP_S=$WARMUP_S DURATION_S=$DURATION_S RUNS=$RUNS JIT_WARM_S=$JIT_WARM_S CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING THREADS=$THREADS ZK_HEAP=$ZK_HEAP)"
LOADGEN_CMD="roost-loadgen --servers 127.0.0.1:PORT --server-pid PID --warmup $WARMUP_S --duration $DURATION_S ${LOADGEN_ARGS[*]}"
python3 "$REPO/bench/report.py" \
  --scenario "$SCENARIO" --results "$WORK/results" --servers "${NAMES[*]}" \
  --command "$COMMAND" --loadgen-command "$LOADGEN_CMD" \
  --zk-version "$ZK_VERSION" --commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  ${DOCS:+--docs "$DOCS"}
