#!/usr/bin/env bash
# Leader failover of a local ensemble, Roost and Apache ZooKeeper side by side.
#
#   bench/failover.sh [roost|zookeeper|both]      (default both)
#       Starts a MEMBERS-member ensemble (bench/ensemble-ctl.sh), waits for one
#       leader and every member answering, then runs roost-loadgen --workload
#       failover with --servers listing every member: CLIENTS sessions write
#       while, ROUNDS times, the kill command finds the current leader (srvr on
#       each member) and faults it (FAULT, below), and the restart command
#       undoes the fault and waits until the ensemble is whole again (one
#       leader, every member answering) before the next round.
#       Writes OUT/SYSTEM/failover.json/.html, the members' logs and zoo.cfg,
#       and OUT/summary.md (the FAULT; per system the client-visible write
#       gap p50/p99/max, ratio Roost/ZooKeeper, sessions lost, elections per
#       round).
#
#       FAULT=kill9 (default): kill -9 the leader; the restart starts it
#         again in the background (its kernel closed its sockets: the
#         survivors and its clients see it go at once).
#       FAULT=stop: SIGSTOP the leader (a hung process: sockets stay open,
#         nothing tells anyone); the restart SIGCONTs it, waits until the
#         ensemble is whole again, and records whether the resumed old
#         leader came back as a follower ("rejoined" in events.log).
#       FAULT=partition: every packet to and from the leader dropped, silently.
#         Every member runs in its own network namespace (NETNS=1, as
#         tests/common/netlab.rs: a peer link and a client link, veth pairs
#         into two bridges); the fault takes the leader's root-side veth ends
#         down, the heal brings them up. The load generator runs in this
#         namespace and reaches the members' client addresses over the
#         client bridge; members talk to each other over the peer bridge.
#       NETNS=1 runs kill9 and stop that way too (default: 1 for partition,
#       else 0: every member on 127.0.0.1). Namespaces, veths and bridges
#       are deleted on exit; those left by an earlier run whose pid is gone
#       are deleted first.
#
#   bench/failover.sh elections [roost|zookeeper|both]   (default roost)
#       No kills: the benchmark write load (write-only, 32 sessions x 8
#       outstanding, 1 KiB values, 10,000 znodes; run by the failover
#       workload's writer with `--kill-cmd true`, so sessions re-attach after
#       an election) for BENCH_SECS against the
#       ensemble, with every member's term polled each second (Roost: mntr
#       roost_raft_term; ZooKeeper: the epoch of srvr's Zxid). Any increase
#       is an election. Writes OUT/elections-SYSTEM/{elections.json,terms.log,...}.
#       ELECTION_FAULT adds a fault that must not cause one:
#         none (default): the load alone;
#         snapshots: every member configured with snapCount=ELECTION_SNAPCOUNT
#           (10000: a snapshot every few seconds at this load; the count
#           taken is reported from the members' logs);
#         slow-fsync: one follower's writes to the data directory's block
#           device throttled to SLOW_FSYNC_IOPS (10) per second by a blkio
#           (cgroup v1) throttle, so each log sync of its waits 100 ms or
#           more (needs root and the blkio controller; direct I/O, as Roost's
#           log, is throttled; ZooKeeper's buffered writes are written back
#           by the kernel's flusher threads, outside the cgroup, so for it the
#           throttle catches less);
#         hog: a busy loop pinned to cpu HOG_CPU (0: where every member's
#           client shard and consensus executor run on a 2-core host)
#           at the members' own priority, for the whole run.
#
# Knobs (environment): FAULT (kill9|stop|partition), NETNS, ROUNDS (20),
# SESSION_TIMEOUT_MS (10000, kazoo's default: sessions give up a silent
# server after two thirds of it and move to the next),
# KILL_INTERVAL_S (3, steady writes before each fault), CLIENTS (8),
# OUTSTANDING (2), RATE (500 writes/s in total; RATE= for unpaced closed
# loop: an unpaced run writes ~40,000 entries a round, which a restarted member must catch up on; members snapshot every
# [snapCount/2, snapCount] entries and compact their logs, so a restart replays
# at most that many after its newest snapshot),
# RESTART_WHEN (leader: restart the killed member, or heal the faulted
# one, once a survivor leads, plus RESTART_AFTER_S (1) seconds, so its
# start-up does not compete for the 2 shared cores with the election being
# measured; now: at once),
# WARMUP_S (5), MEMBERS (3, or 5),
# BENCH_SECS (600), ELECTION_CLIENTS (32), ELECTION_OUTSTANDING (8),
# ELECTION_RATE (unset: closed loop, as fast as it goes; N: at most N/s),
# RSS_MAX_MB (half of MemAvailable: an elections run stops early, and says
# so, if the members' resident memory exceeds it in total),
# ZK_HEAP (1g per member), OUT (results directory; default a temp dir),
# DOCS (unset: leave docs alone; a file: rewrite its
# <!-- bench:failover-ensemble:begin/end --> section for FAULT=kill9,
# failover-ensemble-stop / -partition for the others), NO_BUILD=1
# (CARGO_TARGET_DIR, or ROOST and LOADGEN, name the binaries).
# Client, quorum and election ports are picked free (never 2181). All data
# lives under a temp dir, removed on exit; every member started is stopped by
# the pid recorded when it was started.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CTL=$REPO/bench/ensemble-ctl.sh
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
LOADGEN=${LOADGEN:-$TARGET/release/roost-loadgen}
export ROOST=${ROOST:-$TARGET/release/roost}
FAULT=${FAULT:-kill9}
case $FAULT in
  kill9|stop) NETNS=${NETNS:-0} ;;
  partition) NETNS=${NETNS:-1} ;;
  *) echo "bench: FAULT must be kill9, stop or partition, not $FAULT" >&2; exit 2 ;;
