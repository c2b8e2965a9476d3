#!/usr/bin/env bash
# Run kazoo 2.11.0's own test suite against a server this script starts:
# Roost (default) or, with --zookeeper, Apache ZooKeeper 3.8 from Debian's
# package, configured the way kazoo's harness configures it; standalone, or
# with --ensemble N a replicated ensemble of N members (kazoo's own harness
# runs 3). Writes a results TSV (test id<TAB>outcome<TAB>message), prints a
# summary and a diff against the reference run shipped in the repository
# (tests/kazoo/reference/kazoo-zk-standalone.tsv, or kazoo-zk-ensemble.tsv
# with --ensemble; tests/kazoo/reference/README.md says how they were made),
# stops the servers it started (by PID), and exits non-zero if a test that
# passes in the reference did not pass here, unless
# tests/kazoo/expected-failures.txt (standalone) or
# tests/kazoo/expected-failures-ensemble.txt (--ensemble) lists it.
#
# Usage: scripts/kazoo-suite.sh [options] [-- extra pytest args]
#   --zookeeper           test Apache ZooKeeper (the reference server) instead of Roost
#   --ensemble N          N members (server.1..N, all participants) instead of one
#                         standalone server; kazoo's harness sees all N
#   --port N|auto         client port on 127.0.0.1 (default auto: first free from 22181; never 2181).
#                         With --ensemble, member i (1-based) uses client port N+10(i-1),
#                         election port +1, quorum port +2, as kazoo's harness lays them
#                         out (auto: the first base from 23181, step 50, with all free)
#   --results PATH        results TSV (default tests/kazoo/.work/results-<server>-<port>.tsv,
#                         <server> being e.g. roost or roost-ens3)
#   --reference PATH      reference TSV (default REFDIR/kazoo-zk-standalone.tsv,
#                         REFDIR/kazoo-zk-ensemble.tsv with --ensemble)
#   --reference-dir DIR   REFDIR (default tests/kazoo/reference)
#   --if-down abort|restart|continue
#                         when a server is found gone (probed after failing tests;
#                         with --ensemble after every test): stop the run (default
#                         standalone), restart it and go on (default --ensemble), or go
#                         on without it. Every finding is listed at the end and fails the run.
#   --client-log-level L  kazoo's client log level in failing tests' captured logs, e.g. 5
#                         (BLATHER: session ids, zxids) - for diagnosis; default: as kazoo has it
#   --server-config LINE  append LINE (key=value) to every server's zoo.cfg; repeatable
#                         (e.g. roost.electionTicks=100 to see what raft timing changes)
#   --test-timeout S      per-test timeout, pytest-timeout (default 60)
#   --total-timeout S     whole pytest run timeout (default 2400)
#   -k EXPR               only tests matching EXPR (passed to pytest; the diff
#                         then only judges the selected tests)
#   --regenerate-reference[=standalone|ensemble|both]
#                         instead of testing Roost, rebuild the reference TSVs in REFDIR
#                         (default both): run this script with --zookeeper (standalone)
#                         and --zookeeper --ensemble 3 against Debian's Apache ZooKeeper,
#                         check that each run is complete (every collected test has an
#                         outcome, no server went down), then install the results as
#                         REFDIR/kazoo-zk-standalone.tsv / kazoo-zk-ensemble.tsv and
#                         record how in REFDIR/provenance.tsv. ZooKeeper's own failures
#                         are facts to record, not errors. Takes --reference-dir,
#                         --test-timeout, --total-timeout and --dry-run only.
#   --dry-run             with --regenerate-reference: print the runs and files, run nothing
# Env: ROOST_BIN (default target/release/roost; built with cargo if missing).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAZOO_VERSION=2.11.0
SERVER=roost
PORT=auto
RESULTS=""
REFERENCE=""
REFERENCE_DIR="$ROOT/tests/kazoo/reference"
REGENERATE=""
DRY_RUN=0
ENSEMBLE=0
IF_DOWN=""
CLIENT_LOG_LEVEL=""
SERVER_CONFIG=()
TEST_TIMEOUT=60
TOTAL_TIMEOUT=2400
KEXPR=""
EXTRA=()
GIVEN=()   # the options given, for --regenerate-reference's check
while (($#)); do
  GIVEN+=("${1%%=*}")
  case "$1" in
    --zookeeper) SERVER=zookeeper ;;
    --roost) SERVER=roost ;;
    --ensemble) ENSEMBLE="$2"; shift ;;
    --if-down) IF_DOWN="$2"; shift ;;
    --client-log-level) CLIENT_LOG_LEVEL="$2"; shift ;;
    --server-config) SERVER_CONFIG+=("$2"); shift ;;
    --port) PORT="$2"; shift ;;
    --results) RESULTS="$2"; shift ;;
    --reference) REFERENCE="$2"; shift ;;
    --reference-dir) REFERENCE_DIR="$2"; shift ;;
    --regenerate-reference) REGENERATE=both ;;
    --regenerate-reference=*) REGENERATE="${1#*=}" ;;
    --dry-run) DRY_RUN=1 ;;
    --test-timeout) TEST_TIMEOUT="$2"; shift ;;
    --total-timeout) TOTAL_TIMEOUT="$2"; shift ;;
    -k) KEXPR="$2"; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$ENSEMBLE" =~ ^[0-9]+$ && ( "$ENSEMBLE" == 0 || "$ENSEMBLE" -ge 2 ) ]] ||
  { echo "--ensemble takes a member count >= 2" >&2; exit 2; }
