#!/usr/bin/env bash
# Longer crash-safety runs: the server is killed with SIGKILL at random moments while three SDK
# clients send, ROUNDS times, each with KILLS kills (see tests/crash.rs).
#   scripts/crash_loop.sh [ROUNDS] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
KILLS=${2:-25}
cargo test -q --test crash --no-run
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS:"
  CHATWIRE_CRASH_KILLS=$KILLS cargo test -q --test crash -- --nocapture survives_sigkill_under_load 2>&1 | grep -E "crash:|panicked|FAILED" || { echo "round $r failed"; exit 1; }
done
echo "crash loop: $ROUNDS rounds x $KILLS kills passed"
