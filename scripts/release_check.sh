#!/usr/bin/env bash
# Before a release: the feature and rust-version checks of CI, the docs as docs.rs builds them
# (warnings are errors), and a full `cargo publish --dry-run` of protocol, server and SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/check_features.sh
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --all-features
cargo publish --dry-run --workspace --allow-dirty
