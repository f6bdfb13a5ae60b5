#!/usr/bin/env bash
# The PostgreSQL store's lints and tests (feature `postgres`) and the several-node tests
# (feature `cluster`). Each test starts its own throwaway cluster with scripts/postgres.sh
# (installing PostgreSQL with apt-get when missing) and, for the cluster tests, a nats-server
# with scripts/nats.sh (same); under CI=true what cannot start fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo clippy -p chatwire-server --features postgres --all-targets -- -D warnings
cargo clippy -p chatwire-server --features cluster --all-targets -- -D warnings
cargo test -p chatwire-server --features cluster --test postgres --test cluster