REFERENCE_DIR="$(mkdir -p "$REFERENCE_DIR" && cd "$REFERENCE_DIR" && pwd)" || exit 2

# ---- --regenerate-reference: rebuild the reference TSVs from Apache ZooKeeper ---
# Runs this script again, once per kind, with --zookeeper (and --ensemble 3 for
# the ensemble file: kazoo's own harness runs a 3-member cluster), and installs
# each complete run as the new reference. ZooKeeper's failing tests are part of
# the reference (the facts Roost is compared with), so the runs' exit status is
# not the criterion; completeness is.
if [[ -n "$REGENERATE" ]]; then
  case "$REGENERATE" in
    both) KINDS=(standalone ensemble) ;;
    standalone|ensemble) KINDS=("$REGENERATE") ;;
    *) echo "--regenerate-reference takes standalone, ensemble or both" >&2; exit 2 ;;
  esac
  for opt in "${GIVEN[@]}"; do
    case "$opt" in
      --regenerate-reference|--reference-dir|--test-timeout|--total-timeout|--dry-run) ;;
      # A value of an option above (they were all consumed by the loop).
      *) [[ "$opt" == -* ]] || continue
         echo "--regenerate-reference runs Apache ZooKeeper's complete suite with the standard configuration; $opt cannot be combined with it" >&2
         exit 2 ;;
    esac
  done
  WORK="$ROOT/tests/kazoo/.work"
  PROVENANCE="$REFERENCE_DIR/provenance.tsv"
  log() { echo "[kazoo-suite] $*" >&2; }
  regen_args() { # KIND OUT.tsv -> the child's arguments
    local a=(--zookeeper --results "$2" --reference "$REFERENCE_DIR/kazoo-zk-$1.tsv"
      --test-timeout "$TEST_TIMEOUT" --total-timeout "$TOTAL_TIMEOUT")
    [[ "$1" == ensemble ]] && a+=(--ensemble 3)
    printf '%s\n' "${a[@]}"
  }
  if ((DRY_RUN)); then
    for kind in "${KINDS[@]}"; do
      mapfile -t args < <(regen_args "$kind" "$WORK/regenerate-$kind.tsv")
      echo "would run: bash scripts/kazoo-suite.sh ${args[*]}"
      echo "  then, if complete: install $WORK/regenerate-$kind.tsv as $REFERENCE_DIR/kazoo-zk-$kind.tsv"
      echo "  and record the run in $PROVENANCE"
    done
    exit 0
  fi
  if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/2181" 2>/dev/null; then
    log "something listens on 127.0.0.1:2181; test_slow_connect would fail for that reason and the reference would record it. Stop it first."
    exit 1
  fi
  zk_version="$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null)"
  [[ -n "$zk_version" ]] || bash "$ROOT/scripts/install-test-deps.sh" || exit 1
  zk_version="$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null)"
  [[ -n "$zk_version" ]] || { log "Debian's zookeeper package is not installed"; exit 1; }
  java_version="$(java -version 2>&1 | head -n 1)"
  commit="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
  [[ -f "$PROVENANCE" ]] ||
    printf 'file\tdate_utc\tzookeeper_package\tjava\tkazoo\tcommit\tcpus\tcommand\toutcomes\n' >"$PROVENANCE"
  failed=0
  for kind in "${KINDS[@]}"; do
    out="$WORK/regenerate-$kind.tsv"
    dest="$REFERENCE_DIR/kazoo-zk-$kind.tsv"
    mkdir -p "$WORK"
    rm -f "$out" "$out.collected" "$out.down" "$out.timeline"
    mapfile -t args < <(regen_args "$kind" "$out")
    log "regenerating $dest: bash scripts/kazoo-suite.sh ${args[*]}"
    bash "$0" "${args[@]}"
    rc=$?
    log "ZooKeeper $kind run exit $rc (its comparison with the previous reference; not what decides here)"
    problems=()
    [[ -s "$out" ]] || problems+=("no results")
    [[ -s "$out.collected" ]] || problems+=("no list of collected tests")
    [[ -s "$out.down" ]] && problems+=("a server went down during the run ($out.down)")
    if [[ -s "$out" && -s "$out.collected" ]]; then
      missing="$(awk -F'\t' 'NR==FNR {have[$1] = 1; next} !($1 in have)' "$out" "$out.collected" | wc -l)"
      ((missing == 0)) || problems+=("$missing collected tests have no outcome (whole-run timeout?)")
    fi
    if ((${#problems[@]})); then
      log "NOT installing $dest: ${problems[*]}"
      failed=1
      continue
    fi
    outcomes="$(cut -f2 "$out" | sort | uniq -c | awk '{printf "%s%d %s", (NR > 1 ? ", " : ""), $1, $2}')"
    if [[ -f "$dest" ]]; then
      log "changes against the previous $dest (outcome per test):"
      diff <(cut -f1,2 "$dest") <(cut -f1,2 "$out") | sed -n 's/^[<>] /  &/p'
    fi
    cp "$out" "$dest"
    # One line per file: replace this file's line.
    awk -F'\t' -v f="$(basename "$dest")" '$1 != f' "$PROVENANCE" >"$PROVENANCE.new"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(basename "$dest")" "$(date -u +%FT%TZ)" \
      "$zk_version" "$java_version" "$KAZOO_VERSION" "$commit" "$(nproc)" \
      "bash scripts/kazoo-suite.sh --zookeeper$([[ $kind == ensemble ]] && echo " --ensemble 3") --test-timeout $TEST_TIMEOUT --total-timeout $TOTAL_TIMEOUT (by --regenerate-reference)" \
      "$outcomes" >>"$PROVENANCE.new"
    mv "$PROVENANCE.new" "$PROVENANCE"
    log "installed $dest ($outcomes)"
  done
  exit "$failed"
fi
((DRY_RUN)) && { echo "--dry-run goes with --regenerate-reference" >&2; exit 2; }

# Ports of an ensemble based at $1: member i's client, election and quorum port.
member_ports() { local b="$1" i="$2"; echo "$((b + 10 * (i - 1))) $((b + 10 * (i - 1) + 1)) $((b + 10 * (i - 1) + 2))"; }
ensemble_ports_free() {
  local b="$1" i p
  for ((i = 1; i <= ENSEMBLE; i++)); do
    for p in $(member_ports "$b" "$i"); do
      ((p != 2181)) || return 1
      [[ "$(bash "$ROOT/scripts/free-port.sh" "$p" 1 2>/dev/null)" == "$p" ]] || return 1
    done
  done
}
if [[ "$PORT" == auto ]]; then
  if ((ENSEMBLE)); then
    PORT=""
    for ((b = 23181; b < 23181 + 50 * 40; b += 50)); do
      if ensemble_ports_free "$b"; then PORT="$b"; break; fi
    done
    [[ -n "$PORT" ]] || { echo "no free port block for a $ENSEMBLE-member ensemble from 23181" >&2; exit 1; }
  else
    PORT="$(bash "$ROOT/scripts/free-port.sh" 22181 100)" || exit 1
  fi
elif ((ENSEMBLE)) && ! ensemble_ports_free "$PORT"; then
  echo "a port of the ensemble based at $PORT is in use (member i: client $PORT+10(i-1), +1, +2)" >&2; exit 1
fi
[[ "$PORT" != 2181 ]] || { echo "port 2181 is reserved (a kazoo test expects nothing there)" >&2; exit 2; }
if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/2181" 2>/dev/null; then
  echo "[kazoo-suite] WARNING: something listens on 127.0.0.1:2181 (not ours); test_utils' test_slow_connect expects nothing there and will fail" >&2
fi
[[ -z "$IF_DOWN" || "$IF_DOWN" =~ ^(abort|restart|continue)$ ]] ||
  { echo "--if-down takes abort, restart or continue" >&2; exit 2; }
if ((ENSEMBLE)); then
  NAME="$SERVER-ens$ENSEMBLE"
  REFERENCE="${REFERENCE:-$REFERENCE_DIR/kazoo-zk-ensemble.tsv}"
  ALLOWLIST="$ROOT/tests/kazoo/expected-failures-ensemble.txt"
  [[ "$SERVER" == zookeeper ]] && ALLOWLIST=""   # Roost's allow-list; the reference server needs none
else
  NAME="$SERVER"
  REFERENCE="${REFERENCE:-$REFERENCE_DIR/kazoo-zk-standalone.tsv}"
  ALLOWLIST="$ROOT/tests/kazoo/expected-failures.txt"
fi

log() { echo "[kazoo-suite] $*" >&2; }
WORK="$ROOT/tests/kazoo/.work"
SDIST="$WORK/kazoo-$KAZOO_VERSION"
VENV="$ROOT/.venv"
RESULTS="${RESULTS:-$WORK/results-$NAME-$PORT.tsv}"
RESULTS="$(mkdir -p "$(dirname "$RESULTS")" && cd "$(dirname "$RESULTS")" && pwd)/$(basename "$RESULTS")"
RUN="$WORK/run-$NAME-$PORT"
CTL="$ROOT/scripts/server-ctl.sh"

if [[ ! -x "$VENV/bin/python" || ! -f "$SDIST/kazoo/tests/test_client.py" ]]; then
  bash "$ROOT/scripts/install-test-deps.sh" || exit 1
fi

# ---- server(s) ------------------------------------------------------------------
# One run per run directory (= server kind [+ ensemble size] + port) at a time.
mkdir -p "$WORK"
exec 9>"$RUN.lock"
if ! flock -n 9; then
  log "another kazoo-suite run is using $RUN (port $PORT); use another --port"
  exit 1
fi
# Standalone: RUN is server-ctl's run directory. Ensemble: member i's is RUN/m<i>.
if ((ENSEMBLE)); then
  MEMBERS=()
  for ((i = 1; i <= ENSEMBLE; i++)); do MEMBERS+=("$RUN/m$i"); done
  # Stop members of an earlier run in RUN (server-ctl signals only its own PIDs).
  for m in "$RUN"/m*; do [[ -f "$m/port" ]] && bash "$CTL" stop "$m" 2>/dev/null; done
  rm -rf "$RUN"
  mkdir -p "$RUN"
  SERVER_LINES=""
  for ((i = 1; i <= ENSEMBLE; i++)); do
    read -r _client election quorum <<<"$(member_ports "$PORT" "$i")"
    SERVER_LINES+="server.$i=127.0.0.1:$quorum:$election:participant"$'\n'
  done
  for ((i = 1; i <= ENSEMBLE; i++)); do
    read -r client _ _ <<<"$(member_ports "$PORT" "$i")"
    bash "$ROOT/scripts/prepare-server.sh" "$SERVER" "${MEMBERS[i - 1]}" "$client" "$i" "${SERVER_LINES%$'\n'}" || exit 1
  done
else
  MEMBERS=("$RUN")
  bash "$ROOT/scripts/prepare-server.sh" "$SERVER" "$RUN" "$PORT" || exit 1
fi

for line in "${SERVER_CONFIG[@]}"; do
  for m in "${MEMBERS[@]}"; do echo "$line" >>"$m/zoo.cfg"; done
done
((${#SERVER_CONFIG[@]})) && log "extra server config: ${SERVER_CONFIG[*]}"

cleanup() {
  local m pids=()
  for m in "${MEMBERS[@]}"; do bash "$CTL" stop "$m" & pids+=($!); done
  wait "${pids[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ((ENSEMBLE)); then
  log "starting a $ENSEMBLE-member $SERVER ensemble, client ports $(for m in "${MEMBERS[@]}"; do printf '%s ' "$(cat "$m/port")"; done)(run dir $RUN)"
  # All at once: a member may not answer before it has a quorum.
  pids=()
  for m in "${MEMBERS[@]}"; do bash "$CTL" start "$m" 0 & pids+=($!); done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  if ((failed)); then log "a member failed to start"; exit 1; fi
  # Then wait (bounded) until exactly one member says it leads and every
  # member reports a role, so the first test does not race the election.
  srvr_mode() {
    timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf srvr >&3 && cat <&3" 2>/dev/null |
      sed -n 's/^Mode: //p' | tr -d '\r'
  }
  deadline=$((SECONDS + ${ROOST_START_TIMEOUT:-90}))
  while :; do
    modes=()
    for m in "${MEMBERS[@]}"; do modes+=("$(srvr_mode "$(cat "$m/port")")"); done
    leaders=0; followers=0
    for md in "${modes[@]}"; do
      [[ "$md" == leader ]] && leaders=$((leaders + 1))
      [[ "$md" == follower ]] && followers=$((followers + 1))
    done
    ((leaders == 1 && leaders + followers == ENSEMBLE)) && break
    if ((SECONDS >= deadline)); then
      log "no settled ensemble (modes: ${modes[*]}); going on anyway"; break
    fi
    sleep 0.5
  done
  log "ensemble modes (m1..m$ENSEMBLE): ${modes[*]}"
else
  log "starting $SERVER on 127.0.0.1:$PORT (run dir $RUN)"
  if ! bash "$CTL" start "$RUN" 0; then
    log "server failed to start"
    exit 1
  fi
fi
SERVERS_ENV="" LOGS_ENV=""
for m in "${MEMBERS[@]}"; do
  SERVERS_ENV+="${SERVERS_ENV:+,}127.0.0.1:$(cat "$m/port")"
  LOGS_ENV+="${LOGS_ENV:+,}$m/server.log"
done
if ((ENSEMBLE)); then
  CTL_DIR="$RUN/m{id}"   # the plugin substitutes {id} = index + 1 = myid
  # A crashed member does not fail the next tests (the others serve them):
  # look after every test, and restart it so it does not hide what follows.
  PROBE_EACH_TEST=1
  IF_DOWN="${IF_DOWN:-restart}"
else
  CTL_DIR="$RUN"
  PROBE_EACH_TEST=0
  IF_DOWN="${IF_DOWN:-abort}"
fi

# ---- the suite -------------------------------------------------------------------
PYTEST_ARGS=(
  -p roost_kazoo_plugin -p no:cacheprovider
  -o log_cli=false -o console_output_style=classic
  --color=no --tb=short -rfE
  --timeout="$TEST_TIMEOUT" --timeout-method=signal
  --durations=10
)
[[ -n "$KEXPR" ]] && PYTEST_ARGS+=(-k "$KEXPR")
log "running kazoo $KAZOO_VERSION's suite (per-test ${TEST_TIMEOUT}s, whole run ${TOTAL_TIMEOUT}s); log: $RUN/pytest.log"
start_ts=$SECONDS
rm -f "$RESULTS.down"
(
  cd "$SDIST" &&
  env -u CI \
    PYTHONPATH="$ROOT/tests/kazoo" PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
    ROOST_KAZOO_SERVERS="$SERVERS_ENV" \
    ROOST_KAZOO_STOP_CMD="bash '$CTL' stop '$CTL_DIR' {index}" \
    ROOST_KAZOO_START_CMD="bash '$CTL' start '$CTL_DIR' {index}" \
    ROOST_KAZOO_LOGS="$LOGS_ENV" \
    ROOST_KAZOO_TSV="$RESULTS" \
    ROOST_KAZOO_IF_DOWN="$IF_DOWN" ROOST_KAZOO_PROBE_EACH_TEST="$PROBE_EACH_TEST" \
    ROOST_KAZOO_CLIENT_LOG_LEVEL="$CLIENT_LOG_LEVEL" \
    timeout -k 30 "$TOTAL_TIMEOUT" "$VENV/bin/python" -m pytest "${PYTEST_ARGS[@]}" "${EXTRA[@]}" kazoo/tests \
    </dev/null >"$RUN/pytest.log" 2>&1
)
rc=$?
elapsed=$((SECONDS - start_ts))
if ((rc == 124 || rc == 137)); then
  log "WHOLE-RUN TIMEOUT after ${TOTAL_TIMEOUT}s; tests not reached count as not run"
fi
# pytest's own closing lines, prefixed so CI's log reader does not take them for ours
grep -E '^(FAILED|ERROR) ' "$RUN/pytest.log" | sed 's/^/  pytest: /' | head -n 60
grep -E '^=+ .*(passed|failed|error).* in |^!+ .*!+$' "$RUN/pytest.log" | tail -n 3 | sed 's/^/  pytest: /'
log "pytest exit $rc after ${elapsed}s ($(date -u +%FT%TZ))"

for m in "${MEMBERS[@]}"; do
  if ! bash "$CTL" status "$m"; then
    log "NOTE: the server in $m was not running at the end of the suite; last log lines:"
    tail -n 20 "$m/server.log" | sed 's/^/  server: /'
  fi
done

if [[ ! -s "$RESULTS" ]]; then
  log "no results written to $RESULTS"; exit 1
fi
REF_ARG="$REFERENCE"
if [[ ! -f "$REFERENCE" ]]; then
  log "reference $REFERENCE not found; judging on failures alone"
  REF_ARG=/dev/null
fi
if [[ (-n "$KEXPR" || ${#EXTRA[@]} -gt 0) && -s "$RESULTS.collected" ]]; then
  # A partial run: judge only the tests pytest selected.
  awk -F'\t' 'NR==FNR{sel[$1]=1; next} ($1 in sel)' "$RESULTS.collected" "$REF_ARG" >"$RUN/reference-subset.tsv"
  REF_ARG="$RUN/reference-subset.tsv"
fi
"$VENV/bin/python" "$ROOT/tests/kazoo/compare.py" "$RESULTS" "$REF_ARG" "$ALLOWLIST"
status=$?
if [[ "$REF_ARG" == /dev/null ]] && grep -qP '\t(failed|error)\t' "$RESULTS"; then status=1; fi
# Server panics, wherever they happened (also during a start-up that
# server-ctl then retried, which the plugin cannot see): each with the last
# timestamped line before it, to line it up with $RESULTS.timeline.
panics=0
for m in "${MEMBERS[@]}"; do
  while IFS= read -r line; do
    ((panics == 0)) && echo "SERVER PANICS (see the server logs and $RESULTS.timeline):"
    panics=$((panics + 1))
    echo "  ${m#"$WORK"/}: $line"
  done < <(awk '/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T/ {last=$1} /^=== start/ {last=$3}
                /panicked at/ {p=$0; getline msg; print last "  " p "  " msg}' "$m/server.log")
done
if ((panics)); then
  echo "RESULT: FAIL - $panics server panic(s)"
  status=1
fi
if [[ -s "$RESULTS.down" ]]; then
  # A server that died under the suite fails the run whatever the outcomes.
  echo "SERVERS FOUND DOWN during the run: $(wc -l <"$RESULTS.down") (test after which<TAB>server index<TAB>address<TAB>action; see their logs)"
  sed 's/^/  /' "$RESULTS.down"
  echo "RESULT: FAIL - a server went down during the suite"
  status=1
fi
log "results: $RESULTS  (took ${elapsed}s)"
exit "$status"
