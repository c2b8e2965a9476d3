#!/usr/bin/env bash
# Drive the ZooKeeper C client's sample shell `cli_mt` (Debian's zookeeper-bin,
# built on libzookeeper-mt) against a server and assert on its output.
#
#   - batch mode (`cli_mt -h HOST:PORT -c CMD`: one process, one command, which
#     exits when the answer arrives): create (plain, sequential, ephemeral,
#     duplicate, without parent), create2, get, set, ls, ls2, sync, delete
#     (non-empty, missing), config;
#   - one interactive session fed through a FIFO: `get`, `ls`, `exists` and
#     `wexists` leave watches, other cli_mt processes change the nodes, and the
#     session must print the right watch events (CHANGED, CHILD, CREATED,
#     DELETED); an ephemeral it created is owned by its session id and is gone
#     once it quits.
#
# Usage: tests/clients/c/cli-mt-check.sh HOST:PORT
# Env: CLI_MT (default /usr/lib/zookeeper/bin/cli_mt), WORK (scratch folder).
# Prints one line per check and ends with "cli_mt: N passed, N failed".
# Exit 0 only if every check passed. Every wait is bounded.
set -uo pipefail

ADDR="${1:?usage: cli-mt-check.sh HOST:PORT}"
CLI="${CLI_MT:-/usr/lib/zookeeper/bin/cli_mt}"
[[ -x "$CLI" ]] || { echo "$CLI not found (apt-get install zookeeper-bin; run scripts/install-test-deps.sh)" >&2; exit 1; }
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$WORK"

PASS=0
FAIL=0
OUT=""
ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL $*"; }
show() { head -c 600 <<<"$1" | tr '\n\t' '| '; }

# One batch-mode cli_mt per command (all its output is on stderr); output to $OUT.
cmd() {
  OUT="$(timeout 20 "$CLI" -h "$ADDR" -c "$1" 2>&1)"
  local rc=$?
  ((rc == 124)) && OUT+=$'\n'"[cli_mt timed out after 20s]"
  return $rc
}
# expect NAME FIXED-STRING: the last output contains the text
expect() {
  if grep -qF -- "$2" <<<"$OUT"; then ok "$1"; else bad "$1: wanted '$2', got: $(show "$OUT")"; fi
}
# expect_line NAME LINE: the last output has the line (leading tab/space ignored)
expect_line() {
  if sed 's/^[[:space:]]*//' <<<"$OUT" | grep -qxF -- "$2"; then ok "$1"; else bad "$1: wanted line '$2', got: $(show "$OUT")"; fi
}
# children of the last `ls`/`ls2` output, sorted, comma-separated
children() {
  awk -v p="$1: rc = 0" '$0 == p {on = 1; next} /^time = / {on = 0} on && /^\t/ {sub(/^\t/, ""); print}' <<<"$OUT" |
    sort | paste -sd, -
}

P=/cli-mt-check
echo "cli_mt (C client $("$CLI" 2>&1 | sed -n 's/^Version: .*version //p')) checks against $ADDR"

# Leftovers of an earlier run against a persistent server (no recursive delete in cli_mt).
for n in "$P/s-0000000000" "$P/s-0000000001" "$P/c2" "$P/e1" "$P/kid" "$P/new" "$P/eph" "$P"; do
  cmd "delete $n" >/dev/null
done

# ---- batch mode -----------------------------------------------------------------------
cmd "create $P";              expect "create"                    "[$P]: rc = 0"
                              expect_line "create returns the name" "name = $P"
cmd "create $P";              expect "create existing -> ZNODEEXISTS (-110)" "[$P]: rc = -110"
cmd "create $P/no/parent";    expect "create without parent -> ZNONODE (-101)" "[$P/no/parent]: rc = -101"
cmd "get $P"
expect "get"                  "$P: rc = 0"
expect_line "get: cli_mt's default data" "new"
expect_line "get: value_len"  "value_len = 3"
expect_line "get: version 0"  "version=0	aversion=0"
cmd "set $P hello world";     expect "set"                       "$P: rc = 0 Stat:"
                              expect_line "set returns version 1" "version=1	aversion=0"
cmd "get $P";                 expect_line "get after set"         "hello world"
                              expect_line "get after set: value_len" "value_len = 11"
cmd "create +s $P/s-";        expect_line "create sequential"     "name = $P/s-0000000000"
cmd "create +s $P/s-";        expect_line "create sequential again" "name = $P/s-0000000001"
cmd "create2 $P/c2"
expect_line "create2 returns the name" "name = $P/c2"
expect_line "create2 returns a stat"   "version=0	aversion=0"
cmd "ls $P"
got="$(children "$P")"
[[ "$got" == "c2,s-0000000000,s-0000000001" ]] && ok "ls" || bad "ls: children '$got', output: $(show "$OUT")"
cmd "ls2 $P"
got="$(children "$P")"
[[ "$got" == "c2,s-0000000000,s-0000000001" ]] && ok "ls2 children" || bad "ls2: children '$got', output: $(show "$OUT")"
expect_line "ls2 returns the parent's stat" "version=1	aversion=0"
cmd "create +e $P/e1";        expect "create ephemeral"           "[$P/e1]: rc = 0"
cmd "get $P/e1";              expect "ephemeral gone after its cli_mt exited" "$P/e1: rc = -101"
cmd "sync $P";                expect "sync"                       "[$P]: rc = 0"
cmd "delete $P";              expect "delete non-empty -> ZNOTEMPTY (-111)" "$P: rc = -111"
cmd "delete $P/missing";      expect "delete missing -> ZNONODE (-101)" "$P/missing: rc = -101"
cmd "get $P/missing";         expect "get missing -> ZNONODE (-101)" "$P/missing: rc = -101"
cmd "delete $P/c2";           expect "delete"                     "$P/c2: rc = 0"
cmd "ls $P"
got="$(children "$P")"
[[ "$got" == "s-0000000000,s-0000000001" ]] && ok "ls after delete" || bad "ls after delete: children '$got', output: $(show "$OUT")"
cmd "config";                 expect "config (getConfig)"         "/zookeeper/config: rc = 0"

