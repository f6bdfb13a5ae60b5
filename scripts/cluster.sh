#!/usr/bin/env bash
# A throwaway chatwire cluster on loopback, for people and for tests: one PostgreSQL
# (scripts/postgres.sh), one nats-server (scripts/nats.sh), N chatwire-server nodes on them and,
# optionally, the round-robin proxy (chatwire-rr-proxy) in front.
#
#   scripts/cluster.sh start N [--proxy]   # prints KEY=VALUE lines (below); runs until `stop`
#   scripts/cluster.sh kill-node DIR I     # SIGKILL node I (1-based)
#   scripts/cluster.sh restart-node DIR I  # start node I again on its ports (SIGTERM first if up)
#   scripts/cluster.sh restart-nats DIR [SECS]  # stop nats-server, wait SECS (0), start it again
#   scripts/cluster.sh restart-pg DIR [SECS]    # stop PostgreSQL, wait SECS (0), start it again
#   scripts/cluster.sh stop DIR            # stops everything and removes DIR
#
# `start` prints, one per line: DIR= PG_URL= NATS_URL= API_KEY= NODE1=ws://127.0.0.1:P/platform
# ADMIN1=http://127.0.0.1:Q ... (one pair per node) PROXY=ws://127.0.0.1:R/platform (with
# --proxy) and PIDS= (the node pids, comma separated, in order); the same lines are kept in
# DIR/env (`source` it). `restart-node` prints the new NODEi_PID= line.
#
# Nodes run at the server's DEFAULT limits; each serves WebSocket clients on NODEi and the admin
# API (and /metrics) on a separate ADMINi listener, like a node behind a load balancer. Logs are
# DIR/nodeI/log, DIR/proxy/log.
#
# Environment:
#   CHATWIRE_SERVER_BIN  a chatwire-server binary to use (default: built here with cargo)
#   CLUSTER_PROFILE      cargo profile for that build: release (default) or dev
#   CLUSTER_NODE_ARGS    extra arguments for every node (e.g. "--requests-per-second 0")
#   CLUSTER_API_KEY      the admin API key (default: a random one)
#   RR_PROXY_BIN         a chatwire-rr-proxy binary (default: built here with cargo)
#   CLUSTER_TLS_CERT, CLUSTER_TLS_KEY  PEM files: the nodes serve wss:// and https:// (the URLs
#                        printed say so; readiness is then checked with curl)
#
# The server is built with its `cluster` feature (PostgreSQL + NATS) when the crate has one,
# otherwise with `postgres`; a binary without `--nats` still starts (its nodes then do not fan
# out to each other, and a warning says so).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port DIR: a port nothing listens on and no node of DIR was given yet.
free_port() {
    local dir=$1 port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if port_free "$port" && ! grep -qx "$port" "$dir"/node*/port "$dir"/node*/admin_port 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

# pick_ports DIR I: new ports for node I.
pick_ports() {
    local port admin
    port=$(free_port "$1")
    echo "$port" >"$1/node$2/port"
    admin=$(free_port "$1")
    echo "$admin" >"$1/node$2/admin_port"
}

# http_status PORT PATH: the HTTP status code of GET PATH on 127.0.0.1:PORT (empty on failure).
http_status() {
    local line
    {
        exec 3<>"/dev/tcp/127.0.0.1/$1" &&
            printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 &&
            IFS= read -r -t 2 line <&3 &&
            exec 3<&- &&
            awk '{print $2}' <<<"$line"
    } 2>/dev/null || true
}

profile_dir() {
    case "${CLUSTER_PROFILE:-release}" in
    release) echo release ;;
    dev | debug) echo debug ;;
    *) die "CLUSTER_PROFILE must be release or dev" ;;
    esac
}

server_bin() {
    if [[ -n "${CHATWIRE_SERVER_BIN:-}" ]]; then
        [[ -x "$CHATWIRE_SERVER_BIN" ]] || die "CHATWIRE_SERVER_BIN=$CHATWIRE_SERVER_BIN is not executable"
        echo "$CHATWIRE_SERVER_BIN"
        return
    fi
    local feature=postgres
    grep -q '^cluster *=' "$ROOT/server/Cargo.toml" && feature=cluster
    local prof
    prof=$(profile_dir)
    echo "cluster.sh: building chatwire-server ($prof, feature $feature)" >&2
    (cd "$ROOT" && cargo build --quiet --profile "${CLUSTER_PROFILE:-release}" \
        -p chatwire-server --features "$feature" >&2) || die "cargo build of chatwire-server failed"
    echo "${CARGO_TARGET_DIR:-$ROOT/target}/$prof/chatwire-server"
}

