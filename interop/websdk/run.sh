#!/usr/bin/env bash
# Interop: the official Voximplant Web SDK (npm voximplant-websdk, fetched at run time, never
# committed) runs the messaging flow against chatwire-server in headless Chromium, with a Rust
# chatwire SDK user on the other side. See docs/INTEROP.md.
#
# Installs what it needs (Debian chromium, playwright-core and the SDK from npm) into
# interop/websdk/.work; prints "SKIP interop/websdk: <reason>" and exits 0 when they cannot be
# installed. Bounded to TIME_LIMIT seconds; leaves no processes behind.
#
# CLUSTER=N (N >= 2): the same run against N chatwire-server nodes on one PostgreSQL and NATS
# (scripts/cluster.sh, TLS on every node): the web user on node 1, the Rust peer on node N, and
# one more browser user on each node in between, all in one conversation at the end. A cluster
# that cannot start is a SKIP, and a failure under CI=true.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$HERE/.work"
SDK_VERSION=4.3.71928
PLAYWRIGHT_VERSION=1.49.1
TIME_LIMIT=${TIME_LIMIT:-280}
CLUSTER=${CLUSTER:-0}
[[ "$CLUSTER" =~ ^[0-9]+$ && ( "$CLUSTER" == 0 || "$CLUSTER" -ge 2 ) ]] || { echo "interop/websdk: CLUSTER must be 0 or at least 2"; exit 64; }
START=$(date +%s)

skip() {
  echo "SKIP interop/websdk: $*"
  exit 0
}

mkdir -p "$WORK"

# --- tools (installation problems are a SKIP, not a failure) ---
command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are not installed"
command -v openssl >/dev/null || skip "openssl is not installed"
CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "interop/websdk: installing Debian chromium (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >"$WORK/apt.log" 2>&1 \
      || skip "cannot install chromium with apt-get (see interop/websdk/.work/apt.log)"
    CHROMIUM=$(command -v chromium || true)
  fi
  [ -n "$CHROMIUM" ] || skip "chromium is not installed"
fi
if [ ! -d "$WORK/node_modules/playwright-core" ]; then
  echo "interop/websdk: installing playwright-core@$PLAYWRIGHT_VERSION (npm)"
  (cd "$WORK" && [ -f package.json ] || echo '{"private": true}' >"$WORK/package.json"
   cd "$WORK" && timeout 120 npm install --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_VERSION") >"$WORK/npm.log" 2>&1 \
    || skip "cannot install playwright-core from npm (see interop/websdk/.work/npm.log)"
fi
if [ ! -f "$WORK/package/voximplant.min.js" ]; then
  echo "interop/websdk: fetching voximplant-websdk@$SDK_VERSION (npm pack; commercial licence, not committed)"
  (cd "$WORK" && timeout 120 npm pack --silent "voximplant-websdk@$SDK_VERSION" && tar xzf "voximplant-websdk-$SDK_VERSION.tgz") >>"$WORK/npm.log" 2>&1 \
    || skip "cannot fetch voximplant-websdk@$SDK_VERSION from npm (see interop/websdk/.work/npm.log)"
fi

# --- from here on, anything that goes wrong fails the run ---
TMP=$(mktemp -d)
SERVER_PID=
CLUSTER_DIR=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  [ -n "$CLUSTER_DIR" ] && bash "$ROOT/scripts/cluster.sh" stop "$CLUSTER_DIR" >/dev/null 2>&1
  pkill -f -- "--user-data-dir=$WORK/chrome-" 2>/dev/null
  pkill -f -- "chatwire-interop-peer wss://" 2>/dev/null
  pkill -P $$ 2>/dev/null
  rm -rf "$TMP" "$WORK"/chrome-*
}
trap cleanup EXIT
trap 'exit 124' INT TERM

echo "interop/websdk: building chatwire-server and the Rust peer"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
if [ "$CLUSTER" = 0 ]; then
  (cd "$ROOT" && cargo build -q -p chatwire-server -p chatwire-interop-peer) || { echo "interop/websdk: build failed"; exit 1; }
else
  (cd "$ROOT" && cargo build -q -p chatwire-interop-peer) || { echo "interop/websdk: build failed"; exit 1; }
  if [ -z "${CHATWIRE_SERVER_BIN:-}" ]; then
    feature=postgres
    grep -q '^cluster *=' "$ROOT/server/Cargo.toml" && feature=cluster
    (cd "$ROOT" && cargo build -q -p chatwire-server --features "$feature") || { echo "interop/websdk: build failed"; exit 1; }
    export CHATWIRE_SERVER_BIN="$BIN/chatwire-server"
  fi
fi

