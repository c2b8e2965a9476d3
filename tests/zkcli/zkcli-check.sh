#!/usr/bin/env bash
# Drive Debian's zkCli.sh (Apache ZooKeeper 3.8's Java CLI) against a server and
# assert on its output: create (plain, sequential, duplicate), get, set, stat,
# ls, delete (non-empty and missing), and - interactively, in a private tmux
# server with send-keys/capture-pane - addWatch (persistent recursive), `get -w`
# and `ls -w`, checking that the watch events show up in the CLI.
#
# Usage:
#   tests/zkcli/zkcli-check.sh --server HOST:PORT     a server that is already running
#   tests/zkcli/zkcli-check.sh --roost [--port N]     start target/release/roost (default: first free port from 22282)
#   tests/zkcli/zkcli-check.sh --zookeeper [--port N] start Apache ZooKeeper 3.8 (reference)
# Prints one line per check and ends with "zkcli: N passed, N failed".
# Exit 0 only if every check passed. Every wait is bounded.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ZKCLI="${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}"
ADDR=""
START=""
PORT=auto
while (($#)); do
  case "$1" in
    --server) ADDR="$2"; shift ;;
    --roost) START=roost ;;
    --zookeeper) START=zookeeper ;;
    --port) PORT="$2"; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -n "$ADDR" || -n "$START" ]] || { echo "need --server HOST:PORT, --roost or --zookeeper" >&2; exit 2; }
