#!/usr/bin/env bash
# The SDK builds with no default features and with each feature alone, and the packages that
# would be published contain what they need (`cargo package`, no verify build: the full
# `cargo publish --dry-run --workspace` is in scripts/release_check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
features=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json,sys; m=json.load(sys.stdin); p=[p for p in m["packages"] if p["name"]=="chatwire"][0]; print(" ".join(f for f in p["features"] if f != "default"))')
cargo check -p chatwire --no-default-features --quiet
echo "chatwire: no default features: ok"
for f in $features; do
  cargo check -p chatwire --no-default-features --features "$f" --quiet
  echo "chatwire: feature $f alone: ok"
done
python3 scripts/check_msrv.py
cargo package -p chatwire-protocol -p chatwire-server -p chatwire --no-verify --allow-dirty --quiet
echo "cargo package (protocol, server, SDK): ok"