esac
case $NETNS in 0|1) ;; *) echo "bench: NETNS must be 0 or 1" >&2; exit 2 ;; esac
if [ "$FAULT" = partition ] && [ "$NETNS" != 1 ]; then
  echo "bench: FAULT=partition needs NETNS=1 (every member in its own network namespace)" >&2; exit 2
fi
if [ "$NETNS" = 1 ] && [ "$(id -u)" != 0 ]; then
  echo "bench: NETNS=1 (FAULT=partition) needs root, for ip netns" >&2; exit 2
fi
ROUNDS=${ROUNDS:-20}
# kazoo's default session timeout: its clients give up a silent server after
# two thirds of it (the loadgen's failover sessions do the same).
SESSION_TIMEOUT_MS=${SESSION_TIMEOUT_MS:-10000}
KILL_INTERVAL_S=${KILL_INTERVAL_S:-3}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-2}
RATE=${RATE-500}
RESTART_WHEN=${RESTART_WHEN:-leader}
RESTART_AFTER_S=${RESTART_AFTER_S:-1}
WARMUP_S=${WARMUP_S:-5}
MEMBERS=${MEMBERS:-3}
BENCH_SECS=${BENCH_SECS:-600}
ELECTION_CLIENTS=${ELECTION_CLIENTS:-32}
ELECTION_OUTSTANDING=${ELECTION_OUTSTANDING:-8}
ELECTION_FAULT=${ELECTION_FAULT:-none}
ELECTION_SNAPCOUNT=${ELECTION_SNAPCOUNT:-10000}
SLOW_FSYNC_IOPS=${SLOW_FSYNC_IOPS:-10}
HOG_CPU=${HOG_CPU:-0}
case $ELECTION_FAULT in
  none|snapshots|hog) ;;
  slow-fsync)
    [ "$(id -u)" = 0 ] || { echo "bench: ELECTION_FAULT=slow-fsync needs root (blkio cgroup)" >&2; exit 2; }
    [ -w /sys/fs/cgroup/blkio ] || { echo "bench: ELECTION_FAULT=slow-fsync needs the cgroup v1 blkio controller at /sys/fs/cgroup/blkio" >&2; exit 2; } ;;
  *) echo "bench: ELECTION_FAULT must be none, snapshots, slow-fsync or hog, not $ELECTION_FAULT" >&2; exit 2 ;;
esac
RSS_MAX_MB=${RSS_MAX_MB:-$(awk '/MemAvailable/{printf "%d", $2/1024/2}' /proc/meminfo)}
export ZK_HEAP=${ZK_HEAP:-1g}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
MODE=${1:-both}
case $MODE in
  roost) SYSTEMS=(roost) ;;
  zookeeper) SYSTEMS=(zookeeper) ;;
  both) SYSTEMS=(roost zookeeper) ;;
  elections)
    case ${2:-roost} in
      roost) SYSTEMS=(roost) ;; zookeeper) SYSTEMS=(zookeeper) ;; both) SYSTEMS=(roost zookeeper) ;;
      *) usage ;;
    esac ;;
  *) usage ;;
esac

