#!/usr/bin/env bash
# Prepare a run directory for scripts/server-ctl.sh: zoo.cfg, jaas.conf,
# launch.sh and port, for Roost or for Apache ZooKeeper 3.8 (Debian package),
# configured the way kazoo's test harness configures ZooKeeper:
# SASL auth provider, superDigest for super:test, a JAAS Server section with
# user_super="super_secret" and user_jaasuser="jaas_password",
# reconfigEnabled=true, 4lw.commands.whitelist=*, extendedTypesEnabled=true,
# read-only mode allowed, bound to 127.0.0.1 only.
#
# Usage: prepare-server.sh roost|zookeeper RUN_DIR PORT [MYID SERVER_LINES]
#   MYID SERVER_LINES: an ensemble member. SERVER_LINES holds the ensemble's
#     `server.N=127.0.0.1:quorumPort:electionPort:participant` lines (newline
#     separated, the same for every member); MYID goes to data/myid, and
#     zoo.cfg gets them plus initLimit=4, syncLimit=2, peerType=participant,
#     as kazoo's harness writes them for its 3-member cluster.
#   Env: ROOST_BIN (default target/release/roost; built with cargo if missing)
# The run directory is wiped first (after stopping a server of ours in it).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIND="${1:?roost|zookeeper}"
RUN="${2:?run dir}"
PORT="${3:?port}"
MYID="${4:-}"
SERVER_LINES="${5:-}"
[[ -z "$MYID" || -n "$SERVER_LINES" ]] || { echo "[prepare-server] MYID given without SERVER_LINES" >&2; exit 2; }
log() { echo "[prepare-server] $*" >&2; }
[[ "$PORT" != 2181 ]] || { log "port 2181 is reserved (a kazoo test expects nothing there)"; exit 2; }

if [[ -d "$RUN" ]]; then
  [[ -f "$RUN/port" ]] && bash "$ROOT/scripts/server-ctl.sh" stop "$RUN" 2>/dev/null
  rm -rf "$RUN"
fi
mkdir -p "$RUN/data" "$RUN/log"
RUN="$(cd "$RUN" && pwd)"
echo "$PORT" >"$RUN/port"

SUPER_DIGEST='super:D/InIHSb7yEEbrWz8b9l71RjZJU='   # super:test, as kazoo's harness
cat >"$RUN/jaas.conf" <<'EOF'
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};
EOF
# One zoo.cfg for both servers. Apache ZooKeeper turns unknown keys into
# zookeeper.* system properties, so DigestAuthenticationProvider.superDigest and
# roost.jaasConfig are harmless there (the superDigest is also passed with -D).
cat >"$RUN/zoo.cfg" <<EOF
tickTime=2000
dataDir=$RUN/data
clientPort=$PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
4lw.commands.whitelist=*
reconfigEnabled=true
extendedTypesEnabled=true
localSessionsEnabled=false
localSessionsUpgradingEnabled=false
DigestAuthenticationProvider.superDigest=$SUPER_DIGEST
roost.jaasConfig=$RUN/jaas.conf
EOF
if [[ -n "$MYID" ]]; then
  # A member of a replicated ensemble, as kazoo/testing/common.py writes one
  # (tickTime stays 2000: it only sets session bounds; Roost's raft timing is
  # its own, roost.raftTickMs and friends, which ZooKeeper ignores).
  echo "$MYID" >"$RUN/data/myid"
  {
    echo "initLimit=4"
    echo "syncLimit=2"
    printf '%s\n' "$SERVER_LINES"
    echo "peerType=participant"
  } >>"$RUN/zoo.cfg"
fi

case "$KIND" in
  zookeeper)
    command -v java >/dev/null && [[ -f /usr/share/java/zookeeper.jar ]] ||
      { log "Apache ZooKeeper not installed (run scripts/install-test-deps.sh)"; exit 1; }
    # As kazoo/testing/common.py launches it (QuorumPeerMain, read-only mode
    # allowed, JAAS, superDigest), with Debian's class path and log4j config.
    cat >"$RUN/launch.sh" <<EOF
exec java -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \\
  -Dfile.encoding=UTF-8 -Djava.awt.headless=true -Xmx512m \\
  -Dreadonlymode.enabled=true \\
  -Dzookeeper.log.dir=$RUN/log -Dzookeeper.root.logger=INFO,CONSOLE \\
  -Djava.security.auth.login.config=$RUN/jaas.conf \\
  -Dzookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST \\
  org.apache.zookeeper.server.quorum.QuorumPeerMain $RUN/zoo.cfg
EOF
    ;;
  roost)
    BIN="${ROOST_BIN:-$ROOT/target/release/roost}"
    if [[ ! -x "$BIN" ]]; then
      log "$BIN missing; cargo build --release"
      (cd "$ROOT" && timeout 1800 cargo build --release) || { log "build failed"; exit 1; }
    fi
    cat >"$RUN/launch.sh" <<EOF
export RUST_LOG=\${RUST_LOG:-info}
exec "$BIN" serve --config "$RUN/zoo.cfg"
EOF
    ;;
  *) log "unknown server kind $KIND"; exit 2 ;;
esac
