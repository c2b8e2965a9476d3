# Shared by bench/storage/*.sh (sourced). Starts Roost and Apache ZooKeeper 3.8
# (Debian package) the way bench/run.sh does, on data directories under $WORK,
# and stops only the processes started here, by PID, on exit.
# Needs: REPO, WORK set by the caller.

TARGET=${CARGO_TARGET_DIR:-$REPO/target}
ROOST=${ROOST:-$TARGET/release/roost}
LOADGEN=${LOADGEN:-$TARGET/release/roost-loadgen}
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar
ZK_VERSION=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo unknown)
ZTOOL=$REPO/bench/storage/ztool.py

log() { echo "bench: $*" >&2; }

[ -x "$ROOST" ] && [ -x "$LOADGEN" ] || {
  echo "bench: build first: cargo build --release --workspace (looked in $TARGET)" >&2; exit 1; }
[ -f /usr/share/java/zookeeper.jar ] || {
  echo "bench: Apache ZooKeeper missing: apt-get install zookeeper zookeeper-bin" >&2; exit 1; }

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

port_busy() { ss -Htan 2>/dev/null | awk '{print $4; print $5}' | grep -q ":$1\$"; }
pick_port() { local p=$1; while port_busy "$p"; do p=$((p + 1)); done; echo "$p"; }

cat > "$WORK/log4j.properties" <<'L4J'
log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
L4J

write_cfg() { # NAME PORT EXTRA  (data in $WORK/NAME/data; kept across restarts)
  mkdir -p "$WORK/$1/data"
  cat > "$WORK/$1/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$WORK/$1/data
clientPort=$2
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
$3
CFG
}

start_roost() { # NAME PORT EXTRA_CFG -> LAST_PID, LAST_START (epoch s)
  write_cfg "$1" "$2" "roost.logLevel=info
$3"
  LAST_START=$(date +%s.%N)
  "$ROOST" serve --config "$WORK/$1/zoo.cfg" >> "$WORK/$1/server.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

start_zk() { # NAME PORT EXTRA_CFG HEAP -> LAST_PID, LAST_START
  write_cfg "$1" "$2" "$3"
  LAST_START=$(date +%s.%N)
  java -Xms"$4" -Xmx"$4" \
    -Dlog4j.configuration="file:$WORK/log4j.properties" \
    -Dzookeeper.admin.enableServer=false \
    -cp "$ZK_CP" org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/$1/zoo.cfg" \
    >> "$WORK/$1/server.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

fourlw() { # PORT WORD
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf '%s' "$2" >&3 && timeout 5 cat <&3) 2>/dev/null || true
}

mntr_get() { # MNTR_TEXT KEY
  printf '%s\n' "$1" | awk -F'\t' -v k="$2" '$1==k{print $2}'
}

wait_ready() { # NAME PORT PID
  local i
  for i in $(seq 1 600); do
    if ! kill -0 "$3" 2>/dev/null; then
      echo "bench: $1 exited; its log:" >&2; tail -30 "$WORK/$1/server.log" >&2; exit 1
    fi
    [ "$(fourlw "$2" ruok)" = imok ] && return 0
    sleep 0.1
  done
  echo "bench: $1 did not answer ruok on port $2" >&2; exit 1
}

stop_server() { # PID
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

rss_mib() { # PID
  awk '/^VmRSS/{printf "%.0f", $2/1024}' "/proc/$1/status"
}

machine() {
  echo "$(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, Linux $(uname -r), data on $(df -T "$WORK" | awk 'NR==2{print $2" ("$1")"}')"
}
