#!/usr/bin/env bash
# A local Roost or Apache ZooKeeper ensemble for benchmarks: every member on
# 127.0.0.1 with its own zoo.cfg, data directory, log and pid file under DIR.
#
#   bench/ensemble-ctl.sh init DIR roost|zookeeper MEMBERS [FIRST_PORT]
#       write DIR/mN/zoo.cfg (+ data/myid) on free ports (from FIRST_PORT,
#       default 25181; never 2181). Extra zoo.cfg lines: $ENSEMBLE_EXTRA_CFG.
#   bench/ensemble-ctl.sh start DIR [SECS]        start every member not running,
#                                                 then wait-healthy
#   bench/ensemble-ctl.sh wait-healthy DIR [SECS] wait (default 60 s) until every
#       member answers ruok, srvr says leader/follower, exactly one leads (and,
#       Roost, every member's mntr names that leader)
#   bench/ensemble-ctl.sh kill-leader DIR         kill -9 the member whose srvr says
#       `Mode: leader` (asking the last known leader first) and wait until it
#       is gone; prints its id. Bash builtins only (no forks), as its run
#       time counts in the failover window.
#   bench/ensemble-ctl.sh restart-dead DIR [--after-leader SECS] [--wait SECS]
#       start again (same config and data, in the background) every member
#       whose process is gone; with --after-leader, only once a running
#       member leads, plus SECS; with --wait, then wait-healthy (a member that dies meanwhile is
#       started again, up to RESTART_TRIES=3 times; logged "died" in events.log)
#   bench/ensemble-ctl.sh status DIR   one line per member: id pid port mode term
#   bench/ensemble-ctl.sh terms DIR    one line per member: id term leader (Roost:
#       mntr roost_raft_term/roost_raft_leader; ZooKeeper: srvr Zxid epoch, -)
#   bench/ensemble-ctl.sh servers DIR  the connect string (every member)
#   bench/ensemble-ctl.sh pids DIR     pids of running members
#   bench/ensemble-ctl.sh stop DIR     SIGTERM every running member (SIGKILL after 10 s)
#
# Processes are only ever signalled by the pid this script recorded in
# DIR/mN/pid, and only while /proc/PID/cmdline still names DIR.
# Kills and restarts are logged with wall-clock times to DIR/events.log.
# Environment: CARGO_TARGET_DIR or ROOST (the roost binary), ZK_HEAP (1g),
# ZK_LOG_LEVEL (INFO).
set -uo pipefail
if [ -n "${ENSEMBLE_CTL_TRACE:-}" ]; then exec 2>>"$ENSEMBLE_CTL_TRACE"; set -x; fi