# A throwaway CA and a localhost certificate it signed (the browser ignores certificate errors;
# the Rust peer trusts the CA explicitly).
{
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=chatwire interop CA" \
    -keyout "$TMP/ca.key" -out "$TMP/ca.pem" &&
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$TMP/key.pem" -out "$TMP/leaf.csr" &&
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$TMP/leaf.ext" &&
  openssl x509 -req -in "$TMP/leaf.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
    -days 1 -extfile "$TMP/leaf.ext" -out "$TMP/cert.pem"
} >/dev/null 2>&1 || { echo "interop/websdk: openssl failed"; exit 1; }

PASSWORD="interop-password-1"
API_KEY="interop-$RANDOM$RANDOM"
if [ "$CLUSTER" != 0 ]; then
  out=$(CLUSTER_TLS_CERT="$TMP/cert.pem" CLUSTER_TLS_KEY="$TMP/key.pem" CLUSTER_API_KEY="$API_KEY" \
    CLUSTER_PROFILE=dev bash "$ROOT/scripts/cluster.sh" start "$CLUSTER" 2>"$TMP/cluster.log")
  CLUSTER_DIR=$(sed -n 's/^DIR=//p' <<<"$out")
  if [ -z "$CLUSTER_DIR" ]; then
    tail -20 "$TMP/cluster.log"
    [ "${CI:-}" = true ] && { echo "interop/websdk: the cluster could not start (CI=true, so this fails)"; exit 1; }
    skip "the cluster could not start (see above; with CI=true this fails)"
  fi
  node_ip() { sed -n "s|^NODE$1=wss://\(.*\)/platform|\1|p" <<<"$out"; }
  ADMIN=$(sed -n 's/^ADMIN1=//p' <<<"$out")
  SERVER_IP=$(node_ip 1)
  PEER_SERVER_IP=$(node_ip "$CLUSTER")
  EXTRA_WEB=
  users="alice bob carol"
  for i in $(seq 2 $((CLUSTER - 1))); do
    users="$users web$i"
    EXTRA_WEB="$EXTRA_WEB web$i@chatwire.local=$(node_ip "$i")"
  done
  echo "interop/websdk: a cluster of $CLUSTER nodes (TLS, self-signed): web user on $SERVER_IP, Rust peer on $PEER_SERVER_IP${EXTRA_WEB:+, more web users:$EXTRA_WEB}"
  for user in $users; do
    r=$(curl -sk "$ADMIN/platform_api/AddUser?api_key=$API_KEY&user_name=$user&user_display_name=$user&user_password=$PASSWORD")
    echo "$r" | grep -q '"result":1' || { echo "interop/websdk: AddUser $user failed: $r"; exit 1; }
  done
  export PEER_SERVER_IP EXTRA_WEB
  touch "$TMP/server.log"
else
  "$BIN/chatwire-server" --memory --listen 127.0.0.1:0 --api-key "$API_KEY" \
    --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" >"$TMP/server.out" 2>"$TMP/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$TMP/server.out" 2>/dev/null && break
    sleep 0.1
  done
  PORT=$(grep -o 'wss://127.0.0.1:[0-9]*' "$TMP/server.out" | head -1 | sed 's/.*://')
  [ -n "$PORT" ] || { echo "interop/websdk: chatwire-server did not start"; cat "$TMP/server.log"; exit 1; }
  echo "interop/websdk: chatwire-server on wss://127.0.0.1:$PORT (TLS, self-signed)"

  for user in alice bob carol; do
    r=$(curl -sk "https://127.0.0.1:$PORT/platform_api/AddUser?api_key=$API_KEY&user_name=$user&user_display_name=$user&user_password=$PASSWORD")
    echo "$r" | grep -q '"result":1' || { echo "interop/websdk: AddUser $user failed: $r"; exit 1; }
  done
  SERVER_IP="127.0.0.1:$PORT"
fi

cp "$HERE/driver.mjs" "$WORK/driver.mjs"
LEFT=$((TIME_LIMIT - ($(date +%s) - START)))
[ "$LEFT" -gt 30 ] || { echo "interop/websdk: no time left for the run"; exit 1; }
WORK="$WORK" PAGE="$HERE/page.html" SERVER_IP="$SERVER_IP" PEER_BIN="$BIN/chatwire-interop-peer" \
  CA="$TMP/ca.pem" CHROMIUM="$CHROMIUM" PASSWORD="$PASSWORD" \
  WEB_USER="alice@chatwire.local" PEER_USER="bob@chatwire.local" THIRD_USER="carol@chatwire.local" \
  timeout --kill-after=5 "$LEFT" node "$WORK/driver.mjs"
status=$?
if [ $status -ne 0 ]; then
  [ $status -eq 124 ] && echo "interop/websdk: timed out after ${TIME_LIMIT}s"
  echo "interop/websdk: FAILED (server log: last lines)"
  if [ -n "$CLUSTER_DIR" ]; then
    for log in "$CLUSTER_DIR"/node*/log; do echo "--- $log"; tail -10 "$log"; done
  else
    tail -20 "$TMP/server.log"
  fi
fi
exit $status
