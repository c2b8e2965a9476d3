#!/usr/bin/env bash
# Real ZooKeeper clients against a standalone server: go-zookeeper (Go), the C
# client's cli_mt, and Apache Curator (Java), all from Debian packages. See
# tests/clients/README.md for what each one checks.
#
# Usage:
#   tests/clients/run.sh [--roost BIN]   start Roost (BIN, default $ROOST_BIN or target/release/roost)
#   tests/clients/run.sh --zookeeper     start Apache ZooKeeper 3.8 (Debian) instead: the reference
#   options: --port N          client port on 127.0.0.1 (default: first free from 22490)
#            --only LIST       comma-separated subset of go,c,curator
# Builds the Go and Java programs offline into tests/clients/.work (gitignored),
# starts the server (scripts/prepare-server.sh + scripts/server-ctl.sh, the way
# the kazoo and zkCli checks do), runs each client under a timeout, prints
# "PASS name" / "FAIL name" per client, stops the server by its PID and exits 0
# only if every client passed. Never builds Roost.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/clients"
KIND=roost
PORT=auto
ONLY="go,c,curator"
BIN="${ROOST_BIN:-$ROOT/target/release/roost}"
while (($#)); do
  case "$1" in
    --roost)
      KIND=roost
      if [[ $# -gt 1 && "$2" != --* ]]; then BIN="$2"; shift; fi ;;
    --zookeeper) KIND=zookeeper ;;
    --port) PORT="${2:?--port N}"; shift ;;
    --only) ONLY="${2:?--only LIST}"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "[clients] $*" >&2; }

WORK="$HERE/.work"
BUILD="$WORK/build"
mkdir -p "$BUILD"
CLI_MT="${CLI_MT:-/usr/lib/zookeeper/bin/cli_mt}"
GO_ZK_SRC=/usr/share/gocode/src/github.com/samuel/go-zookeeper/zk
CURATOR_JAR=/usr/share/java/curator-recipes.jar   # its manifest pulls in framework, client, zookeeper, guava
SLF4J_JAR=/usr/share/java/slf4j-simple.jar

declare -A RESULT
CLIENTS=()
for c in go c curator; do [[ ",$ONLY," == *",$c,"* ]] && CLIENTS+=("$c"); done
((${#CLIENTS[@]})) || { log "--only $ONLY names no client (go, c, curator)"; exit 2; }

# ---- build the client programs (offline, Debian packages only) -------------------------
build_go() {
  command -v go >/dev/null || { log "go not found (apt-get install golang-go; scripts/install-test-deps.sh)"; return 1; }
  [[ -d "$GO_ZK_SRC" ]] || { log "$GO_ZK_SRC missing (apt-get install golang-github-samuel-go-zookeeper-dev)"; return 1; }
  # GOPATH mode against Debian's source tree: no modules, no proxy, no network;
  # CGO off so no C toolchain is needed.
  (cd "$HERE/go" && CGO_ENABLED=0 GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOPROXY=off \
    GOCACHE="$WORK/gocache" timeout 300 go build -o "$BUILD/gozk-check" .)
}
build_curator() {
  command -v javac >/dev/null || { log "javac not found (apt-get install default-jdk-headless)"; return 1; }
  [[ -f "$CURATOR_JAR" ]] || { log "$CURATOR_JAR missing (apt-get install libcurator-recipes-java)"; return 1; }
  rm -rf "$BUILD/curator-classes"
  mkdir -p "$BUILD/curator-classes"
  timeout 300 javac -nowarn -cp "$CURATOR_JAR" -d "$BUILD/curator-classes" "$HERE/curator/CuratorCheck.java"
}
for c in "${CLIENTS[@]}"; do
  case "$c" in
    go) build_go || RESULT[go]="FAIL (build)" ;;
    curator) build_curator || RESULT[curator]="FAIL (build)" ;;
    c) [[ -x "$CLI_MT" ]] || { log "$CLI_MT missing (apt-get install zookeeper-bin)"; RESULT[c]="FAIL (cli_mt missing)"; } ;;
  esac
done