proxy_bin() {
    if [[ -n "${RR_PROXY_BIN:-}" ]]; then
        [[ -x "$RR_PROXY_BIN" ]] || die "RR_PROXY_BIN=$RR_PROXY_BIN is not executable"
        echo "$RR_PROXY_BIN"
        return
    fi
    local prof
    prof=$(profile_dir)
    (cd "$ROOT" && cargo build --quiet --profile "${CLUSTER_PROFILE:-release}" \
        -p chatwire-loadgen --bin chatwire-rr-proxy >&2) || die "cargo build of chatwire-rr-proxy failed"
    echo "${CARGO_TARGET_DIR:-$ROOT/target}/$prof/chatwire-rr-proxy"
}

# spawn_node DIR I: starts node I in the background, records its pid (does not wait).
spawn_node() {
    local dir=$1 i=$2 nd bin port admin pg nats key opt_args=() extra=()
    nd=$dir/node$i
    bin=$(cat "$dir/bin")
    port=$(cat "$nd/port")
    admin=$(cat "$nd/admin_port")
    pg=$(cat "$dir/pg_url")
    nats=$(cat "$dir/nats_url")
    key=$(cat "$dir/api_key")
    if [[ $(cat "$dir/has_nats") == 1 ]]; then
        opt_args=(--nats "$nats")
    fi
    if [[ -s "$dir/tls_cert" ]]; then
        opt_args+=(--tls-cert "$(cat "$dir/tls_cert")" --tls-key "$(cat "$dir/tls_key")")
    fi
    # Word splitting of the extra arguments is intended.
    # shellcheck disable=SC2206
    extra=(${CLUSTER_NODE_ARGS:-$(cat "$dir/node_args")})
    (
        cd "$nd"
        exec "$bin" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
            --postgres "$pg" "${opt_args[@]}" --api-key "$key" "${extra[@]}" \
            >>"$nd/log" 2>&1 </dev/null
    ) &
    echo $! >"$nd/pid"
}

