#!/usr/bin/env bash
# A local Roost or Apache ZooKeeper ensemble for benchmarks: every member
# with its own zoo.cfg, data directory, log and pid file under DIR; on
# 127.0.0.1, or (NETNS=1 at init) each in its own network namespace.
#
#   bench/ensemble-ctl.sh init DIR roost|zookeeper MEMBERS [FIRST_PORT]
#       write DIR/mN/zoo.cfg (+ data/myid) on free ports (from FIRST_PORT,
#       default 25181; never 2181). Extra zoo.cfg lines: $ENSEMBLE_EXTRA_CFG.
#       With NETNS=1 (needs root and iproute2), as tests/common/netlab.rs
#       does: member N runs in namespace roost-OWNER-TAG-mN (OWNER:
#       $NETNS_OWNER, default the calling process's pid; the lab is an
#       orphan once that pid is gone) with two veth links, a peer link into
#       bridge rbTAGp (the server.N addresses 10.A.B.1N, so only members
#       reach each other there) and a client link into bridge rbTAGc (the
#       clientPortAddress 10.A.B+1.1N; this namespace has 10.A.B+1.1, so
#       clients and the four-letter words here reach every member). Labs
#       whose owner is gone are removed first (remove-orphans).
#   bench/ensemble-ctl.sh start DIR [SECS]        start every member not running,
#                                                 then wait-healthy
#   bench/ensemble-ctl.sh wait-healthy DIR [SECS] wait (default 60 s) until every
#       member answers ruok, srvr says leader/follower, exactly one leads (and,
#       Roost, every member's mntr names that leader); logs
#       "healthy leader mN term T" (Roost raft term; ZooKeeper: Zxid epoch)
#   bench/ensemble-ctl.sh fault-leader DIR kill9|stop|partition
#       fault the member whose srvr says `Mode: leader` (asking the last
#       known leader first) and print its id. kill9: kill -9 it and wait
#       until it is gone. stop: SIGSTOP it and wait until the kernel shows it
#       stopped (T). partition (NETNS=1 ensembles only): take the root-side
#       ends of its peer and client veths down (one `ip -batch`), so every
#       packet to and from it is dropped, silently, in both directions.
#       stop and partition are recorded in DIR/faults until healed; a
#       faulted member is not asked anything meanwhile. Bash builtins only
#       (no forks; partition: one ip), as its run time counts in the
#       failover window.
#   bench/ensemble-ctl.sh kill-leader DIR         fault-leader DIR kill9
#   bench/ensemble-ctl.sh restart-dead DIR [--after-leader SECS] [--wait SECS]
#       heal every fault recorded in DIR/faults (SIGCONT a stopped member,
#       bring a partitioned member's veth ends up) and start again (same
#       config and data, in the background) every member whose process is
#       gone; with --after-leader, only once a running, unfaulted member
#       leads, plus SECS; with --wait, then wait-healthy (a member that dies
#       meanwhile is started again, up to RESTART_TRIES=3 times; logged
#       "died" in events.log) and log "rejoined mN mode M" for each healed
#       member (a resumed old leader should come back a follower)
#   bench/ensemble-ctl.sh heal DIR [--after-leader SECS] [--wait SECS]
#       the same as restart-dead
#   bench/ensemble-ctl.sh status DIR   one line per member: id pid host:port mode term
#   bench/ensemble-ctl.sh terms DIR    one line per member: id term leader (Roost:
#       mntr roost_raft_term/roost_raft_leader; ZooKeeper: srvr Zxid epoch, -)
#   bench/ensemble-ctl.sh servers DIR  the connect string (every member)
#   bench/ensemble-ctl.sh pids DIR     pids of running members
#   bench/ensemble-ctl.sh stop DIR     SIGTERM (and SIGCONT) every running member
#                                      (SIGKILL after 10 s)
#   bench/ensemble-ctl.sh net-del DIR  stop, then delete DIR's namespaces,
#                                      veths and bridges (NETNS=1 ensembles)
#   bench/ensemble-ctl.sh remove-orphans [--owner PID]
#       delete the namespaces and bridges of labs (this script's or
#       netlab.rs's, named roost-PID-TAG-...) whose PID is gone; with
#       --owner, those of PID too
#
# Processes are only ever signalled by the pid this script recorded in
# DIR/mN/pid, and only while /proc/PID/cmdline still names DIR.
# Kills, faults, heals and restarts are logged with wall-clock times to
# DIR/events.log.
# Environment: CARGO_TARGET_DIR or ROOST (the roost binary), ZK_HEAP (1g),
# ZK_LOG_LEVEL (INFO), NETNS and NETNS_OWNER (init).
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
# fourlw N WORD: member N's reply in R4 (empty when the member does not
# answer), on its client address (127.0.0.1, or its namespace's client
# link). A member with a fault recorded is not asked (a stopped one would
# hold the read for 2 s, a partitioned one the connect for minutes).
fourlw() {
  R4=
  local fd line=
  faulted "$1" && return 1
  { exec {fd}<>"/dev/tcp/${CLIENT_HOSTS[$(($1 - 1))]}/${CLIENT_PORTS[$(($1 - 1))]}"; } 2>/dev/null || return 1
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

mode_of() { # N -> M4 (leader, follower, ..., or "-")
  M4=-
  fourlw "$1" srvr && field "$R4" "Mode: " && M4=$F4
}

# --- state ------------------------------------------------------------------
load() {
  DIR=${1:?DIR}
  DIR=${DIR%/}
  [[ $DIR == /* ]] || DIR=$PWD/$DIR
  [ -f "$DIR/ensemble.env" ] || die "$DIR/ensemble.env missing (run init first)"
  NETNS=0
  # shellcheck disable=SC1091
  source "$DIR/ensemble.env"
  if [ -z "${CLIENT_HOSTS+x}" ]; then # an ensemble from before NETNS
    CLIENT_HOSTS=()
    for _ in "${CLIENT_PORTS[@]}"; do CLIENT_HOSTS+=(127.0.0.1); done
  fi
  load_faults
}

# --- faults: DIR/faults, one line per faulted member: N KIND PID ----------
load_faults() {
  FAULT_KIND=() FAULT_PID=()
  local n kind pid
  [ -f "$DIR/faults" ] || return 0
  while read -r n kind pid; do
    [ -n "$n" ] || continue
    FAULT_KIND[n]=$kind FAULT_PID[n]=$pid
  done < "$DIR/faults"
}

faulted() { [ -n "${FAULT_KIND[$1]:-}" ]; } # N

save_faults() {
  local n out=""
  for n in "${!FAULT_KIND[@]}"; do out+="$n ${FAULT_KIND[n]} ${FAULT_PID[n]}"$'\n'; done
  printf '%s' "$out" > "$DIR/faults"
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

# --- network namespaces (NETNS=1), as tests/common/netlab.rs ---------------
# Names: bridges rbTAGp / rbTAGc, root-side veth ends rvTAGpN / rvTAGcN,
# namespaces roost-OWNER-TAG-mN; TAG (hex A, B) names the two /24 subnets,
# peers 10.A.B.0/24 and clients 10.A.B+1.0/24, claimed by creating the peer
# bridge (another lab, or a netlab.rs test, holding it: the next one).

ipx() { # ip ARGS, dying with its stderr on failure
  local err
  err=$(ip "$@" 2>&1) || die "ip $*: $err (network namespaces need root and iproute2)"
}

# net_create DIR N OWNER: the bridges and N namespaces; sets NS_TAG NS_A
# NS_B and records them at once in DIR/netns.env (so net-del finds a lab
# whose set-up failed half way).
net_create() {
  local dir=$1 n=$2 owner=$3 h a b tag i kind tries=0
  h=$(( (owner * 2654435761) % 6400 ))
  while :; do
    a=$((200 + h % 50)) b=$(( (h / 50) % 128 * 2 ))
    printf -v tag '%02x%02x' "$a" "$b"
    ip link add "rb${tag}p" type bridge 2>/dev/null && break
    h=$(( (h + 1) % 6400 )) tries=$((tries + 1))
    [ "$tries" -lt 6400 ] || die "no free subnet pair for a network lab"
  done
  NS_TAG=$tag NS_A=$a NS_B=$b
  printf 'NS_TAG=%s\nNS_OWNER=%s\nNS_MEMBERS=%s\n' "$tag" "$owner" "$n" > "$dir/netns.env"
  ipx link add "rb${tag}c" type bridge
  ipx addr add "10.$a.$((b + 1)).1/24" dev "rb${tag}c"
  ipx link set "rb${tag}p" up
  ipx link set "rb${tag}c" up
  for ((i = 1; i <= n; i++)); do
    local ns=roost-$owner-$tag-m$i
    ipx netns add "$ns"
    ipx -n "$ns" link set lo up
    for kind in p c; do
      local host=rv$tag$kind$i addr
      if [ "$kind" = p ]; then addr=10.$a.$b.$((10 + i)); else addr=10.$a.$((b + 1)).$((10 + i)); fi
      # A namespace the kernel has not finished tearing down can leave an
      # old lab's veth end behind under this name.
      ip link del "$host" 2>/dev/null
      ipx link add "$host" type veth peer name "eth$kind" netns "$ns"
      ipx link set "$host" master "rb$tag$kind" up
      ipx -n "$ns" addr add "$addr/24" dev "eth$kind"
      ipx -n "$ns" link set "eth$kind" up
    done
  done
}

# net_delete DIR: the lab recorded in DIR/netns.env, if any (its members
# must be stopped: a namespace lives on while a process is in it).
net_delete() {
  local dir=$1 NS_TAG NS_OWNER NS_MEMBERS i kind
  [ -f "$dir/netns.env" ] || return 0
  # shellcheck disable=SC1091
  source "$dir/netns.env"
  for ((i = 1; i <= NS_MEMBERS; i++)); do
    for kind in p c; do ip link del "rv$NS_TAG$kind$i" 2>/dev/null; done
    ip netns del "roost-$NS_OWNER-$NS_TAG-m$i" 2>/dev/null
  done
  ip link del "rb${NS_TAG}p" 2>/dev/null
  ip link del "rb${NS_TAG}c" 2>/dev/null
  rm -f "$dir/netns.env"
  return 0
}

# remove_orphans [PID]: labs named roost-PID-TAG-... whose PID is gone (or is
# the PID given), as netlab.rs's remove_orphans.
remove_orphans() {
  local owner=${1:-} name rest pid tag
  while read -r name rest; do
    [[ $name =~ ^roost-([0-9]+)-([^-]+)-.+$ ]] || continue
    pid=${BASH_REMATCH[1]} tag=${BASH_REMATCH[2]}
    if [ ! -d "/proc/$pid" ] || [ "$pid" = "$owner" ]; then
      ip netns del "$name" 2>/dev/null
      ip link del "rb${tag}p" 2>/dev/null
      ip link del "rb${tag}c" 2>/dev/null
    fi
  done < <(ip netns list 2>/dev/null)
  return 0
}

# --- commands -------------------------------------------------------------
port_busy() { ss -Htan 2>/dev/null | awk '{print $4; print $5}' | grep -q ":$1\$"; }

cmd_init() {
  local dir=${1:?DIR} system=${2:?roost|zookeeper} n=${3:?MEMBERS} port=${4:-25181}
  local netns=${NETNS:-0}
  case $system in roost|zookeeper) ;; *) die "system must be roost or zookeeper, not $system" ;; esac
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "MEMBERS must be a number from 1 to 200"
  case $netns in 0|1) ;; *) die "NETNS must be 0 or 1" ;; esac
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
  if [ "$netns" = 1 ]; then
    [ "$(id -u)" = 0 ] || die "NETNS=1 needs root"
    command -v ip >/dev/null || die "NETNS=1 needs iproute2 (ip)"
  fi
  mkdir -p "$dir" && DIR=$(cd "$dir" && pwd)
  local ports=() i
  while [ ${#ports[@]} -lt $((3 * n)) ]; do
    if [ "$port" -ne 2181 ] && ! port_busy "$port"; then ports+=("$port"); fi
    port=$((port + 1))
  done
  local peer_hosts=() client_hosts=() namespaces=()
  if [ "$netns" = 1 ]; then
    local owner=${NETNS_OWNER:-$PPID}
    remove_orphans
    net_del_on_error=1
    net_create "$DIR" "$n" "$owner"
    for i in $(seq 1 "$n"); do
      peer_hosts+=("10.$NS_A.$NS_B.$((10 + i))")
      client_hosts+=("10.$NS_A.$((NS_B + 1)).$((10 + i))")
      namespaces+=("roost-$owner-$NS_TAG-m$i")
    done
  else
    for i in $(seq 1 "$n"); do peer_hosts+=(127.0.0.1); client_hosts+=(127.0.0.1); done
  fi
  local servers="" clients=""
  for i in $(seq 1 "$n"); do
    servers+="server.$i=${peer_hosts[$((i - 1))]}:${ports[$((3 * i - 2))]}:${ports[$((3 * i - 1))]}"$'\n'
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
clientPortAddress=${client_hosts[$((i - 1))]}
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
${servers}$( [ "$system" = roost ] && echo "roost.logLevel=info" )
${ENSEMBLE_EXTRA_CFG:-}
CFG
    if [ "$netns" = 1 ]; then
      # The partition and its heal: both root-side veth ends, one ip run.
      printf 'link set dev rv%sp%s %s\nlink set dev rv%sc%s %s\n' \
        "$NS_TAG" "$i" down "$NS_TAG" "$i" down > "$DIR/m$i/net-down"
      printf 'link set dev rv%sp%s %s\nlink set dev rv%sc%s %s\n' \
        "$NS_TAG" "$i" up "$NS_TAG" "$i" up > "$DIR/m$i/net-up"
    fi
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
CLIENT_HOSTS=(${client_hosts[*]})
NETNS=$netns
NAMESPACES=(${namespaces[*]})
ROOST_BIN=${ROOST:-$target/release/roost}
ZK_HEAP=${ZK_HEAP:-1g}
ENV
  : > "$DIR/events.log"
  rm -f "$DIR/faults"
  rm -f "$DIR/.nap" && mkfifo "$DIR/.nap"
  net_del_on_error=
  echo "ensemble-ctl: $system x$n in $DIR, client ports $clients$( [ "$netns" = 1 ] && echo ", namespaces ${namespaces[*]}, client addresses ${client_hosts[*]}")" >&2
}

start_member() { # N
  local d="$DIR/m$1" pre=()
  [ "$NETNS" = 1 ] && pre=(ip netns exec "${NAMESPACES[$(($1 - 1))]}")
  if [ "$SYSTEM" = roost ]; then
    "${pre[@]}" "$ROOST_BIN" serve --config "$d/zoo.cfg" < /dev/null >> "$d/server.log" 2>&1 &
  else
    "${pre[@]}" java -Xms"$ZK_HEAP" -Xmx"$ZK_HEAP" \
      -Dlog4j.configuration="file:$DIR/log4j.properties" \
      -Dzookeeper.admin.enableServer=false \
      -cp "$ZK_CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
      < /dev/null >> "$d/server.log" 2>&1 &
  fi
  # (ip netns exec execs the member in place: the pid is the member's.)
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

# heal_faults: undo every fault in DIR/faults; the members healed in HEALED.
heal_faults() {
  HEALED=()
  local n
  for n in "${!FAULT_KIND[@]}"; do
    case ${FAULT_KIND[n]} in
      stop)
        if pid_of "$n" && [ "$P4" = "${FAULT_PID[n]}" ]; then
          kill -CONT "$P4" || die "kill -CONT $P4 failed"
          event "heal stop m$n pid $P4 (SIGCONT)"
        else
          event "heal stop m$n: pid ${FAULT_PID[n]} is gone"
        fi ;;
      partition)
        ip -batch "$DIR/m$n/net-up" || die "could not bring m$n's links up"
        event "heal partition m$n pid ${FAULT_PID[n]} (links up)" ;;
      *) die "unknown fault ${FAULT_KIND[n]} recorded for m$n" ;;
    esac
    HEALED+=("$n")
  done
  FAULT_KIND=() FAULT_PID=()
  rm -f "$DIR/faults"
  [ ${#HEALED[@]} -eq 0 ] || echo "ensemble-ctl: healed m${HEALED[*]}" >&2
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
  heal_faults
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
    [ "$rc" -eq 3 ] || break
    tries=$((tries + 1))
    [ "$tries" -le "${RESTART_TRIES:-3}" ] || die "member $DEAD_MEMBER keeps dying"
    echo "ensemble-ctl: member $DEAD_MEMBER died; starting it again" >&2
    start_member "$DEAD_MEMBER"
  done
  [ "$rc" -eq 0 ] || return "$rc"
  # What a healed member came back as (a resumed old leader: a follower).
  for i in "${HEALED[@]}"; do
    mode_of "$i"
    event "rejoined m$i mode $M4"
    [ "$M4" = follower ] || echo "ensemble-ctl: healed m$i is $M4, not a follower" >&2
  done
  return 0
}

# wait_survivor_leader SECS: until one running, unfaulted member says it
# leads (at most 60 s), then SECS more; so a restart does not compete for
# the CPU with the election it caused (all members share this machine's
# cores).
wait_survivor_leader() {
  local i n=0 leaders
  while :; do
    leaders=0
    for ((i = 1; i <= MEMBERS; i++)); do
      faulted "$i" && continue
      pid_of "$i" || continue
      mode_of "$i"
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
  local secs=${2:-60} start=$EPOCHREALTIME i leaders leader why term
  local deadline=$(( ${start%.*} + secs ))
  while :; do
    why= leaders=0 leader= term=-
    for i in $(seq 1 "$MEMBERS"); do
      if ! pid_of "$i"; then
        echo "ensemble-ctl: member $i ($SYSTEM) is not running; its log:" >&2
        tail -20 "$DIR/m$i/server.log" >&2
        event "died m$i"
        DEAD_MEMBER=$i
        [ -n "${DEAD_OK:-}" ] && return 3
        exit 1
      fi
      if faulted "$i"; then why+=" m$i:faulted(${FAULT_KIND[i]})"; continue; fi
      fourlw "$i" ruok
      if [ "$R4" != imok ]; then why+=" m$i:no-ruok"; continue; fi
      mode_of "$i"
      case $M4 in
        leader)
          leaders=$((leaders + 1)) leader=$i
          # ZooKeeper's term: the epoch of the leader's Zxid.
          if [ "$SYSTEM" = zookeeper ] && field "$R4" "Zxid: 0x"; then term=$((16#$F4 >> 32)); fi ;;
        follower|observer) ;;
        *) why+=" m$i:mode=$M4" ;;
      esac
    done
    [ "$leaders" -eq 1 ] || why+=" leaders=$leaders"
    if [ -z "$why" ] && [ "$SYSTEM" = roost ]; then
      # Every member must know the leader (a restarted one has caught up).
      for i in $(seq 1 "$MEMBERS"); do
        fourlw "$i" mntr
        field "$R4" $'roost_raft_leader\t'
        [ "$F4" = "$leader" ] || why+=" m$i:raft_leader=${F4:-?}"
        if [ "$i" = "$leader" ] && field "$R4" $'roost_raft_term\t'; then term=$F4; fi
      done
    fi
    if [ -z "$why" ]; then
      echo "$leader" > "$DIR/leader"
      event "healthy leader m$leader term $term"
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

stopped() { # PID: every thread of it stopped (T)
  local t stat
  for t in /proc/"$1"/task/*/stat; do
    read -r stat 2>/dev/null < "$t" || continue
    stat=${stat##*) }
    [ "${stat%% *}" = T ] || return 1
  done
  return 0
}

cmd_fault_leader() {
  load "$1"
  local kind=${2:-kill9}
  case $kind in
    kill9|stop) ;;
    partition) [ "$NETNS" = 1 ] || die "partition needs an ensemble made with NETNS=1 (init)" ;;
    *) die "fault-leader: the fault is kill9, stop or partition, not $kind" ;;
  esac
  local i first=1 order=()
  # Ask the member that led at the last wait-healthy first: one srvr
  # instead of MEMBERS when it still leads (this runs inside the window).
  [ -f "$DIR/leader" ] && read -r first < "$DIR/leader"
  order=("$first")
  for ((i = 1; i <= MEMBERS; i++)); do [ "$i" = "$first" ] || order+=("$i"); done
  for i in "${order[@]}"; do
    mode_of "$i"
    [ "$M4" = leader ] || continue
    pid_of "$i" || die "member $i says it leads but its process is not ours"
    local pid=$P4 t0 n=0
    case $kind in
      kill9)
        kill -9 "$pid" || die "kill -9 $pid failed"
        now_ms; t0=$NOW_MS
        # Gone means the kernel closed its sockets; bounded at 5 s.
        until gone "$pid"; do
          n=$((n + 1))
          [ "$n" -lt 5000 ] || die "member $i (pid $pid) still alive 5 s after kill -9"
          nap 0.001
        done
        now_ms
        echo "$t0 kill -9 m$i pid $pid (leader); gone $NOW_MS" >> "$DIR/events.log" ;;
      stop)
        kill -STOP "$pid" || die "kill -STOP $pid failed"
        now_ms; t0=$NOW_MS
        # Its sockets stay open; nothing tells the others. Bounded at 5 s.
        until stopped "$pid"; do
          n=$((n + 1))
          [ "$n" -lt 5000 ] || die "member $i (pid $pid) not stopped 5 s after SIGSTOP"
          nap 0.001
        done
        now_ms
        echo "$t0 fault stop m$i pid $pid (leader); stopped $NOW_MS" >> "$DIR/events.log" ;;
      partition)
        ip -batch "$DIR/m$i/net-down" || die "could not take m$i's links down"
        now_ms
        echo "$NOW_MS fault partition m$i pid $pid (leader); links down $NOW_MS" >> "$DIR/events.log" ;;
    esac
    if [ "$kind" != kill9 ]; then
      FAULT_KIND[i]=$kind FAULT_PID[i]=$pid
      save_faults
    fi
    echo "$i"
    return 0
  done
  die "no member says Mode: leader"
}

