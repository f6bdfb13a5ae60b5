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
# The SDK on its own (not unified with the server's features) keeps JSON key order.
cargo tree -p chatwire --no-default-features -e normal,build,features -i serde_json |
  grep -q 'serde_json feature "preserve_order"' ||
  { echo "chatwire: serde_json without preserve_order (custom data key order would be lost)"; exit 1; }
echo "chatwire: serde_json preserve_order: ok"
python3 scripts/check_msrv.py
cargo package -p chatwire-protocol -p chatwire-server -p chatwire --no-verify --allow-dirty --quiet
echo "cargo package (protocol, server, SDK): ok"