log() { echo "bench: $*" >&2; }

if [ -z "${NO_BUILD:-}" ]; then
  (cd "$REPO" && cargo build --release -p roost -p loadgen)
fi
[ -x "$LOADGEN" ] || { log "no $LOADGEN (cargo build --release -p loadgen)"; exit 1; }

WORK=$(mktemp -d /tmp/roost-failover.XXXXXX)
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ENSEMBLES=() # ensemble directories; their logs go to KEEP_TO[dir]
declare -A KEEP_TO
POLLER=
LOADGEN_PID=
HOG_PID=
BLKIO_CGROUP=
cleanup() {
  local d p
  for p in $LOADGEN_PID $POLLER $HOG_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  unthrottle
  for d in "${ENSEMBLES[@]}"; do
    "$CTL" stop "$d" 2>/dev/null || true
    keep_logs "$d" "${KEEP_TO[$d]}" 2>/dev/null || true
    # Namespaces, veths and bridges (NETNS=1).
    "$CTL" net-del "$d" || true
  done
  # Any lab of this pid's that an init left behind.
  if [ "$NETNS" = 1 ]; then "$CTL" remove-orphans --owner $$ || true; fi
  case $OUT in
    "$WORK"/*) for d in "${ENSEMBLES[@]}"; do rm -rf "$d"; done ;;
    *) rm -rf "$WORK" ;;
  esac
}
trap cleanup EXIT
trap 'exit 130' INT TERM

machine() {
  echo "$(nproc) vCPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, Linux $(uname -r)"
}

# keep_logs DIR DEST: configs, member logs and the ensemble's event log.
keep_logs() {
  local i
  for i in $(seq 1 "$MEMBERS"); do
    cp "$1/m$i/zoo.cfg" "$2/m$i.zoo.cfg"
    cp "$1/m$i/server.log" "$2/m$i.log" 2>/dev/null || true
  done
  cp "$1/events.log" "$2/events.log"
  cp "$1/ensemble.env" "$2/ensemble.env"
}

# throttle_writes PID DIR: PID's writes to DIR's block device limited to
# SLOW_FSYNC_IOPS per second, by a blkio cgroup of this run's own.
throttle_writes() {
  local pid=$1 dev
  dev=$(findmnt -no MAJ:MIN -T "$2" | tr -d ' ')
  [ -n "$dev" ] || { log "no block device under $2"; exit 1; }
  BLKIO_CGROUP=/sys/fs/cgroup/blkio/roost-bench-$$
  mkdir -p "$BLKIO_CGROUP"
  echo "$dev $SLOW_FSYNC_IOPS" > "$BLKIO_CGROUP/blkio.throttle.write_iops_device"
  echo "$pid" > "$BLKIO_CGROUP/cgroup.procs"
  log "member pid $pid: writes to $dev throttled to $SLOW_FSYNC_IOPS/s ($BLKIO_CGROUP)"
}
# Moves whatever is left in this run's blkio cgroup back to the root and
# removes it.
unthrottle() {
  [ -n "$BLKIO_CGROUP" ] && [ -d "$BLKIO_CGROUP" ] || return 0
  local p
  while read -r p; do echo "$p" > /sys/fs/cgroup/blkio/cgroup.procs 2>/dev/null || true; done < "$BLKIO_CGROUP/cgroup.procs"
  rmdir "$BLKIO_CGROUP" 2>/dev/null || log "could not remove $BLKIO_CGROUP"
  BLKIO_CGROUP=
}

base_port() { case $1 in roost) echo 25181 ;; zookeeper) echo 26181 ;; esac; }

# The machine may be shared: record its load around every run.
note_load() { echo "load average $1: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/run.txt"; }

run_failover() { # SYSTEM
  local sys=$1 dir=$WORK/$1 dest=$OUT/$1
  mkdir -p "$dest"
  note_load "before $sys"
  ENSEMBLES+=("$dir"); KEEP_TO[$dir]=$dest
  NETNS=$NETNS NETNS_OWNER=$$ "$CTL" init "$dir" "$sys" "$MEMBERS" "$(base_port "$sys")"
  log "$sys: starting $MEMBERS members"
  "$CTL" start "$dir" 120
  "$CTL" status "$dir" >&2
  local servers restart_opts=""
  servers=$("$CTL" servers "$dir")
  case $RESTART_WHEN in
    now) ;;
    leader) restart_opts="--after-leader $RESTART_AFTER_S " ;;
    *) log "RESTART_WHEN must be leader or now"; exit 2 ;;
  esac
  log "$sys: failover, FAULT=$FAULT, $ROUNDS rounds, --servers $servers"
  "$LOADGEN" --workload failover --servers "$servers" \
    --clients "$CLIENTS" --outstanding "$OUTSTANDING" --warmup "$WARMUP_S" \
    --rounds "$ROUNDS" --kill-interval "$KILL_INTERVAL_S" ${RATE:+--rate "$RATE"} \
    --session-timeout-ms "$SESSION_TIMEOUT_MS" \
    --kill-cmd "$CTL fault-leader $dir $FAULT" \
    --restart-cmd "$CTL restart-dead $dir $restart_opts--wait 50" \
    --json "$dest/failover.json" --html "$dest/failover.html" 2>&1 | tee "$dest/loadgen.txt"
  note_load "after $sys"
  "$CTL" status "$dir" > "$dest/status-after.txt" 2>&1 || true
  "$CTL" stop "$dir"
  keep_logs "$dir" "$dest"
  "$CTL" net-del "$dir"
}

run_elections() { # SYSTEM
  local sys=$1 dir=$WORK/elections-$1 dest=$OUT/elections-$1
  mkdir -p "$dest"
  note_load "before elections $sys"
  ENSEMBLES+=("$dir"); KEEP_TO[$dir]=$dest
  local extra=${ENSEMBLE_EXTRA_CFG:-}
  if [ "$ELECTION_FAULT" = snapshots ]; then extra=$(printf '%s\nsnapCount=%s' "$extra" "$ELECTION_SNAPCOUNT"); fi
  ENSEMBLE_EXTRA_CFG=$extra NETNS=$NETNS NETNS_OWNER=$$ "$CTL" init "$dir" "$sys" "$MEMBERS" 27181
  log "$sys: starting $MEMBERS members"
  "$CTL" start "$dir" 120
  local servers t0 t1 fault_note="none"
  servers=$("$CTL" servers "$dir")
  case $ELECTION_FAULT in
    snapshots) fault_note="snapCount=$ELECTION_SNAPCOUNT on every member" ;;
    slow-fsync)
      local follower fpid
      read -r follower fpid < <("$CTL" status "$dir" | awk '$4 == "follower" {print $1, $2; exit}')
      [ -n "${fpid:-}" ] || { log "$sys: no follower to throttle"; "$CTL" status "$dir" >&2; exit 1; }
      throttle_writes "$fpid" "$dir/m$follower"
      cat "$BLKIO_CGROUP/blkio.throttle.io_serviced" > "$dest/blkio-before.txt" 2>/dev/null || true
      fault_note="member $follower (a follower) writes throttled to $SLOW_FSYNC_IOPS IOPS" ;;
    hog)
      taskset -c "$HOG_CPU" sh -c 'while :; do :; done' &
      HOG_PID=$!
      fault_note="a busy loop pinned to cpu $HOG_CPU (pid $HOG_PID)" ;;
  esac
  echo "$fault_note" > "$dest/election-fault.txt"
  log "$sys: ELECTION_FAULT=$ELECTION_FAULT: $fault_note"
  "$CTL" terms "$dir" > "$dest/terms-before.txt"
  log "$sys: write load for ${BENCH_SECS}s, no kills, polling terms (members' RSS capped at ${RSS_MAX_MB} MiB in total)"
  t0=$(date +%s.%N)
  # The failover workload's writer with a kill command that kills nothing:
  # the same write-only load as `--workload mixed --read-ratio 0:1`, but a
  # session whose connection an election breaks re-attaches and goes on
  # writing (the mixed workload's sessions stay lost, ending the load at the
  # first election). One "round" at BENCH_SECS/2, then BENCH_SECS/2 more.
  "$LOADGEN" --servers "$servers" --workload failover \
    --kill-cmd true --rounds 1 --kill-interval "$(echo "$BENCH_SECS / 2" | bc -l)" \
    --clients "$ELECTION_CLIENTS" --outstanding "$ELECTION_OUTSTANDING" \
    --value-size 1024 --znodes 10000 --warmup 0 --quiet \
    ${ELECTION_RATE:+--rate "$ELECTION_RATE"} \
    --json "$dest/load.json" --html "$dest/load.html" > "$dest/loadgen.txt" 2>&1 &
  LOADGEN_PID=$!
  # Every second: ts member term leader rss_mib. Roost keeps the raft log
  # since its newest snapshot in memory (up to about snapCount entries), so a
  # long run is still stopped (the load generator, by pid) if the members'
  # memory grows past RSS_MAX_MB.
  (
    while kill -0 "$LOADGEN_PID" 2>/dev/null; do
      ts=$(date +%s.%N) total=0
      while read -r id term leader; do
        pid=$(sed -n "1p" "$dir/m$id/pid" 2>/dev/null)
        rss=$(awk '/^VmRSS/{printf "%d", $2/1024}' "/proc/$pid/status" 2>/dev/null)
        total=$((total + ${rss:-0}))
        echo "$ts $id $term $leader ${rss:--}"
      done < <("$CTL" terms "$dir" 2>/dev/null)
      if [ "$total" -gt "$RSS_MAX_MB" ]; then
        echo "members' RSS ${total} MiB > ${RSS_MAX_MB} MiB at $ts" > "$dest/stopped-early"
        kill "$LOADGEN_PID" 2>/dev/null
        break
      fi
      # A member that died ends the run: the count would mean nothing after.
      alive=$("$CTL" pids "$dir" 2>/dev/null | wc -l)
      if [ "$alive" -lt "$MEMBERS" ]; then
        echo "only $alive of $MEMBERS members running at $ts (see their logs)" > "$dest/stopped-early"
        kill "$LOADGEN_PID" 2>/dev/null
        break
      fi
      sleep 1
    done
  ) > "$dest/terms.log" &
  POLLER=$!
  wait "$LOADGEN_PID" || log "$sys: the load generator exited with $? ($(cat "$dest/stopped-early" 2>/dev/null || echo 'see loadgen.txt'))"
  LOADGEN_PID=
  t1=$(date +%s.%N)
  note_load "after elections $sys"
  wait "$POLLER" 2>/dev/null || true; POLLER=
  if [ -n "$HOG_PID" ]; then kill "$HOG_PID"; wait "$HOG_PID" 2>/dev/null || true; HOG_PID=; fi
  if [ -n "$BLKIO_CGROUP" ]; then
    cat "$BLKIO_CGROUP/blkio.throttle.io_serviced" > "$dest/blkio-after.txt" 2>/dev/null || true
    unthrottle
  fi
  cat "$dest/loadgen.txt"
  "$CTL" terms "$dir" > "$dest/terms-after.txt"
  "$CTL" status "$dir" > "$dest/status-after.txt" 2>&1 || true
  local alive
  alive=$("$CTL" pids "$dir" | wc -l)
  "$CTL" stop "$dir"
  keep_logs "$dir" "$dest"
  "$CTL" net-del "$dir"
  python3 - "$sys" "$dest" "$(echo "$t1 - $t0" | bc)" "$alive" "$MEMBERS" "$ELECTION_FAULT" <<'PY'
import glob, json, os, sys
sys_, dest, secs, alive, members, fault = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
def terms(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 2 and f[1] != "-":
            out[f[0]] = int(f[1])
    return out
before, after = terms(f"{dest}/terms-before.txt"), terms(f"{dest}/terms-after.txt")
leaders, polled, rss_max = [], [], {}
for line in open(f"{dest}/terms.log"):
    f = line.split()
    if len(f) >= 5:
        if f[2] != "-":
            polled.append(int(f[2]))
        if f[3] not in ("-", "0") and (not leaders or leaders[-1] != f[3]):
            leaders.append(f[3])
        if f[4] != "-":
            rss_max[f[1]] = max(rss_max.get(f[1], 0), int(f[4]))
t0 = max(before.values()) if before else None
t1 = max(list(after.values()) + polled) if after or polled else None
# Roost logs "LEADING: elected leader" (older builds "leading term=") when
# it takes office; ZooKeeper "LEADING".
# Snapshots: Roost logs "snapshot written", ZooKeeper "Snapshotting:".
leading, snapshots = 0, {}
for log in glob.glob(f"{dest}/m*.log"):
    member = os.path.basename(log).split(".")[0]
    for line in open(log, errors="replace"):
        if (" leading term=" in line or "LEADING: elected leader" in line
                or line.rstrip().endswith("- LEADING")):
            leading += 1
        if "snapshot written" in line or "Snapshotting:" in line:
            snapshots[member] = snapshots.get(member, 0) + 1
def blkio_writes(path):
    if not os.path.exists(path):
        return None
    for line in open(path):
        f = line.split()
        if len(f) == 3 and f[1] == "Write":
            return int(f[2])
    return 0
throttled = None
if fault == "slow-fsync":
    b, a = blkio_writes(f"{dest}/blkio-before.txt"), blkio_writes(f"{dest}/blkio-after.txt")
    if b is not None and a is not None:
        throttled = {"writes": a - b, "per_s": round((a - b) / secs, 1) if secs else None}
fault_note = open(f"{dest}/election-fault.txt").read().strip()
load = {}
if os.path.exists(f"{dest}/load.json"):
    load = json.load(open(f"{dest}/load.json"))
stopped = open(f"{dest}/stopped-early").read().strip() if os.path.exists(f"{dest}/stopped-early") else None
res = {
    "system": sys_, "duration_s": round(secs, 1), "members": members,
    "election_fault": fault, "election_fault_detail": fault_note,
    "snapshots_by_member": snapshots, "throttled_member_writes": throttled,
    "term_before": before, "term_after": after,
    "elections": (t1 - t0) if t0 is not None and t1 is not None else None,
    "leaders_seen": leaders, "leading_lines_in_logs": leading,
    "members_alive_at_end": alive, "rss_max_mib": rss_max, "stopped_early": stopped,
    "throughput_ops_per_s": load.get("throughput_ops_per_s"),
    "set_p99_us": load.get("ops", {}).get("set", {}).get("p99_us"),
    "errors_by_code": load.get("errors_by_code"),
    "sessions_lost": load.get("sessions_lost"),
    # Seconds with no write acknowledged (the load's own series).
    "seconds_without_writes": [p["t_s"] for p in load.get("series", []) if p.get("ok", 1) == 0],
}
json.dump(res, open(f"{dest}/elections.json", "w"), indent=2)
tp = res["throughput_ops_per_s"]
print(f"elections ({sys_}, ELECTION_FAULT={fault}: {fault_note}; {secs:.0f} s write load, {members} members): "
      f"{res['elections']} (term {t0} -> {t1}; 'leading' logged {leading} times incl. the first); "
      f"leaders seen {leaders}; {tp if tp is None else round(tp)} writes/s; "
      f"members alive at end {alive}/{members}; max RSS MiB {rss_max}; snapshots {snapshots}"
      + (f"; throttled member's writes {throttled}" if throttled else "")
      + (f"; STOPPED EARLY: {stopped}" if stopped else ""))
PY
}

{
  echo "machine: $(machine)"
  echo "commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty')"
  echo "zookeeper: $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo unknown), java: $(java -version 2>&1 | head -1)"
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  case $FAULT in
    kill9) echo "fault: kill9 (kill -9 of the leader; restarted)" ;;
    stop) echo "fault: stop (SIGSTOP of the leader; SIGCONT at the heal)" ;;
    partition) echo "fault: partition (every packet to and from the leader dropped: its veths down; links up at the heal)" ;;
  esac
  if [ "$NETNS" = 1 ]; then
    echo "network: one network namespace per member (peer bridge, client bridge; load generator in the root namespace)"
  else
    echo "network: 127.0.0.1"
  fi
  if [ "$MODE" = elections ]; then
    echo "elections: ELECTION_FAULT=$ELECTION_FAULT BENCH_SECS=$BENCH_SECS ELECTION_CLIENTS=$ELECTION_CLIENTS ELECTION_OUTSTANDING=$ELECTION_OUTSTANDING ELECTION_RATE=${ELECTION_RATE:-unpaced} ELECTION_SNAPCOUNT=$ELECTION_SNAPCOUNT SLOW_FSYNC_IOPS=$SLOW_FSYNC_IOPS HOG_CPU=$HOG_CPU"
  fi
  echo "knobs: FAULT=$FAULT NETNS=$NETNS MEMBERS=$MEMBERS ROUNDS=$ROUNDS KILL_INTERVAL_S=$KILL_INTERVAL_S CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING RATE=${RATE:-unpaced} RESTART_WHEN=$RESTART_WHEN RESTART_AFTER_S=$RESTART_AFTER_S WARMUP_S=$WARMUP_S"
} > "$OUT/run.txt"
echo "$FAULT" > "$OUT/fault"

if [ "$MODE" = elections ]; then
  for s in "${SYSTEMS[@]}"; do run_elections "$s"; done
  log "results in $OUT"
  exit 0
fi

for s in "${SYSTEMS[@]}"; do run_failover "$s"; done
python3 "$REPO/bench/failover_report.py" "$OUT" ${DOCS:+--docs "$DOCS"} | tee "$OUT/summary.md"
log "results in $OUT"
