#!/usr/bin/env bash
# The tests that put ensemble members in network namespaces
# (tests/partition.rs, tests/linearizability.rs): they need root and
# iproute2, so `cargo test` reports them as ignored and this script runs
# them (stage `netns` of scripts/test.sh). Without root or `ip` it prints
# SKIP with the reason and exits 0, as tests/powerloss/powerloss.sh does.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
skip() { echo "SKIP: $*"; echo "netns: 0 passed, 0 failed (skipped)"; exit 0; }
[[ $(id -u) -eq 0 ]] || skip "needs root (ip netns, veth pairs, bridges)"
command -v ip >/dev/null || skip "iproute2 (ip) not installed"
ip netns list >/dev/null 2>&1 || skip "ip netns is not usable here"
exec cargo test --test partition --test linearizability -- --ignored
