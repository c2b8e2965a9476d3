#!/usr/bin/env bash
# Power-loss test: Roost on a loop-mounted ext4, the filesystem shut down
# (no log flush: the journal stops where it is, like a power cut) under
# concurrent writes, then recovery on the remounted filesystem.
#
#   bash tests/powerloss/powerloss.sh        (as root; non-interactive)
#
# Each round: start roost with dataDir and dataLogDir on the mount; run
# tests/powerloss/plclient.py load (16 writers, one request in flight each,
# creates and multis with 40 B..5 KiB values; it records every ACKNOWLEDGED
# operation); after a seeded random delay `xfs_io -x -c shutdown MNT`; SIGKILL
# roost; unmount; remount (ext4 replays its journal); start roost on the same
# data; plclient.py verify checks every round so far: every acknowledged
# operation present with its data, each writer's surviving operations a prefix
# of what it sent (at most the one unacknowledged operation extra), multis all
# or nothing, no unexpected node. Rounds accumulate on one filesystem, so later
# rounds also recover logs that earlier rounds' recoveries repaired.
# snapCount is small, so cuts also land during snapshots.
#
# What this models: the filesystem stops at an instant; whatever was not
# already submitted to the (loop) block device is lost, including ext4's
# uncommitted journal. It does not model a disk losing its volatile cache
# (writes submitted but never flushed survive here).
#
# If no loop device or mount is possible (not root, no loop module, in a
# container without CAP_SYS_ADMIN) it prints SKIP and exits 0.
# Ends with "powerloss: N passed, N failed"; exit 0 only if none failed.
#
# Env: POWERLOSS_ROUNDS (5), POWERLOSS_SEED (20261122), POWERLOSS_WORKERS (16),
#      POWERLOSS_SNAPCOUNT (2000), ROOST (path of the roost binary; default
#      $CARGO_TARGET_DIR/release/roost or target/release/roost), PYTHON (python3).
# Only processes this script started are stopped, by PID; the trap always
# unmounts, detaches the loop device and removes the image.
set -uo pipefail

ROUNDS=${POWERLOSS_ROUNDS:-5}
SEED=${POWERLOSS_SEED:-20261122}
WORKERS=${POWERLOSS_WORKERS:-16}
SNAPCOUNT=${POWERLOSS_SNAPCOUNT:-2000}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROOST=${ROOST:-${CARGO_TARGET_DIR:-$REPO/target}/release/roost}
PYTHON=${PYTHON:-python3}
CLIENT=$REPO/tests/powerloss/plclient.py

say() { echo "powerloss: $*"; }
skip() { say "SKIP: $*"; say "0 passed, 0 failed (skipped)"; exit 0; }

[[ -x "$ROOST" ]] || { say "no roost binary at $ROOST (build with cargo build --release)"; say "0 passed, 1 failed"; exit 1; }
[[ $(id -u) -eq 0 ]] || skip "needs root (losetup, mount)"
for t in losetup mkfs.ext4 mount umount; do
  command -v "$t" >/dev/null || skip "$t not installed"
done
if ! command -v xfs_io >/dev/null; then
  say "installing xfsprogs (xfs_io)"
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q xfsprogs >/dev/null 2>&1 ||
    { timeout 300 apt-get update -q >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q xfsprogs >/dev/null 2>&1; }
  command -v xfs_io >/dev/null || skip "xfs_io unavailable (apt-get install xfsprogs failed)"
fi

WORK=$(mktemp -d /tmp/roost-powerloss.XXXXXX)
IMG=$WORK/ext4.img
MNT=$WORK/mnt
LOOP=""
SERVER_PID=""
LOAD_PID=""
mkdir -p "$MNT" "$WORK/acks" "$WORK/logs"

stop_pid() { # PID SIGNAL: signal it, SIGKILL after 10 s, reap it
  [[ -n "$1" ]] || return 0
  kill "-$2" "$1" 2>/dev/null || true
  # Waiting at once (a watchdog escalates) reaps it here, so bash prints no
  # "Killed" job notice later.
  # The watchdog ends by itself within 0.1 s of the process's exit.
  (for _ in $(seq 1 100); do sleep 0.1; kill -0 "$1" 2>/dev/null || exit 0; done
   kill -KILL "$1" 2>/dev/null) &
  local watchdog=$!
  wait "$1" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
}

unmount() {
  local i
  mountpoint -q "$MNT" || return 0
  for i in $(seq 1 50); do
    umount "$MNT" 2>/dev/null && return 0
    sleep 0.2
  done
  umount "$MNT"
}

