#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time and reports executions and crashes.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# Default 60 s per target, all targets. Works on the stable toolchain: cargo-fuzz needs nightly
# `-Z` flags, which RUSTC_BOOTSTRAP=1 unlocks. Installs cargo-fuzz (crates.io) if missing.
# Environment: FUZZ_SANITIZER (default `address`; `none` is faster and needs no ASan runtime),
# FUZZ_EXTRA_ARGS (extra libFuzzer flags). Crashing inputs land in fuzz/artifacts/<target>/;
# copy them to fuzz/regressions/<target>/ once fixed (replayed by `cargo test`).
# Exit status: 0 when no target crashed, 1 otherwise (2 for a build/usage failure).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [seconds-per-target] [target...]" >&2
    exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(frame_decode request_roundtrip server_session)
fi
sanitizer="${FUZZ_SANITIZER:-address}"

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

# Per-target input size limit (the server target splits an input into frames).
max_len() {
    case "$1" in
        server_session) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

echo "== building (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer" || exit 2

logdir="$root/fuzz/logs"
mkdir -p "$logdir"
total=0
failed=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds+=("seeds/$t")
    [ -d "regressions/$t" ] && seeds+=("regressions/$t")
    log="$logdir/$t.log"
    echo "== $t: ${seconds}s"
    set +e
    cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -print_final_stats=1 \
        -timeout=90 -rss_limit_mb=4096 ${FUZZ_EXTRA_ARGS:-} >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    if [ -z "$execs" ]; then
        # A crash stops libFuzzer before the final stats; take the last status line instead.
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    fi
    execs=${execs:-0}
    crashes=$(grep -cE 'Test unit written to .*/(crash|oom|timeout|leak)-' "$log" || true)
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    total=$((total + execs))
    summary+=("$(printf '%-20s executions %-12s crashes %s' "$t" "$execs" "$crashes")")
    if [ "$crashes" -ne 0 ]; then
        failed=1
        echo "   CRASH (exit $rc), see $log and fuzz/artifacts/$t/:"
        grep -E 'panicked at|ERROR:|Test unit written' "$log" | head -5 | sed 's/^/   /'
    fi
done

echo "== summary (${seconds}s per target, sanitizer $sanitizer)"
printf '%s\n' "${summary[@]}"
echo "total executions: $total"
exit "$failed"
