#!/usr/bin/env bash
# Run kazoo 2.11.0's own test suite against a server this script starts:
# Roost (default) or, with --zookeeper, Apache ZooKeeper 3.8 from Debian's
# package, configured the way kazoo's harness configures it. Writes a results
# TSV (test id<TAB>outcome<TAB>message), prints a summary and a diff against
# the reference run (../shared/reference/kazoo-zk-standalone.tsv), stops the
# server it started (by PID), and exits non-zero if a test that passes in the
# reference did not pass here, unless tests/kazoo/expected-failures.txt lists it.
#
# Usage: scripts/kazoo-suite.sh [options] [-- extra pytest args]
#   --zookeeper           test Apache ZooKeeper (the reference server) instead of Roost
#   --port N|auto         client port on 127.0.0.1 (default auto: first free from 22181; never 2181)
#   --results PATH        results TSV (default tests/kazoo/.work/results-<server>-<port>.tsv)
#   --reference PATH      reference TSV (default ../shared/reference/kazoo-zk-standalone.tsv)
#   --test-timeout S      per-test timeout, pytest-timeout (default 60)
#   --total-timeout S     whole pytest run timeout (default 2400)
#   -k EXPR               only tests matching EXPR (passed to pytest; the diff
#                         then only judges the selected tests)
# Env: ROOST_BIN (default target/release/roost; built with cargo if missing).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAZOO_VERSION=2.11.0
SERVER=roost
PORT=auto
RESULTS=""
REFERENCE="$ROOT/../shared/reference/kazoo-zk-standalone.tsv"
TEST_TIMEOUT=60
TOTAL_TIMEOUT=2400
KEXPR=""
EXTRA=()
while (($#)); do
  case "$1" in
    --zookeeper) SERVER=zookeeper ;;
    --roost) SERVER=roost ;;
    --port) PORT="$2"; shift ;;
    --results) RESULTS="$2"; shift ;;
    --reference) REFERENCE="$2"; shift ;;
    --test-timeout) TEST_TIMEOUT="$2"; shift ;;
    --total-timeout) TOTAL_TIMEOUT="$2"; shift ;;
    -k) KEXPR="$2"; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ "$PORT" == auto ]]; then
  PORT="$(bash "$ROOT/scripts/free-port.sh" 22181 100)" || exit 1
fi
[[ "$PORT" != 2181 ]] || { echo "port 2181 is reserved (a kazoo test expects nothing there)" >&2; exit 2; }

log() { echo "[kazoo-suite] $*" >&2; }
WORK="$ROOT/tests/kazoo/.work"
SDIST="$WORK/kazoo-$KAZOO_VERSION"
VENV="$ROOT/.venv"
RESULTS="${RESULTS:-$WORK/results-$SERVER-$PORT.tsv}"
RESULTS="$(mkdir -p "$(dirname "$RESULTS")" && cd "$(dirname "$RESULTS")" && pwd)/$(basename "$RESULTS")"
RUN="$WORK/run-$SERVER-$PORT"
CTL="$ROOT/scripts/server-ctl.sh"

if [[ ! -x "$VENV/bin/python" || ! -f "$SDIST/kazoo/tests/test_client.py" ]]; then
  bash "$ROOT/scripts/install-test-deps.sh" || exit 1
fi

# ---- server ---------------------------------------------------------------------
# One run per run directory (= server kind + port) at a time.
mkdir -p "$WORK"
exec 9>"$RUN.lock"
if ! flock -n 9; then
  log "another kazoo-suite run is using $RUN (port $PORT); use another --port"
  exit 1
fi
bash "$ROOT/scripts/prepare-server.sh" "$SERVER" "$RUN" "$PORT" || exit 1

cleanup() { bash "$CTL" stop "$RUN"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting $SERVER on 127.0.0.1:$PORT (run dir $RUN)"
if ! bash "$CTL" start "$RUN" 0; then
  log "server failed to start"
  exit 1
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
(
  cd "$SDIST" &&
  env -u CI \
    PYTHONPATH="$ROOT/tests/kazoo" PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
    ROOST_KAZOO_SERVERS="127.0.0.1:$PORT" \
    ROOST_KAZOO_STOP_CMD="bash '$CTL' stop '$RUN' {index}" \
    ROOST_KAZOO_START_CMD="bash '$CTL' start '$RUN' {index}" \
    ROOST_KAZOO_LOGS="$RUN/server.log" \
    ROOST_KAZOO_TSV="$RESULTS" \
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

if ! bash "$CTL" status "$RUN"; then
  log "NOTE: the server was not running at the end of the suite; last log lines:"
  tail -n 20 "$RUN/server.log" | sed 's/^/  server: /'
fi

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
"$VENV/bin/python" "$ROOT/tests/kazoo/compare.py" "$RESULTS" "$REF_ARG" "$ROOT/tests/kazoo/expected-failures.txt"
status=$?
if [[ "$REF_ARG" == /dev/null ]] && grep -qP '\t(failed|error)\t' "$RESULTS"; then status=1; fi
log "results: $RESULTS  (took ${elapsed}s)"
exit "$status"