cleanup() {
  stop_pid "$LOAD_PID" TERM
  stop_pid "$SERVER_PID" KILL
  unmount 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
  [[ -n "$LOOP" ]] && losetup -d "$LOOP" 2>/dev/null
  if [[ -n "${KEEP_WORK:-}" ]]; then
    rm -f "$IMG"
    say "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

truncate -s 1G "$IMG" || skip "cannot create the image file"
LOOP=$(losetup -f --show "$IMG" 2>"$WORK/losetup.err") || { LOOP=""; skip "no loop device: $(cat "$WORK/losetup.err")"; }
mkfs.ext4 -q -F "$LOOP" >"$WORK/mkfs.log" 2>&1 || skip "mkfs.ext4 failed: $(cat "$WORK/mkfs.log")"
mount "$LOOP" "$MNT" 2>"$WORK/mount.err" || skip "cannot mount: $(cat "$WORK/mount.err")"
say "ext4 on $LOOP ($IMG, 1 GiB, sparse) at $MNT; $ROUNDS rounds, seed $SEED, $WORKERS writers, snapCount $SNAPCOUNT"

port_busy() { ss -Htan 2>/dev/null | awk '{print $4; print $5}' | grep -q ":$1\$"; }
PORT=24181
while port_busy "$PORT"; do PORT=$((PORT + 1)); done

cat >"$WORK/zoo.cfg" <<CFG
tickTime=2000
dataDir=$MNT/data
dataLogDir=$MNT/log
clientPort=$PORT
clientPortAddress=127.0.0.1
snapCount=$SNAPCOUNT
maxClientCnxns=0
4lw.commands.whitelist=*
roost.logLevel=info
CFG

start_server() { # LOGNAME -> SERVER_PID; returns 1 if it does not come up
  "$ROOST" serve --config "$WORK/zoo.cfg" >"$WORK/logs/$1" 2>&1 &
  SERVER_PID=$!
  local i reply
  for i in $(seq 1 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || { wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""; return 1; }
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null || true)
    [[ "$reply" == imok ]] && return 0
    sleep 0.1
  done
  return 1
}

mntr() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf mntr >&3 && timeout 2 cat <&3) 2>/dev/null || true; }

RANDOM=$SEED
PASSED=0
FAILED=0
for r in $(seq 1 "$ROUNDS"); do
  ok=1
  delay_ms=$((700 + RANDOM % 2800))
  if ! start_server "serve-r$r.log"; then
    say "round $r: FAILED: roost did not start before the load; log:"
    tail -20 "$WORK/logs/serve-r$r.log" | sed 's/^/    /'
    FAILED=$((FAILED + 1))
    break
  fi
  rm -f "$WORK/stop"
  "$PYTHON" "$CLIENT" load --server "127.0.0.1:$PORT" --round "$r" --workers "$WORKERS" \
    --acks "$WORK/acks/acks-r$r" --stop "$WORK/stop" >"$WORK/logs/load-r$r.log" 2>&1 &
  LOAD_PID=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  before=$(mntr | awk -F'\t' '$1=="roost_log_records"{print $2}')
  xfs_io -x -c shutdown "$MNT" || { say "round $r: xfs_io shutdown failed"; ok=0; }
  sleep 0.3 # let in-flight writes and fsyncs fail against the dead filesystem
  stop_pid "$SERVER_PID" KILL
  SERVER_PID=""
  touch "$WORK/stop"
  stop_pid "$LOAD_PID" TERM # it ends by itself on the closed connections
  LOAD_PID=""
  acked=$(grep -c '^ack ' "$WORK/acks/acks-r$r" || true)
  snaps=$(ls "$MNT/data/roost-snapshots" 2>/dev/null | wc -l)
  unmount || { say "round $r: cannot unmount"; FAILED=$((FAILED + 1)); break; }
  mount "$LOOP" "$MNT" || { say "round $r: cannot remount"; FAILED=$((FAILED + 1)); break; }
  if ! start_server "recover-r$r.log"; then
    say "round $r: FAILED: roost did not recover; its log:"
    tail -20 "$WORK/logs/recover-r$r.log" | sed 's/^/    /'
    ok=0
  elif ! "$PYTHON" "$CLIENT" verify --server "127.0.0.1:$PORT" --rounds "$r" \
      --acks-dir "$WORK/acks" >"$WORK/logs/verify-r$r.log" 2>&1; then
    sed 's/^/    /' "$WORK/logs/verify-r$r.log" | head -30
    ok=0
  fi
  result=$(tail -1 "$WORK/logs/verify-r$r.log" 2>/dev/null)
  say "round $r: cut after ${delay_ms} ms, ${acked} ops acknowledged this round (log records before cut: ${before:-?}, snapshot files: $snaps); ${result:-no verify}"
  stop_pid "$SERVER_PID" TERM
  SERVER_PID=""
  if ((ok)); then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
  # A failed recovery leaves the data as it is: later rounds would only repeat it.
  ((ok)) || break
done

((FAILED)) && KEEP_WORK=1
say "$PASSED passed, $FAILED failed"
((FAILED == 0))
