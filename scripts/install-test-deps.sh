#!/usr/bin/env bash
# Idempotent installer of everything Roost's tests need on a fresh Debian
# machine (run as root). A second run only checks and skips:
#   - Debian packages: zookeeper + zookeeper-bin (zkCli.sh and the reference
#     server), tmux (drives zkCli.sh interactively), default-jre-headless
#     (pulled in by zookeeper anyway), python3-venv, iproute2 (`ip netns`
#     for the partition tests).
#   - The real clients of tests/clients/run.sh: golang-go and
#     golang-github-samuel-go-zookeeper-dev (go-zookeeper, built offline in
#     GOPATH mode), libcurator-framework-java + libcurator-recipes-java (Curator,
#     with its jar dependencies) and default-jdk-headless (javac); the C client's
#     cli_mt comes with zookeeper-bin.
#   - A Python venv at .venv with tests/kazoo/requirements.txt
#     (kazoo 2.11.0, pytest, pytest-timeout, gevent, eventlet, pure-sasl, ...).
#   - kazoo 2.11.0's sdist (its test suite ships in it), unpacked at
#     tests/kazoo/.work/kazoo-2.11.0 (gitignored).
# Usage: bash scripts/install-test-deps.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
KAZOO_VERSION=2.11.0
WORK="$ROOT/tests/kazoo/.work"
VENV="$ROOT/.venv"
REQ="$ROOT/tests/kazoo/requirements.txt"
log() { echo "[install-test-deps] $*" >&2; }

# ---- 1. Debian packages ------------------------------------------------------
APT_PKGS=(zookeeper zookeeper-bin tmux python3-venv iproute2
  golang-go golang-github-samuel-go-zookeeper-dev
  libcurator-framework-java libcurator-recipes-java default-jdk-headless)
missing=()
for p in "${APT_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -q
  timeout 1200 apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "apt: ${APT_PKGS[*]} already installed"
fi
test -x /usr/share/zookeeper/bin/zkCli.sh || { log "zkCli.sh missing after install"; exit 1; }
command -v java >/dev/null || { log "java missing after install"; exit 1; }
for f in /usr/lib/zookeeper/bin/cli_mt /usr/share/java/curator-recipes.jar \
  /usr/share/gocode/src/github.com/samuel/go-zookeeper/zk/conn.go; do
  test -e "$f" || { log "$f missing after install"; exit 1; }
done
command -v go >/dev/null || { log "go missing after install"; exit 1; }
command -v javac >/dev/null || { log "javac missing after install"; exit 1; }

# ---- 2. Python venv ------------------------------------------------------------
PY="${PYTHON:-python3}"
stamp="$VENV/.roost-requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  log "venv: $VENV up to date"
else
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "venv: creating $VENV with $($PY --version 2>&1)"
    "$PY" -m venv "$VENV"
  fi
  log "venv: installing $REQ"
  timeout 1200 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  echo "$want" >"$stamp"
fi

# ---- 3. kazoo's test suite (from the sdist) --------------------------------------
SDIST_DIR="$WORK/kazoo-$KAZOO_VERSION"
if [[ -f "$SDIST_DIR/kazoo/tests/test_client.py" && -f "$SDIST_DIR/kazoo/testing/harness.py" ]]; then
  log "kazoo sdist: $SDIST_DIR present"
else
  mkdir -p "$WORK"
  tarball="$WORK/kazoo-$KAZOO_VERSION.tar.gz"
  if [[ ! -f "$tarball" ]]; then
    log "kazoo sdist: downloading kazoo==$KAZOO_VERSION"
    timeout 600 "$VENV/bin/pip" download -q --disable-pip-version-check \
      --no-binary :all: --no-deps "kazoo==$KAZOO_VERSION" -d "$WORK"
  fi
  rm -rf "$SDIST_DIR"
  tar -xzf "$tarball" -C "$WORK"
  log "kazoo sdist: unpacked into $SDIST_DIR"
fi
log "done"
