#!/usr/bin/env bash
# Start/stop the one server described by a run directory that
# scripts/kazoo-suite.sh (or another test script) prepared:
#   RUN/launch.sh   execs the server (Roost or Apache ZooKeeper) in the foreground
#   RUN/port        its client port on 127.0.0.1
#   RUN/server.pid  written here on start; only that PID is ever signalled, and
#                   only while its command line still mentions RUN (no PID reuse)
#   RUN/server.log  stdout+stderr of the server (appended across restarts)
#
# Usage: server-ctl.sh start|stop|status|wait RUN_DIR [INDEX]
#   start   launch, then wait (bounded: $ROOST_START_TIMEOUT s, default 90) until
#           it answers `ruok` with `imok`; relaunch (1 s apart) if it exits
#           during start-up; exit 1 at the deadline.
#   stop    SIGTERM, wait up to 20 s, then SIGKILL; then wait for the port to close.
#   status  exit 0 if running.
# INDEX is accepted (and ignored) so the kazoo plugin's {index} can be passed.
set -uo pipefail

cmd="${1:?usage: server-ctl.sh start|stop|status RUN_DIR}"
RUN="$(cd "${2:?run dir}" && pwd)"
PORT="$(cat "$RUN/port")"
PIDFILE="$RUN/server.pid"
START_TIMEOUT="${ROOST_START_TIMEOUT:-90}"
# One server-ctl at a time per run directory (bounded wait).
exec 8>"$RUN/ctl.lock"
flock -w $((START_TIMEOUT + 60)) 8 || { echo "[server-ctl] $RUN busy" >&2; exit 1; }
log() { echo "[server-ctl] $*" >&2; }

# Is PID alive and not a zombie?
alive() {
  local pid="$1" state
  [[ -n "$pid" ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)"
  [[ -n "$state" && "$state" != "Z" ]]
}
# Is PID alive and ours (its command line names RUN)? The command line can read
# empty for an instant while the launcher execs the server: retry briefly.
ours() {
  local pid="$1" i cmdline
  for i in 1 2 3 4 5; do
    alive "$pid" || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    if [[ -n "$cmdline" ]]; then [[ "$cmdline" == *"$RUN"* ]]; return; fi
    sleep 0.05
  done
  return 1
}

current_pid() { [[ -f "$PIDFILE" ]] && cat "$PIDFILE"; }

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; }

ruok() {
  local out
  out="$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf ruok >&3 && cat <&3" 2>/dev/null)"
  [[ "$out" == "imok" ]]
}

start() {
  local pid
  pid="$(current_pid)"
  if ours "$pid"; then log "already running (pid $pid)"; return 0; fi
  if port_open; then
    log "port $PORT on 127.0.0.1 is already in use by something else; refusing to start"
    return 1
  fi
  # A server that exits during start-up is launched again (1 s apart) until the
  # deadline: e.g. a server without SO_REUSEADDR cannot re-bind its port while
  # connections of its previous run sit in TIME_WAIT (up to 60 s on Linux).
  local deadline=$((SECONDS + START_TIMEOUT)) attempt=0
  while ((SECONDS < deadline)); do
    attempt=$((attempt + 1))
    echo "=== start $(date -u +%FT%TZ) (attempt $attempt) ===" >>"$RUN/server.log"
    bash "$RUN/launch.sh" </dev/null >>"$RUN/server.log" 2>&1 8>&- 9>&- &
    pid=$!
    echo "$pid" >"$PIDFILE"
    while ((SECONDS < deadline)); do
      if ! alive "$pid"; then
        ((attempt == 1 || attempt % 10 == 0)) &&
          log "server exited during start-up (attempt $attempt); retrying until ${START_TIMEOUT}s: $(tail -n 1 "$RUN/server.log")"
        sleep 1
        continue 2
      fi
      if ruok; then
        log "up (pid $pid, 127.0.0.1:$PORT, start attempt $attempt)"
        return 0
      fi
      # Accept a server that listens but does not (yet) speak 4lw after half the
      # time, so a missing `ruok` costs one warning, not the whole suite.
      if ((SECONDS > deadline - START_TIMEOUT / 2)) && port_open; then
        log "WARNING: port $PORT accepts connections but 'ruok' did not answer 'imok'; going on"
        return 0
      fi
      sleep 0.2
    done
  done
  log "server did not come up within ${START_TIMEOUT}s ($attempt attempts); last log lines:"
  tail -n 30 "$RUN/server.log" >&2
  ours "$(current_pid)" && stop
  return 1
}

stop() {
  local pid
  pid="$(current_pid)"
  if ! ours "$pid"; then rm -f "$PIDFILE"; return 0; fi
  kill -TERM "$pid" 2>/dev/null
  local deadline=$((SECONDS + 20))
  while ours "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if ours "$pid"; then
    log "pid $pid ignored SIGTERM for 20s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    deadline=$((SECONDS + 10))
    while ours "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  fi
  rm -f "$PIDFILE"
  deadline=$((SECONDS + 10))
  while port_open && ((SECONDS < deadline)); do sleep 0.1; done
  echo "=== stopped $(date -u +%FT%TZ) ===" >>"$RUN/server.log"
  return 0
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) ours "$(current_pid)" ;;
  *) log "unknown command $cmd"; exit 2 ;;
esac