die() { echo "ensemble-ctl: $*" >&2; exit 1; }
# Wall-clock ms in NOW_MS, without forking.
now_ms() { NOW_MS=${EPOCHREALTIME//[.,]/}; NOW_MS=${NOW_MS:0:-3}; }
event() { now_ms; echo "$NOW_MS $*" >> "$DIR/events.log"; }
# Sleeps without forking: read with a timeout on a FIFO nobody writes.
nap() { # SECS
  if [ -z "${NAP_FD:-}" ]; then exec {NAP_FD}<> "$DIR/.nap"; fi
  read -r -t "$1" -u "$NAP_FD" || true
}

ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar

# --- four-letter words without forking: /dev/tcp, read -t ---------------
# fourlw PORT WORD: the reply in R4 (empty when the member does not answer).
fourlw() {
  R4=
  local fd line=
  { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  if { printf '%s' "$2" >&"$fd"; } 2>/dev/null; then
    while IFS= read -r -t 2 -u "$fd" line; do R4+="$line"$'\n'; done 2>/dev/null
    R4+="$line"
  fi
  exec {fd}>&-
  return 0
}

field() { # TEXT PREFIX: the rest of the first line starting with PREFIX, in F4
  F4=
  local line
  while IFS= read -r line; do
    if [[ $line == "$2"* ]]; then F4=${line#"$2"}; return 0; fi
  done <<< "$1"
  return 1
}

mode_of() { # PORT -> M4 (leader, follower, ..., or "-")
  M4=-
  fourlw "$1" srvr && field "$R4" "Mode: " && M4=$F4
}

# --- state ------------------------------------------------------------------
load() {
  DIR=${1:?DIR}
  DIR=${DIR%/}
  [[ $DIR == /* ]] || DIR=$PWD/$DIR
  [ -f "$DIR/ensemble.env" ] || die "$DIR/ensemble.env missing (run init first)"
  # shellcheck disable=SC1091
  source "$DIR/ensemble.env"
}

# pid_of N -> P4: the member's pid if its process is alive (not a zombie)
# and still ours (its command line names DIR); else empty.
pid_of() {
  P4=
  local pid stat args
  [ -f "$DIR/m$1/pid" ] || return 1
  read -r pid < "$DIR/m$1/pid" || return 1
  [ -n "$pid" ] || return 1
  read -r stat 2>/dev/null < "/proc/$pid/stat" || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ] || return 1
  mapfile -d '' args 2>/dev/null < "/proc/$pid/cmdline" || return 1
  [[ "${args[*]}" == *"$DIR/m$1/"* ]] || return 1
  P4=$pid
}

gone() { # PID: dead or a zombie
  local stat
  read -r stat 2>/dev/null < "/proc/$1/stat" || return 0
  stat=${stat##*) }
  [ "${stat%% *}" = Z ]
}

# --- commands -------------------------------------------------------------
port_busy() { ss -Htan 2>/dev/null | awk '{print $4; print $5}' | grep -q ":$1\$"; }

cmd_init() {
  local dir=${1:?DIR} system=${2:?roost|zookeeper} n=${3:?MEMBERS} port=${4:-25181}
  case $system in roost|zookeeper) ;; *) die "system must be roost or zookeeper, not $system" ;; esac
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || die "MEMBERS must be a positive number"
  local repo target
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  target=${CARGO_TARGET_DIR:-$repo/target}
  if [ "$system" = roost ]; then
    local roost=${ROOST:-$target/release/roost}
    [ -x "$roost" ] || die "no roost binary at $roost (cargo build --release -p roost)"
  else
    [ -f /usr/share/java/zookeeper.jar ] || die "Apache ZooKeeper missing: apt-get install zookeeper"
    command -v java >/dev/null || die "java missing"
  fi
  mkdir -p "$dir" && DIR=$(cd "$dir" && pwd)
  local ports=() i
  while [ ${#ports[@]} -lt $((3 * n)) ]; do
    if [ "$port" -ne 2181 ] && ! port_busy "$port"; then ports+=("$port"); fi
    port=$((port + 1))
  done
  local servers="" clients=""
  for i in $(seq 1 "$n"); do
    servers+="server.$i=127.0.0.1:${ports[$((3 * i - 2))]}:${ports[$((3 * i - 1))]}"$'\n'
    clients+="${clients:+ }${ports[$((3 * i - 3))]}"
  done
  for i in $(seq 1 "$n"); do
    mkdir -p "$DIR/m$i/data"
    echo "$i" > "$DIR/m$i/data/myid"
    # ZooKeeper's shipped defaults (Debian's zoo.cfg, kazoo's harness):
    # tickTime=2000, initLimit=10, syncLimit=5. Roost reads the same file.
    cat > "$DIR/m$i/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$DIR/m$i/data
clientPort=${ports[$((3 * i - 3))]}
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
${servers}$( [ "$system" = roost ] && echo "roost.logLevel=info" )
${ENSEMBLE_EXTRA_CFG:-}
CFG
  done
  cat > "$DIR/log4j.properties" <<L4J
log4j.rootLogger=${ZK_LOG_LEVEL:-INFO}, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
L4J
  cat > "$DIR/ensemble.env" <<ENV
SYSTEM=$system
MEMBERS=$n
CLIENT_PORTS=($clients)
ROOST_BIN=${ROOST:-$target/release/roost}
ZK_HEAP=${ZK_HEAP:-1g}
ENV
  : > "$DIR/events.log"
  rm -f "$DIR/.nap" && mkfifo "$DIR/.nap"
  echo "ensemble-ctl: $system x$n in $DIR, client ports $clients" >&2
}

start_member() { # N
  local d="$DIR/m$1"
  if [ "$SYSTEM" = roost ]; then
    "$ROOST_BIN" serve --config "$d/zoo.cfg" < /dev/null >> "$d/server.log" 2>&1 &
  else
    java -Xms"$ZK_HEAP" -Xmx"$ZK_HEAP" \
      -Dlog4j.configuration="file:$DIR/log4j.properties" \
      -Dzookeeper.admin.enableServer=false \
      -cp "$ZK_CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
      < /dev/null >> "$d/server.log" 2>&1 &
  fi
  local pid=$! n=0
  echo "$pid" > "$d/pid"
  event "start m$1 pid $pid"
  # Until the fork has exec'd, /proc/PID/cmdline is still this script's.
  until pid_of "$1"; do
    gone "$pid" && return 0 # died at once: wait-healthy shows its log
    n=$((n + 1))
    [ "$n" -lt 500 ] || die "member $1 (pid $pid) did not exec within 5 s"
    nap 0.01
  done
}

cmd_start() {
  load "$1"
  local i
  for i in $(seq 1 "$MEMBERS"); do pid_of "$i" || start_member "$i"; done
  cmd_wait_healthy "$DIR" "${2:-60}"
}

cmd_restart_dead() {
  load "$1"
  shift
  local wait_secs="" after=""
  while [ $# -gt 0 ]; do
    case $1 in
      --wait) wait_secs=${2:?--wait SECS}; shift 2 ;;
      --after-leader) after=${2:?--after-leader SECS}; shift 2 ;;
      *) die "restart-dead: unknown option $1" ;;
    esac
  done
  [ -z "$after" ] || wait_survivor_leader "$after"
  local i restarted=""
  for i in $(seq 1 "$MEMBERS"); do
    if ! pid_of "$i"; then start_member "$i"; restarted+=" m$i"; fi
  done
  [ -n "$restarted" ] && echo "ensemble-ctl: restarted$restarted" >&2
  [ -n "$wait_secs" ] || return 0
  # A member that dies while the ensemble settles is started again (at
  # most RESTART_TRIES times, each logged as "died" in events.log), so one
  # crash does not end a benchmark run; the crash stays in its log.
  local tries=0 rc
  while :; do
    DEAD_OK=1 cmd_wait_healthy "$DIR" "$wait_secs"
    rc=$?
    [ "$rc" -eq 3 ] || return "$rc"
    tries=$((tries + 1))
    [ "$tries" -le "${RESTART_TRIES:-3}" ] || die "member $DEAD_MEMBER keeps dying"
    echo "ensemble-ctl: member $DEAD_MEMBER died; starting it again" >&2
    start_member "$DEAD_MEMBER"
  done
}

# wait_survivor_leader SECS: until one running member says it leads (at
# most 60 s), then SECS more; so a restart does not compete for the CPU
# with the election it caused (all members share this machine's cores).
wait_survivor_leader() {
  local i n=0 leaders
  while :; do
    leaders=0
    for ((i = 1; i <= MEMBERS; i++)); do
      pid_of "$i" || continue
      mode_of "${CLIENT_PORTS[$((i - 1))]}"
      [ "$M4" = leader ] && leaders=$((leaders + 1))
    done
    [ "$leaders" -eq 1 ] && break
    n=$((n + 1))
    if [ "$n" -ge 3000 ]; then
      echo "ensemble-ctl: no leader among the running members after 60 s; restarting anyway" >&2
      break
    fi
    nap 0.02
  done
  event "survivors have a leader"
  nap "$1"
}

cmd_wait_healthy() {
  load "$1"
  local secs=${2:-60} start=$EPOCHREALTIME i leaders leader why
  local deadline=$(( ${start%.*} + secs ))
  while :; do
    why= leaders=0 leader=
    for i in $(seq 1 "$MEMBERS"); do
      if ! pid_of "$i"; then
        echo "ensemble-ctl: member $i ($SYSTEM) is not running; its log:" >&2
        tail -20 "$DIR/m$i/server.log" >&2
        event "died m$i"
        DEAD_MEMBER=$i
        [ -n "${DEAD_OK:-}" ] && return 3
        exit 1
      fi
      local port=${CLIENT_PORTS[$((i - 1))]}
      fourlw "$port" ruok
      if [ "$R4" != imok ]; then why+=" m$i:no-ruok"; continue; fi
      mode_of "$port"
      case $M4 in
        leader) leaders=$((leaders + 1)); leader=$i ;;
        follower|observer) ;;
        *) why+=" m$i:mode=$M4" ;;
      esac
    done
    [ "$leaders" -eq 1 ] || why+=" leaders=$leaders"
    if [ -z "$why" ] && [ "$SYSTEM" = roost ]; then
      # Every member must know the leader (a restarted one has caught up).
      for i in $(seq 1 "$MEMBERS"); do
        fourlw "${CLIENT_PORTS[$((i - 1))]}" mntr
        field "$R4" $'roost_raft_leader\t'
        [ "$F4" = "$leader" ] || why+=" m$i:raft_leader=${F4:-?}"
      done
    fi
    if [ -z "$why" ]; then
      echo "$leader" > "$DIR/leader"
      event "healthy leader m$leader"
      return 0
    fi
    if [ "$(printf '%(%s)T' -1)" -ge "$deadline" ]; then
      echo "ensemble-ctl: not healthy after ${secs}s:$why" >&2
      cmd_status "$DIR" >&2
      for i in $(seq 1 "$MEMBERS"); do
        echo "--- m$i log tail" >&2; tail -5 "$DIR/m$i/server.log" >&2
      done
      exit 1
    fi
    nap 0.05
  done
}

cmd_kill_leader() {
  load "$1"
  local i first=1 order=()
  # Ask the member that led at the last wait-healthy first: one srvr
  # instead of MEMBERS when it still leads (this runs inside the window).
  [ -f "$DIR/leader" ] && read -r first < "$DIR/leader"
  order=("$first")
  for ((i = 1; i <= MEMBERS; i++)); do [ "$i" = "$first" ] || order+=("$i"); done
  for i in "${order[@]}"; do
    mode_of "${CLIENT_PORTS[$((i - 1))]}"
    [ "$M4" = leader ] || continue
    pid_of "$i" || die "member $i says it leads but its process is not ours"
    local pid=$P4 t0
    kill -9 "$pid" || die "kill -9 $pid failed"
    now_ms; t0=$NOW_MS
    # Gone means the kernel closed its sockets; bounded at 5 s.
    local n=0
    until gone "$pid"; do
      n=$((n + 1))
      [ "$n" -lt 5000 ] || die "member $i (pid $pid) still alive 5 s after kill -9"
      nap 0.001
    done
    now_ms
    echo "$t0 kill -9 m$i pid $pid (leader); gone $NOW_MS" >> "$DIR/events.log"
    echo "$i"
    return 0
  done
  die "no member says Mode: leader"
}

cmd_status() {
  load "$1"
  local i
  for i in $(seq 1 "$MEMBERS"); do
    local port=${CLIENT_PORTS[$((i - 1))]}
    pid_of "$i"
    mode_of "$port"
    term_of "$i"
    echo "m$i pid=${P4:--} port=$port mode=$M4 term=$T4 leader=$L4"
  done
}

term_of() { # N -> T4 (term or epoch), L4 (raft leader or -)
  T4=- L4=-
  local port=${CLIENT_PORTS[$(($1 - 1))]}
  if [ "$SYSTEM" = roost ]; then
    fourlw "$port" mntr || return 0
    field "$R4" $'roost_raft_term\t' && T4=$F4
    field "$R4" $'roost_raft_leader\t' && L4=$F4
  else
    fourlw "$port" srvr || return 0
    if field "$R4" "Zxid: 0x"; then T4=$((16#$F4 >> 32)); fi
  fi
}

cmd_terms() {
  load "$1"
  local i
  for i in $(seq 1 "$MEMBERS"); do term_of "$i"; echo "$i $T4 $L4"; done
}

cmd_servers() {
  load "$1"
  local p out=""
  for p in "${CLIENT_PORTS[@]}"; do out+="${out:+,}127.0.0.1:$p"; done
  echo "$out"
}

cmd_pids() {
  load "$1"
  local i
  for i in $(seq 1 "$MEMBERS"); do pid_of "$i" && echo "$P4"; done
  return 0
}

cmd_stop() {
  load "$1"
  local i pids=()
  for i in $(seq 1 "$MEMBERS"); do
    if pid_of "$i"; then kill "$P4" 2>/dev/null; pids+=("$P4"); event "stop m$i pid $P4"; fi
  done
  local n=0 alive
  while :; do
    alive=()
    for i in "${pids[@]}"; do gone "$i" || alive+=("$i"); done
    [ ${#alive[@]} -eq 0 ] && return 0
    n=$((n + 1))
    if [ "$n" -ge 100 ]; then
      for i in "${alive[@]}"; do kill -9 "$i" 2>/dev/null; done
      echo "ensemble-ctl: SIGKILLed ${alive[*]} (no exit 10 s after SIGTERM)" >&2
      return 0
    fi
    sleep 0.1
  done
}

cmd=${1:-}
shift || true
case $cmd in
  init) cmd_init "$@" ;;
  start) cmd_start "$@" ;;
  wait-healthy) cmd_wait_healthy "$@" ;;
  kill-leader) cmd_kill_leader "$@" ;;
  restart-dead) cmd_restart_dead "$@" ;;
  status) cmd_status "$@" ;;
  terms) cmd_terms "$@" ;;
  servers) cmd_servers "$@" ;;
  pids) cmd_pids "$@" ;;
  stop) cmd_stop "$@" ;;
  *) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
