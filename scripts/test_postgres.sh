#!/usr/bin/env bash
# The PostgreSQL store's lints and tests (feature `postgres`). Each test starts its own throwaway
# cluster with scripts/postgres.sh (installing PostgreSQL with apt-get when missing); under
# CI=true a cluster that cannot start fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo clippy -p chatwire-server --features postgres --all-targets -- -D warnings
cargo test -p chatwire-server --features postgres --test postgres
