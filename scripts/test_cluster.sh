#!/usr/bin/env bash
# The cluster checks (issue 14 phase 2): builds chatwire-server with its cluster feature (the
# debug profile, reusing what `cargo test --workspace` and scripts/test_postgres.sh built) and
# the round-robin proxy, then runs tests/cluster.rs against nodes started by scripts/cluster.sh
# (three nodes behind the proxy; one SIGKILLed, NATS and PostgreSQL restarted), then the Web SDK
# interop run against a cluster (one browser user per node).
#
# PostgreSQL and nats-server are installed with apt-get when missing (as root). Under CI=true a
# cluster that cannot start fails the run; otherwise the checks print SKIP and pass. The interop
# part skips (like interop/websdk/run.sh) when the browser or npm packages cannot be installed.
#
#   CLUSTER_TEST_NODES=N   nodes for tests/cluster.rs (default 3)
#   CLUSTER_INTEROP=0      leave out the Web SDK interop run
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

feature=postgres
grep -q '^cluster *=' server/Cargo.toml && feature=cluster
cargo build --quiet -p chatwire-server --features "$feature"
cargo build --quiet -p chatwire-loadgen --bin chatwire-rr-proxy
# A copy, so that later builds of the workspace (without the feature) cannot replace it meanwhile.
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/cluster-bin
mkdir -p "$BIN"
cp "$TARGET/debug/chatwire-server" "$TARGET/debug/chatwire-rr-proxy" "$BIN/"
export CHATWIRE_SERVER_BIN=$BIN/chatwire-server RR_PROXY_BIN=$BIN/chatwire-rr-proxy

CHATWIRE_CLUSTER_TEST=1 cargo test --quiet --test cluster -- --nocapture

if [[ "${CLUSTER_INTEROP:-1}" != 0 ]]; then
    CLUSTER=3 timeout --kill-after=10 300 bash interop/websdk/run.sh
fi
