#!/usr/bin/env bash
# A throwaway nats-server on loopback, for people and for tests (the cluster's bus).
#
#   scripts/nats.sh start              # prints DIR, URL and PID lines; runs until `stop`
#   scripts/nats.sh stop DIR           # stops it and removes DIR
#   scripts/nats.sh pause DIR          # stops the server, keeps DIR (a bus outage)
#   scripts/nats.sh resume DIR         # starts it again on the same port; prints PID
#   scripts/nats.sh run CMD [ARG...]   # starts one, runs CMD with CHATWIRE_NATS set, stops it
#
# Debian's nats-server package is installed with apt-get when missing (as root). The server
# listens on 127.0.0.1 only, on a free port, with its log and pid in a temporary directory.
set -euo pipefail

die() {
    echo "nats.sh: $*" >&2
    exit 1
}

ensure_installed() {
    command -v nats-server >/dev/null && return
    [[ $(id -u) -eq 0 ]] || die "nats-server is not installed (run as root to install it with apt-get, or: apt-get install nats-server)"
    echo "nats.sh: installing nats-server with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq nats-server >&2 ||
        { apt-get update -qq >&2 && apt-get install -y -qq nats-server >&2; } ||
        die "apt-get install nats-server failed"
    command -v nats-server >/dev/null || die "nats-server not found after installing it"
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_server DIR [RETRY]: starts nats-server on DIR's port, prints its pid. With RETRY=1, a
# port another process took since it was found free returns 2 instead of failing.
start_server() {
    local dir=$1 retry=${2:-0} port pid
    port=$(cat "$dir/port")
    nats-server -a 127.0.0.1 -p "$port" >>"$dir/log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/pid"
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            if [[ $retry == 1 ]] && grep -q "address already in use" "$dir/log"; then
                mv "$dir/log" "$dir/log.port-taken"
                return 2
            fi
            tail -n 20 "$dir/log" >&2 || true
            die "nats-server exited (log: $dir/log)"
        fi
        port_free "$port" || { echo "$pid"; return; }
        sleep 0.05
    done
    die "nats-server did not listen on $port (log: $dir/log)"
}

cmd_start() {
    local dir port pid
    ensure_installed
    dir=$(mktemp -d "${TMPDIR:-/tmp}/chatwire-nats.XXXXXX")
    # A port found free can be taken by another process before the server binds it: try again
    # with another one (up to 3 times).
    local tries rc
    for tries in 1 2 3 4; do
        for _ in $(seq 1 50); do
            port=$((20000 + RANDOM % 40000))
            port_free "$port" && break
        done
        echo "$port" >"$dir/port"
        rc=0
        pid=$(start_server "$dir" "$((tries < 4 ? 1 : 0))") || rc=$?
        [[ $rc == 2 ]] || break
        echo "nats.sh: port $port was taken meanwhile: another one" >&2
    done
    [[ $rc == 0 ]] || exit 1
    echo "DIR=$dir"
    echo "URL=nats://127.0.0.1:$port"
    echo "PID=$pid"
}

cmd_pause() {
    local dir=${1:?usage: nats.sh pause DIR} pid
    [[ -f "$dir/port" ]] || die "$dir is not a server made by nats.sh"
    pid=$(cat "$dir/pid" 2>/dev/null || true)
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
}

cmd_stop() {
    local dir=${1:?usage: nats.sh stop DIR}
    cmd_pause "$dir"
    rm -rf "$dir"
}

cmd_run() {
    local out url
    out=$(cmd_start)
    RUN_DIR=$(sed -n 's/^DIR=//p' <<<"$out")
    url=$(sed -n 's/^URL=//p' <<<"$out")
    trap 'cmd_stop "$RUN_DIR"' EXIT
    echo "nats.sh: nats-server at $url" >&2
    CHATWIRE_NATS=$url "$@"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop "${2:-}" ;;
pause) cmd_pause "${2:-}" ;;
resume)
    dir=${2:?usage: nats.sh resume DIR}
    [[ -f "$dir/port" ]] || die "$dir is not a server made by nats.sh"
    echo "PID=$(start_server "$dir")"
    ;;
run)
    shift
    [[ $# -gt 0 ]] || die "usage: nats.sh run CMD [ARG...]"
    cmd_run "$@"
    ;;
*) die "usage: nats.sh start | stop DIR | pause DIR | resume DIR | run CMD [ARG...]" ;;
esac