[[ -x "$ZKCLI" ]] || { echo "$ZKCLI not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
command -v tmux >/dev/null || { echo "tmux not found (run scripts/install-test-deps.sh)" >&2; exit 1; }

log() { echo "[zkcli-check] $*" >&2; }
WORK="$ROOT/tests/zkcli/.work"
mkdir -p "$WORK"
TMUX_SOCK="roost-zkcli-$$"
RUN=""
cleanup() {
  tmux -L "$TMUX_SOCK" kill-server 2>/dev/null
  [[ -n "$RUN" ]] && bash "$ROOT/scripts/server-ctl.sh" stop "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n "$START" ]]; then
  if [[ "$PORT" == auto ]]; then PORT="$(bash "$ROOT/scripts/free-port.sh" 22282 100)" || exit 1; fi
  RUN="$WORK/run-$START-$PORT"
  exec 9>"$RUN.lock"
  flock -n 9 || { log "another zkcli-check run is using $RUN; use another --port"; exit 1; }
  bash "$ROOT/scripts/prepare-server.sh" "$START" "$RUN" "$PORT" || exit 1
  bash "$ROOT/scripts/server-ctl.sh" start "$RUN" 0 || { log "server failed to start"; RUN_FAILED=1; }
  ADDR="127.0.0.1:$PORT"
  if [[ -n "${RUN_FAILED:-}" ]]; then echo "zkcli: 0 passed, 1 failed"; exit 1; fi
fi

PASS=0
FAIL=0
OUT=""
ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL $*"; }

# One zkCli.sh invocation per command (a JVM each, ~1 s); output to $OUT.
zk() {
  OUT="$(timeout 30 "$ZKCLI" -server "$ADDR" "$@" 2>&1)"
  local rc=$?
  # Drop the banner/log noise so failure messages stay readable.
  OUT="$(grep -v -e '^SLF4J:' -e '^Connecting to' -e '^WATCHER::' -e '^WatchedEvent state:SyncConnected type:None' -e '^$' <<<"$OUT")"
  return $rc
}
# expect NAME FIXED-STRING : the last zk output contains the line/text
expect() {
  local name="$1" want="$2"
  if grep -qF -- "$want" <<<"$OUT"; then ok "$name"; else bad "$name: wanted '$want', got: $(head -c 400 <<<"$OUT" | tr '\n' '|')"; fi
}
expect_line() {
  local name="$1" want="$2"
  if grep -qxF -- "$want" <<<"$OUT"; then ok "$name"; else bad "$name: wanted line '$want', got: $(head -c 400 <<<"$OUT" | tr '\n' '|')"; fi
}

P="/zkcli-check"
echo "zkCli.sh checks against $ADDR"

# Clean leftovers of an earlier run against a persistent server (bounded).
zk deleteall "$P" >/dev/null 2>&1

# ---- one-shot commands --------------------------------------------------------------
zk create "$P" hello;               expect_line "create"                    "Created $P"
zk create "$P" again;               expect      "create existing -> error"  "Node already exists: $P"
zk get "$P";                        expect_line "get"                       "hello"
zk set "$P" world;                  [[ -z "$OUT" ]] && ok "set (silent)" || bad "set: unexpected output: $(tr '\n' '|' <<<"$OUT")"
zk get "$P";                        expect_line "get after set"             "world"
zk stat "$P"
expect_line "stat dataVersion"  "dataVersion = 1"
expect_line "stat dataLength"   "dataLength = 5"
expect_line "stat numChildren"  "numChildren = 0"
expect_line "stat ephemeralOwner" "ephemeralOwner = 0x0"
zk set -v 7 "$P" stale;             expect      "set with bad version -> error" "version No is not valid : $P"
zk create "$P/c1" c1-data-v0;      expect_line "create child"              "Created $P/c1"
zk create -s "$P/seq-" s;           expect_line "create sequential"         "Created $P/seq-0000000001"
zk ls "$P";                         expect_line "ls"                        "[c1, seq-0000000001]"
zk stat "$P";                       expect_line "stat numChildren after creates" "numChildren = 2"
zk delete "$P";                     expect      "delete non-empty -> error" "Node not empty: $P"
zk delete "$P/seq-0000000001";      [[ -z "$OUT" ]] && ok "delete" || bad "delete: unexpected output: $(tr '\n' '|' <<<"$OUT")"
zk get "$P/seq-0000000001";         expect      "get deleted -> error"      "Node does not exist: $P/seq-0000000001"
zk ls "$P";                         expect_line "ls after delete"           "[c1]"

# ---- interactive: watches, via tmux ------------------------------------------------------
# (captured into a variable first: `capture-pane | grep -q` under pipefail
#  fails when grep exits early and tmux gets SIGPIPE)
pane() { local s; s="$(tmux -L "$TMUX_SOCK" capture-pane -p -J -S -2000 -t zkcli 2>/dev/null)"; printf '%s\n' "$s"; }
shows() { local s; s="$(pane)"; grep -q "$@" <<<"$s"; }
# wait_for NAME TEXT [SECONDS]: until the pane shows TEXT (bounded)
wait_for() {
  local name="$1" text="$2" limit="${3:-20}" deadline=$((SECONDS + ${3:-20}))
  while ((SECONDS < deadline)); do
    if shows -F -- "$text"; then ok "$name"; return 0; fi
    sleep 0.2
  done
  bad "$name: '$text' not shown within ${limit}s; screen tail: $(pane | grep -v '^$' | tail -n 8 | tr '\n' '|')"
  return 1
}
send() { tmux -L "$TMUX_SOCK" send-keys -t zkcli -l -- "$1"; tmux -L "$TMUX_SOCK" send-keys -t zkcli Enter; }
# Debian's zkCli.sh runs without JLine, so it prints no prompt; to know that the
# commands typed so far have run, type `get` of a marker path that does not
# exist and wait for its error line (commands run in order).
MARK=0
barrier() {
  MARK=$((MARK + 1))
  send "get $P-mark-$MARK"
  wait_for "$1" "Node does not exist: $P-mark-$MARK"
}

tmux -L "$TMUX_SOCK" -f /dev/null new-session -d -s zkcli -x 220 -y 50 \
  "'$ZKCLI' -server '$ADDR'; sleep 600"
if wait_for "interactive session connects" "WatchedEvent state:SyncConnected type:None path:null" 30; then
  send "addWatch $P"                  # default mode: PERSISTENT_RECURSIVE
  barrier "addWatch accepted"
  zk set "$P" w2
  wait_for "persistent watch: NodeDataChanged event" "type:NodeDataChanged path:$P"
  zk create "$P/c1/deep" d
  wait_for "recursive watch: NodeCreated event for a grandchild" "type:NodeCreated path:$P/c1/deep"
  zk delete "$P/c1/deep"
  wait_for "recursive watch: NodeDeleted event" "type:NodeDeleted path:$P/c1/deep"
  send "removewatches $P -a"
  barrier "removewatches accepted"
  # (typed input is echoed at once, so output may share a line with the next
  #  command typed; match distinctive text rather than whole lines)
  send "get -w $P/c1"
  wait_for "get -w shows the data" "c1-data-v0"
  zk set "$P/c1" uno
  wait_for "one-shot data watch: NodeDataChanged event" "type:NodeDataChanged path:$P/c1"
  send "ls -w $P"
  wait_for "ls -w shows the children" "[c1]"
  zk create "$P/c2" two
  wait_for "child watch: NodeChildrenChanged event" "type:NodeChildrenChanged path:$P"
  # Watches removed or already fired must stay silent.
  zk set "$P/c1" eins
  zk set "$P" w3
  barrier "session still answering"
  n="$(pane | grep -cF "type:NodeDataChanged path:$P/c1")"
  [[ "$n" == 1 ]] && ok "one-shot watch fired once" || bad "one-shot watch fired $n times"
  n="$(pane | grep -cE "type:NodeDataChanged path:$P\$")"
  [[ "$n" == 1 ]] && ok "removed persistent watch stays silent" || bad "persistent watch on $P fired $n times (want 1: removed before the 2nd set)"
  send "quit"
fi
tmux -L "$TMUX_SOCK" kill-server 2>/dev/null

# ---- clean up (also checks delete of a leaf and of the emptied parent) -------------------------------
zk delete "$P/c2"; zk delete "$P/c1"; zk delete "$P"
zk stat "$P";                       expect      "deleted tree is gone"      "Node does not exist: $P"

echo "zkcli: $PASS passed, $FAIL failed"
((FAIL == 0))