# ---- one interactive session: watches and its ephemeral ------------------------------------
SOUT="$WORK/cli-mt-session.out"
FIFO="$WORK/cli-mt-session.in"
rm -f "$SOUT" "$FIFO"
mkfifo "$FIFO"
trap '' PIPE            # a session that died makes `send` fail, not kill this script
timeout 120 "$CLI" -h "$ADDR" <"$FIFO" >"$SOUT" 2>&1 &
SPID=$!
exec 7>"$FIFO"          # keeps the session's stdin open until we close it
cleanup() {
  exec 7>&- 2>/dev/null
  if kill -0 "$SPID" 2>/dev/null; then kill -TERM "$SPID" 2>/dev/null; fi
  rm -f "$FIFO"
}
trap cleanup EXIT
send() { printf '%s\n' "$1" >&7; }
# wait_for NAME TEXT [SECONDS]: until the session printed TEXT (bounded)
wait_for() {
  local deadline=$((SECONDS + ${3:-10}))
  while ((SECONDS < deadline)); do
    if grep -qF -- "$2" "$SOUT" 2>/dev/null; then ok "$1"; return 0; fi
    sleep 0.1
  done
  bad "$1: '$2' not printed within ${3:-10}s; session output tail: $(tail -n 8 "$SOUT" | tr '\n\t' '| ')"
  return 1
}
# count LINE: how many session output lines are LINE
count() { grep -cxF -- "$1" "$SOUT" 2>/dev/null; }
EV="state = CONNECTED_STATE for path"

if wait_for "interactive session connects" "Got a new session id: 0x" 20; then
  SID="$(sed -n 's/^Got a new session id: 0x//p' "$SOUT" | head -n 1)"
  send "create +e $P/eph"
  wait_for "session creates an ephemeral" "[$P/eph]: rc = 0"
  cmd "get $P/eph"
  expect_line "ephemeral's owner is the session ($SID)" "ephemeralOwner = $SID"

  send "get $P"                                  # data watch on $P
  wait_for "get leaves a data watch" "$P: rc = 0"
  cmd "set $P changed"
  wait_for "data watch: CHANGED_EVENT" "Watcher CHANGED_EVENT $EV $P"

  send "ls $P"                                   # child watch on $P
  wait_for "ls leaves a child watch" "s-0000000001"
  cmd "create $P/kid"
  wait_for "child watch: CHILD_EVENT" "Watcher CHILD_EVENT $EV $P"

  send "wexists $P/new"                          # exists watch on a missing node
  wait_for "wexists on a missing node -> ZNONODE" "Error -101 for $P/new"
  cmd "create $P/new"
  wait_for "exists watch: CREATED_EVENT" "Watcher CREATED_EVENT $EV $P/new"

  send "exists $P/new"                           # exists watch on an existing node
  send "get $P/kid"                              # (marker: answered after exists)
  wait_for "exists on an existing node" "$P/kid: rc = 0"
  cmd "delete $P/new"
  wait_for "exists watch: DELETED_EVENT" "Watcher DELETED_EVENT $EV $P/new"

  # Watches that fired are gone: further changes stay silent.
  cmd "set $P again"
  cmd "create $P/new"
  send "sync $P"
  wait_for "session still answering" "[$P]: rc = 0"
  sleep 0.5
  n="$(count "Watcher CHANGED_EVENT $EV $P")"; m="$(count "Watcher CHILD_EVENT $EV $P")"
  [[ "$n" == 1 && "$m" == 1 ]] && ok "one-shot watches fired once" ||
    bad "one-shot watches fired more than once: CHANGED_EVENT x$n, CHILD_EVENT x$m on $P"

  send "quit"
  deadline=$((SECONDS + 15))
  while kill -0 "$SPID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -0 "$SPID" 2>/dev/null; then bad "session quits within 15s"; else ok "session quits"; fi
  cmd "get $P/eph";             expect "session's ephemeral gone after quit" "$P/eph: rc = -101"
fi
exec 7>&-

# ---- clean up ---------------------------------------------------------------------------
for n in "$P/s-0000000000" "$P/s-0000000001" "$P/kid" "$P/new"; do cmd "delete $n" >/dev/null; done
cmd "delete $P";              expect "delete the emptied parent"  "$P: rc = 0"
cmd "get $P";                 expect "tree is gone"               "$P: rc = -101"

echo "cli_mt: $PASS passed, $FAIL failed"
((FAIL == 0 && PASS > 0))