# ---- start the server -------------------------------------------------------------------
if [[ "$KIND" == roost ]]; then
  [[ "$BIN" == /* ]] || BIN="$PWD/$BIN"
  # (prepare-server.sh would run cargo build for a missing binary; this test never builds)
  [[ -x "$BIN" ]] || { log "Roost binary $BIN not found (build it first: cargo build --release)"; echo "FAIL all (no server binary)"; exit 1; }
  export ROOST_BIN="$BIN"
fi
if [[ "$PORT" == auto ]]; then PORT="$(bash "$ROOT/scripts/free-port.sh" 22490 100)" || exit 1; fi
RUN="$WORK/run-$KIND-$PORT"
mkdir -p "$WORK"
exec 9>"$RUN.lock"
flock -n 9 || { log "another run is using $RUN; use another --port"; exit 1; }
cleanup() { [[ -f "$RUN/port" ]] && bash "$ROOT/scripts/server-ctl.sh" stop "$RUN"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
bash "$ROOT/scripts/prepare-server.sh" "$KIND" "$RUN" "$PORT" || { echo "FAIL all (server set-up)"; exit 1; }
if ! ROOST_START_TIMEOUT="${ROOST_START_TIMEOUT:-60}" bash "$ROOT/scripts/server-ctl.sh" start "$RUN"; then
  echo "FAIL all (server did not start; log: $RUN/server.log)"
  exit 1
fi
ADDR="127.0.0.1:$PORT"
case "$KIND" in
  roost) log "server: Roost $("$BIN" --version 2>/dev/null | head -n 1) ($BIN, pid $(cat "$RUN/server.pid"), $ADDR)" ;;
  zookeeper) log "server: Apache ZooKeeper $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null) (pid $(cat "$RUN/server.pid"), $ADDR)" ;;
esac

# ---- run the clients ---------------------------------------------------------------------
# run_client NAME TIMEOUT CMD...: stdout shown and kept in $WORK/NAME.out, stderr in $WORK/NAME.err
run_client() {
  local name="$1" limit="$2" rc
  shift 2
  echo
  timeout -k 10 "$limit" "$@" 2>"$WORK/$name.err" | tee "$WORK/$name.out"
  rc=${PIPESTATUS[0]}
  if ((rc == 0)); then
    RESULT[$name]=PASS
  else
    ((rc == 124 || rc == 137)) && RESULT[$name]="FAIL (timed out after ${limit}s)" || RESULT[$name]="FAIL (exit $rc)"
    log "$name: last lines of its stderr ($WORK/$name.err):"
    tail -n 15 "$WORK/$name.err" | sed 's/^/    /' >&2
  fi
}
for c in "${CLIENTS[@]}"; do
  [[ -n "${RESULT[$c]:-}" ]] && continue   # did not build
  case "$c" in
    go) run_client go 180 "$BUILD/gozk-check" "$ADDR" ;;
    c) run_client c 240 env WORK="$WORK/c" CLI_MT="$CLI_MT" bash "$HERE/c/cli-mt-check.sh" "$ADDR" ;;
    curator)
      run_client curator 240 java -Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$BUILD/curator-classes:$CURATOR_JAR:$SLF4J_JAR" CuratorCheck "$ADDR" ;;
  esac
done
SERVER_OK=1
bash "$ROOT/scripts/server-ctl.sh" status "$RUN" || { SERVER_OK=0; log "the server is no longer running; log: $RUN/server.log"; }

# ---- summary ---------------------------------------------------------------------------------
echo
echo "clients against $KIND ($ADDR):"
FAILED=0
OKS=0
declare -A LABEL=([go]="go-zookeeper (golang-github-samuel-go-zookeeper-dev)" [c]="C client cli_mt (zookeeper-bin)" [curator]="Curator (libcurator-*-java)")
for c in "${CLIENTS[@]}"; do
  echo "  ${RESULT[$c]} ${LABEL[$c]}"
  [[ "${RESULT[$c]}" == PASS ]] && OKS=$((OKS + 1)) || FAILED=$((FAILED + 1))
done
if ((!SERVER_OK)); then echo "  FAIL server still running after the clients"; FAILED=$((FAILED + 1)); fi
echo "clients: $OKS passed, $FAILED failed"
((FAILED == 0))