# wait_node DIR I [RETRY]: waits until node I answers /readyz with 200 (fails if it exits).
# With RETRY=1, a node that exits because another process took one of its ports (a port found
# free can be taken before the node binds it) returns 2 instead, its log kept for the next try.
wait_node() {
    local dir=$1 i=$2 retry=${3:-0} nd pid port
    nd=$dir/node$i
    pid=$(cat "$nd/pid")
    port=$(cat "$nd/port")
    for _ in $(seq 1 600); do
        if ! kill -0 "$pid" 2>/dev/null; then
            if [[ $retry == 1 ]] && grep -q "Address already in use" "$nd/log"; then
                mv "$nd/log" "$nd/log.port-taken"
                return 2
            fi
            tail -n 20 "$nd/log" >&2 || true
            die "node $i exited during start (log: $nd/log)"
        fi
        if [[ -s "$dir/tls_cert" ]]; then
            [[ $(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/readyz" 2>/dev/null) == 200 ]] &&
                return 0
        else
            [[ $(http_status "$port" /readyz) == 200 ]] && return 0
        fi
        sleep 0.05
    done
    tail -n 20 "$nd/log" >&2 || true
    die "node $i not ready within 30 s (log: $nd/log)"
}

# start_nodes DIR I...: starts nodes I... together and waits for each; a node whose port another
# process took before it bound it gets new ports (up to 3 times).
start_nodes() {
    local dir=$1 i rc tries
    shift
    for i in "$@"; do
        spawn_node "$dir" "$i"
    done
    for i in "$@"; do
        for tries in 1 2 3 4; do
            rc=0
            wait_node "$dir" "$i" "$((tries < 4 ? 1 : 0))" || rc=$?
            [[ $rc == 2 ]] || break
            echo "cluster.sh: a port of node $i was taken before it bound it: new ports" >&2
            pick_ports "$dir" "$i"
            spawn_node "$dir" "$i"
        done
    done
}

stop_pid() { # PID [signal]: signal it and wait up to 10 s for it to exit, then SIGKILL
    local pid=$1 sig=${2:-TERM}
    kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
}

node_count() {
    cat "$1/nodes"
}

check_dir() {
    [[ -n "$1" && -f "$1/nodes" ]] || die "$1 is not a cluster made by cluster.sh"
}

check_node() { # DIR I
    check_dir "$1"
    [[ "$2" =~ ^[0-9]+$ && "$2" -ge 1 && "$2" -le $(node_count "$1") ]] ||
        die "node index must be 1..$(node_count "$1")"
}

cmd_start() {
    local n=${1:-} proxy=0 dir out i bin key
    [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 ]] || die "usage: cluster.sh start N [--proxy]"
    shift
    for a in "$@"; do
        case "$a" in
        --proxy) proxy=1 ;;
        *) die "unknown option $a" ;;
        esac
    done
    bin=$(server_bin)
    local pbin=
    [[ $proxy == 0 ]] || pbin=$(proxy_bin)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/chatwire-cluster.XXXXXX")
    echo "$n" >"$dir/nodes"
    echo "$bin" >"$dir/bin"
    echo "${CLUSTER_NODE_ARGS:-}" >"$dir/node_args"
    if [[ -n "${CLUSTER_TLS_CERT:-}" ]]; then
        [[ -r "$CLUSTER_TLS_CERT" && -r "${CLUSTER_TLS_KEY:-}" ]] ||
            die "CLUSTER_TLS_CERT and CLUSTER_TLS_KEY must name readable PEM files"
        command -v curl >/dev/null || die "curl is needed with CLUSTER_TLS_CERT"
        realpath "$CLUSTER_TLS_CERT" >"$dir/tls_cert"
        realpath "$CLUSTER_TLS_KEY" >"$dir/tls_key"
    fi
    key=${CLUSTER_API_KEY:-cluster-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')}
    echo "$key" >"$dir/api_key"
    local help
    help=$("$bin" serve --help 2>/dev/null || true)
    if grep -q -- '--nats' <<<"$help"; then
        echo 1 >"$dir/has_nats"
    else
        echo 0 >"$dir/has_nats"
        echo "cluster.sh: WARNING: $bin has no --nats option (built without the cluster feature): the nodes share PostgreSQL but do not fan out to each other" >&2
    fi
    # From here on, a failure (any exit before the end) removes what was started.
    START_DIR=$dir
    trap '[[ -z "$START_DIR" ]] || cmd_stop "$START_DIR" >/dev/null 2>&1 || true' EXIT
    out=$(bash "$HERE/postgres.sh" start) || die "PostgreSQL did not start"
    sed -n 's/^DIR=//p' <<<"$out" >"$dir/pg_dir"
    sed -n 's/^URL=//p' <<<"$out" >"$dir/pg_url"
    out=$(bash "$HERE/nats.sh" start) || die "nats-server did not start"
    sed -n 's/^DIR=//p' <<<"$out" >"$dir/nats_dir"
    sed -n 's/^URL=//p' <<<"$out" >"$dir/nats_url"
    for i in $(seq 1 "$n"); do
        mkdir -p "$dir/node$i"
        pick_ports "$dir" "$i"
    done
    # The first node migrates the fresh database alone; the others start together after it.
    start_nodes "$dir" 1
    [[ $n -lt 2 ]] || start_nodes "$dir" $(seq 2 "$n")
    if [[ $proxy == 1 ]]; then
        mkdir -p "$dir/proxy"
        local to=() line=
        for i in $(seq 1 "$n"); do
            to+=(--to "127.0.0.1:$(cat "$dir/node$i/port")")
        done
        "$pbin" --listen 127.0.0.1:0 "${to[@]}" >"$dir/proxy/out" 2>"$dir/proxy/log" </dev/null &
        echo $! >"$dir/proxy/pid"
        for _ in $(seq 1 200); do
            line=$(sed -n 's/^LISTEN=//p' "$dir/proxy/out")
            [[ -z "$line" ]] || break
            sleep 0.05
        done
        [[ -n "$line" ]] || die "the proxy did not start (log: $dir/proxy/log)"
        echo "$line" >"$dir/proxy/addr"
    fi
    START_DIR=
    write_env "$dir"
    cat "$dir/env"
}

write_env() {
    local dir=$1 i pids=() ws=ws http=http
    if [[ -s "$dir/tls_cert" ]]; then
        ws=wss
        http=https
    fi
    {
        echo "DIR=$dir"
        echo "PG_URL=$(cat "$dir/pg_url")"
        echo "NATS_URL=$(cat "$dir/nats_url")"
        echo "API_KEY=$(cat "$dir/api_key")"
        for i in $(seq 1 "$(node_count "$dir")"); do
            echo "NODE$i=$ws://127.0.0.1:$(cat "$dir/node$i/port")/platform"
            echo "ADMIN$i=$http://127.0.0.1:$(cat "$dir/node$i/admin_port")"
            pids+=("$(cat "$dir/node$i/pid")")
        done
        [[ ! -f "$dir/proxy/addr" ]] || echo "PROXY=$ws://$(cat "$dir/proxy/addr")/platform"
        echo "PIDS=$(IFS=,; echo "${pids[*]}")"
    } >"$dir/env"
}

cmd_kill_node() {
    local dir=$1 i=$2 pid
    check_node "$dir" "$i"
    pid=$(cat "$dir/node$i/pid")
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    die "node $i (pid $pid) did not die"
}

cmd_restart_node() {
    local dir=$1 i=$2
    check_node "$dir" "$i"
    stop_pid "$(cat "$dir/node$i/pid")"
    echo "--- restart $(date -u +%FT%TZ)" >>"$dir/node$i/log"
    spawn_node "$dir" "$i"
    wait_node "$dir" "$i"
    write_env "$dir"
    echo "NODE${i}_PID=$(cat "$dir/node$i/pid")"
}

cmd_restart_nats() {
    local dir=$1 secs=${2:-0}
    check_dir "$dir"
    bash "$HERE/nats.sh" pause "$(cat "$dir/nats_dir")"
    sleep "$secs"
    bash "$HERE/nats.sh" resume "$(cat "$dir/nats_dir")" >/dev/null
}

cmd_restart_pg() {
    local dir=$1 secs=${2:-0}
    check_dir "$dir"
    bash "$HERE/postgres.sh" pause "$(cat "$dir/pg_dir")"
    sleep "$secs"
    bash "$HERE/postgres.sh" resume "$(cat "$dir/pg_dir")"
}

cmd_stop() {
    local dir=$1 i
    [[ -n "$dir" && -d "$dir" && -f "$dir/nodes" ]] || die "$dir is not a cluster made by cluster.sh"
    [[ ! -f "$dir/proxy/pid" ]] || stop_pid "$(cat "$dir/proxy/pid")"
    for i in $(seq 1 "$(node_count "$dir")"); do
        [[ ! -f "$dir/node$i/pid" ]] || stop_pid "$(cat "$dir/node$i/pid")" &
    done
    wait
    [[ ! -s "$dir/nats_dir" ]] || bash "$HERE/nats.sh" stop "$(cat "$dir/nats_dir")" || true
    [[ ! -s "$dir/pg_dir" ]] || bash "$HERE/postgres.sh" stop "$(cat "$dir/pg_dir")" || true
    rm -rf "$dir"
}

START_DIR=
usage="usage: cluster.sh start N [--proxy] | kill-node DIR I | restart-node DIR I | restart-nats DIR [SECS] | restart-pg DIR [SECS] | stop DIR"
cmd=${1:-}
[[ $# -eq 0 ]] || shift
case "$cmd" in
start) cmd_start "$@" ;;
kill-node) cmd_kill_node "${1:-}" "${2:-}" ;;
restart-node) cmd_restart_node "${1:-}" "${2:-}" ;;
restart-nats) cmd_restart_nats "${1:-}" "${2:-0}" ;;
restart-pg) cmd_restart_pg "${1:-}" "${2:-0}" ;;
stop) cmd_stop "${1:-}" ;;
*) die "$usage" ;;
esac