cmd_status() {
  load "$1"
  local i
  for i in $(seq 1 "$MEMBERS"); do
    pid_of "$i"
    mode_of "$i"
    term_of "$i"
    echo "m$i pid=${P4:--} addr=${CLIENT_HOSTS[$((i - 1))]}:${CLIENT_PORTS[$((i - 1))]} mode=$M4 term=$T4 leader=$L4$(faulted "$i" && echo " fault=${FAULT_KIND[i]}")"
  done
}

term_of() { # N -> T4 (term or epoch), L4 (raft leader or -)
  T4=- L4=-
  if [ "$SYSTEM" = roost ]; then
    fourlw "$1" mntr || return 0
    field "$R4" $'roost_raft_term\t' && T4=$F4
    field "$R4" $'roost_raft_leader\t' && L4=$F4
  else
    fourlw "$1" srvr || return 0
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
  local i out=""
  for ((i = 0; i < MEMBERS; i++)); do out+="${out:+,}${CLIENT_HOSTS[i]}:${CLIENT_PORTS[i]}"; done
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
    if pid_of "$i"; then
      kill "$P4" 2>/dev/null
      kill -CONT "$P4" 2>/dev/null # a stopped member handles the TERM once resumed
      pids+=("$P4"); event "stop m$i pid $P4"
    fi
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

cmd_net_del() {
  local dir=${1:?DIR}
  dir=${dir%/}
  [[ $dir == /* ]] || dir=$PWD/$dir
  if [ -f "$dir/ensemble.env" ]; then
    (cmd_stop "$dir") || true
    # Members that would not stop keep their namespace alive: say so.
    [ -z "$(cmd_pids "$dir")" ] || echo "ensemble-ctl: members of $dir still running" >&2
  fi
  net_delete "$dir"
}

cmd_remove_orphans() {
  case ${1:-} in
    "") remove_orphans ;;
    --owner) remove_orphans "${2:?--owner PID}" ;;
    *) die "remove-orphans: unknown option $1" ;;
  esac
}

cmd=${1:-}
shift || true
case $cmd in
  init)
    # A lab half built when init fails is deleted again.
    trap '[ -n "${net_del_on_error:-}" ] && net_delete "$DIR"' EXIT
    cmd_init "$@" ;;
  start) cmd_start "$@" ;;
  wait-healthy) cmd_wait_healthy "$@" ;;
  fault-leader) cmd_fault_leader "$@" ;;
  kill-leader) cmd_fault_leader "${1:?DIR}" kill9 ;;
  restart-dead|heal) cmd_restart_dead "$@" ;;
  status) cmd_status "$@" ;;
  terms) cmd_terms "$@" ;;
  servers) cmd_servers "$@" ;;
  pids) cmd_pids "$@" ;;
  stop) cmd_stop "$@" ;;
  net-del) cmd_net_del "$@" ;;
  remove-orphans) cmd_remove_orphans "$@" ;;
  *) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
