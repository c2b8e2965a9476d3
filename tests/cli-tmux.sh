#!/usr/bin/env bash
# Drive `roost cli` interactively in a pseudo-terminal (a private tmux server,
# send-keys / capture-pane) against a Roost server this script starts:
# prompt, watch events arriving while the shell waits (get -w, addWatch) and
# while a line is half typed, line editing (Home, Backspace, Up for history),
# the history command, addauth + whoami, close/connect, a multi-line paste,
# quit.
#
# Usage: tests/cli-tmux.sh [--roost PATH_TO_ROOST_BINARY]
#   default binary: $ROOST_BIN, else $CARGO_TARGET_DIR/debug/roost, else target/debug/roost
# Prints one line per check and ends with "cli-tmux: N passed, N failed".
# Exit 0 only if every check passed. Every wait is bounded.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOST="${ROOST_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/roost}"
while (($#)); do
  case "$1" in
    --roost) ROOST="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -x "$ROOST" ]] || { echo "roost binary $ROOST not found (cargo build first)" >&2; exit 1; }
command -v tmux >/dev/null || { echo "tmux not found (run scripts/install-test-deps.sh)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/roost-cli-tmux.XXXXXX)"
SOCK="roost-cli-tmux-$$"
T=(tmux -L "$SOCK")
SERVER_PID=""
cleanup() {
  "${T[@]}" kill-server 2>/dev/null
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(bash "$ROOT/scripts/free-port.sh" 22390 100)" || exit 1
ADDR="127.0.0.1:$PORT"
cat >"$WORK/zoo.cfg" <<EOF
tickTime=200
dataDir=$WORK/data
clientPort=$PORT
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
EOF
"$ROOST" serve --config "$WORK/zoo.cfg" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
  out="$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf ruok >&3 && cat <&3" 2>/dev/null)"
  [[ "$out" == imok ]] && break
  sleep 0.1
done
[[ "${out:-}" == imok ]] || { echo "server did not start:"; cat "$WORK/server.log"; exit 1; }

PASS=0
FAIL=0
check() { # NAME CONDITION-EXIT-STATUS
  if [[ "$2" == 0 ]]; then PASS=$((PASS + 1)); echo "ok   $1"
  else FAIL=$((FAIL + 1)); echo "FAIL $1"; echo "----- pane:"; pane | tail -25; echo "-----"; fi
}
pane() { "${T[@]}" capture-pane -p -t cli -S -2000 2>/dev/null; }
# wait_for TEXT [SECONDS]: until the pane contains TEXT (fixed string).
wait_for() {
  local deadline=$((SECONDS + ${2:-10}))
  while ((SECONDS < deadline)); do
    pane | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  return 1
}
# count TEXT: how many pane lines contain TEXT.
count() { pane | grep -cF -- "$1"; }
# run LINE: type a command and press Enter once the prompt for it is up
# (rustyline drops keys typed while a command is still running).
N=0
prompt() { echo "[zk: $ADDR(CONNECTED) $1]"; }
run() {
  wait_for "$(prompt "$N")" 10 || true
  "${T[@]}" send-keys -t cli -l -- "$1"
  "${T[@]}" send-keys -t cli Enter
  N=$((N + 1))
}
oneshot() { "$ROOST" cli -server "$ADDR" "$@" >/dev/null 2>&1; }

"${T[@]}" new-session -d -s cli -x 180 -y 50 "$ROOST cli -server $ADDR"
wait_for "$(prompt 0)" 15; check "prompt [zk: $ADDR(CONNECTED) 0]" $?
wait_for "WatchedEvent state:SyncConnected type:None path:null"; check "connect event printed" $?

run "create /tw first"
wait_for "Created /tw"; check "create prints Created /tw" $?
wait_for "$(prompt 1)"; check "prompt counts commands" $?

run "get -w /tw"
wait_for "first"; check "get prints data" $?
wait_for "$(prompt 2)"
oneshot set /tw second
wait_for "WatchedEvent state:SyncConnected type:NodeDataChanged path:/tw"
check "get -w: NodeDataChanged from another client shows up at the prompt" $?

run "addWatch -m PERSISTENT_RECURSIVE /tw"
wait_for "$(prompt 3)"
oneshot create /tw/c1
wait_for "WatchedEvent state:SyncConnected type:NodeCreated path:/tw/c1"
check "addWatch: NodeCreated for a child" $?
oneshot set /tw/c1 x
wait_for "WatchedEvent state:SyncConnected type:NodeDataChanged path:/tw/c1"
check "addWatch: persistent, fires again" $?

# An event arriving while a line is half typed: printed above, line kept.
"${T[@]}" send-keys -t cli -l -- "ls /t"
sleep 0.3
oneshot create /tw/c2
wait_for "WatchedEvent state:SyncConnected type:NodeCreated path:/tw/c2"
check "event printed while typing" $?
[[ "$(pane | grep -v '^$' | tail -1)" == "$(prompt 3) ls /t" ]]
check "half-typed line redrawn after the event" $?
"${T[@]}" send-keys -t cli -l -- "w"
"${T[@]}" send-keys -t cli Enter
N=4
wait_for "[c1, c2]"; check "finished line runs (ls /tw)" $?

# Line editing: Home, then insert; Backspace.
wait_for "$(prompt 4)"
"${T[@]}" send-keys -t cli -l -- "et /tw"
"${T[@]}" send-keys -t cli Home
"${T[@]}" send-keys -t cli -l -- "g"
"${T[@]}" send-keys -t cli End
"${T[@]}" send-keys -t cli -l -- "/c1X"
"${T[@]}" send-keys -t cli BSpace Enter
N=5
wait_for "$(prompt 5)"
pane | grep -qx "x"; check "Home/End/Backspace editing (get /tw/c1)" $?

# Up recalls the previous line.
"${T[@]}" send-keys -t cli Up Enter
N=6
wait_for "$(prompt 6)"
[[ "$(count "$(prompt 5) get /tw/c1")" -ge 1 ]]; check "Up arrow recalls history" $?

run "history"
wait_for "6 - history"; check "history lists commands" $?
pane | grep -qx "0 - create /tw first"; check "history starts at 0" $?

run "addauth digest bob:secret"
run "whoami"
wait_for "digest: bob"; check "addauth then whoami shows digest: bob" $?

run "stat /nope"
wait_for "Node does not exist: /nope"; check "error message" $?

run "close"
wait_for "WatchedEvent state:Closed type:None path:null"; check "close prints Closed" $?
wait_for "[zk: $ADDR(CLOSED) 11]"; check "prompt shows CLOSED" $?
"${T[@]}" send-keys -t cli -l -- "ls /"
"${T[@]}" send-keys -t cli Enter
wait_for "Not connected"; check "commands after close: Not connected" $?
wait_for "[zk: $ADDR(CLOSED) 12]"
"${T[@]}" send-keys -t cli -l -- "connect $ADDR"
"${T[@]}" send-keys -t cli Enter
N=13
wait_for "$(prompt 13)"; check "connect reconnects" $?
run "ls /tw"
wait_for "$(prompt 14)"
[[ "$(count "[c1, c2]")" -ge 2 ]]; check "works after connect" $?

# A multi-line paste (bracketed paste) runs line by line.
printf 'get /tw\nls /tw' >"$WORK/paste.txt"
"${T[@]}" load-buffer "$WORK/paste.txt"
"${T[@]}" paste-buffer -p -t cli
sleep 0.3
"${T[@]}" send-keys -t cli Enter
N=16
wait_for "$(prompt 16)"; check "multi-line paste runs each line" $?
[[ "$(count "[c1, c2]")" -ge 3 ]] && pane | grep -qx "second"; check "pasted lines' output" $?

run "quit"
deadline=$((SECONDS + 10))
while ((SECONDS < deadline)) && "${T[@]}" has-session -t cli 2>/dev/null; do sleep 0.1; done
! "${T[@]}" has-session -t cli 2>/dev/null; check "quit exits the shell" $?

echo "cli-tmux: $PASS passed, $FAIL failed"
((FAIL == 0))
