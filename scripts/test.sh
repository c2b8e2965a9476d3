#!/usr/bin/env bash
# THE test command: bash scripts/test.sh
#
# Stages (every one bounded by a timeout; all run even if an earlier one fails,
# except that the server checks need a successful release build):
#   deps    scripts/install-test-deps.sh (apt/PyPI; fast when already installed)
#   fmt     cargo fmt --all --check
#   docs    scripts/check-docs.py --self-test, then scripts/check-docs.py: the README,
#           docs/*.md, bench/README.md and tests/**/README.md name no path, script,
#           `roost` subcommand, roost-loadgen flag or zoo.cfg key that does not
#           exist, and docs/configuration.md lists every key src/config reads;
#           then scripts/check-layers.py: no import cycle between src/'s modules
#   clippy  cargo clippy --workspace --all-targets -- -D warnings
#   build   cargo build --release
#   test    cargo test --workspace            (unit + integration tests; those that need
#           network namespaces are reported ignored there and run by `netns`)
#   netns   scripts/netns-tests.sh            (tests/partition.rs and tests/linearizability.rs:
#           ensemble members in network namespaces; prints SKIP and passes without root or iproute2)
#   kazoo   scripts/kazoo-suite.sh            (kazoo 2.11.0's suite against Roost, first free port from 22181)
#   kazoo-ensemble  scripts/kazoo-suite.sh --ensemble 3  (the same suite against a 3-member Roost ensemble)
#   zkcli   tests/zkcli/zkcli-check.sh --roost (zkCli.sh against Roost, first free port from 22282)
#   clients tests/clients/run.sh --roost target/release/roost  (real clients from Debian packages
#           against Roost: go-zookeeper, the C client's cli_mt and Curator; first free port
#           from 22490; `--zookeeper` runs the same against Apache ZooKeeper 3.8)
#   powerloss tests/powerloss/powerloss.sh   (loop-mounted ext4 shut down under writes, 5 rounds;
#           prints SKIP and passes where loop devices or mounts are not allowed)
#   cli-tmux tests/cli-tmux.sh --roost target/release/roost  (`roost cli` driven interactively in tmux)
# Ends with the line "stages: N passed, N failed"; exit 0 only if all passed.
# Env: ROOST_TEST_BUDGET  whole-run budget in seconds (default 5000, under CI's 5400);
#      ROOST_SKIP_STAGES  space-separated stage names to skip (counted as skipped).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never
BUDGET="${ROOST_TEST_BUDGET:-5000}"
SKIP=" ${ROOST_SKIP_STAGES:-} "
T0=$SECONDS
LOGDIR="$ROOT/target/test-logs"
mkdir -p "$LOGDIR"

declare -a NAMES RESULTS TIMES
PASSED=0
FAILED=0
SKIPPED=0

remaining() { echo $((BUDGET - (SECONDS - T0))); }

# stage NAME MAX_SECONDS CMD...: run CMD with timeout min(MAX, remaining budget)
stage() {
  local name="$1" max="$2"
  shift 2
  local left limit rc start result
  left="$(remaining)"
  limit=$((max < left ? max : left))
  echo
  echo "==================== stage: $name (timeout ${limit}s) ===================="
  if [[ "$SKIP" == *" $name "* ]]; then
    result=skipped
    rc=0
  elif ((limit < 30)); then
    echo "[test.sh] out of time budget (${BUDGET}s); not running $name"
    result=failed
    rc=124
  else
    start=$SECONDS
    timeout -k 30 "$limit" "$@" </dev/null
    rc=$?
    ((rc == 124 || rc == 137)) && echo "[test.sh] stage $name TIMED OUT after ${limit}s"
    ((rc == 0)) && result=passed || result=failed
  fi
  NAMES+=("$name")
  RESULTS+=("$result")
  TIMES+=("$((SECONDS - ${start:-$SECONDS}))")
  case "$result" in
    passed) PASSED=$((PASSED + 1)) ;;
    failed) FAILED=$((FAILED + 1)) ;;
    skipped) SKIPPED=$((SKIPPED + 1)) ;;
  esac
  echo "[test.sh] stage $name: $result (exit $rc, $((SECONDS - ${start:-$SECONDS}))s)"
  return $rc
}

stage deps 1500 bash scripts/install-test-deps.sh
stage fmt 300 cargo fmt --all --check -- --color never
stage docs 120 bash -c 'python3 scripts/check-docs.py --self-test && python3 scripts/check-docs.py && python3 scripts/check-layers.py'
stage clippy 1800 cargo clippy --workspace --all-targets -- -D warnings
if stage build 1800 cargo build --release; then BUILD_OK=1; else BUILD_OK=0; fi
stage test 1800 cargo test --workspace
stage netns 1200 bash scripts/netns-tests.sh
if ((BUILD_OK)) && [[ -x target/release/roost ]]; then
  # pytest's own whole-run limit sits inside the stage's, so a slow run still
  # ends with its results compared rather than killed.
  left="$(remaining)"
  kz_total=$((left - 400 < 2400 ? left - 400 : 2400))
  ((kz_total < 60)) && kz_total=60
  stage kazoo $((kz_total + 240)) bash scripts/kazoo-suite.sh --total-timeout "$kz_total" \
    --results "$LOGDIR/kazoo-roost.tsv"
  # kazoo's suite again, against a 3-member Roost ensemble, compared with the
  # reference run against a 3-member ZooKeeper 3.8 ensemble.
  stage kazoo-ensemble 1200 bash scripts/kazoo-suite.sh --ensemble 3 --total-timeout 900 \
    --results "$LOGDIR/kazoo-roost-ensemble.tsv"
  stage zkcli 600 bash tests/zkcli/zkcli-check.sh --roost
  stage clients 600 bash tests/clients/run.sh --roost target/release/roost
  stage powerloss 600 bash tests/powerloss/powerloss.sh
  stage cli-tmux 300 bash tests/cli-tmux.sh --roost target/release/roost
else
  for s in kazoo kazoo-ensemble zkcli clients powerloss cli-tmux; do
    echo "[test.sh] stage $s: not run (no release build)"
    NAMES+=("$s"); RESULTS+=(failed); TIMES+=(0); FAILED=$((FAILED + 1))
  done
fi

echo
echo "==================== summary ($((SECONDS - T0))s) ===================="
for i in "${!NAMES[@]}"; do
  printf '  %-9s %-8s %5ss\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${TIMES[$i]}"
done
[[ -f "$LOGDIR/kazoo-roost.tsv" ]] && echo "  kazoo results: $LOGDIR/kazoo-roost.tsv"
if ((SKIPPED)); then
  echo "stages: $PASSED passed, $FAILED failed, $SKIPPED skipped"
else
  echo "stages: $PASSED passed, $FAILED failed"
fi
((FAILED == 0))
