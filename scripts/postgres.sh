#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for people and for tests.
#
#   scripts/postgres.sh start            # prints DIR and URL lines; the cluster runs until `stop`
#   scripts/postgres.sh stop DIR         # stops it and removes DIR
#   scripts/postgres.sh pause DIR        # stops the server, keeps the data (a database outage)
#   scripts/postgres.sh resume DIR       # starts it again on the same port
#   scripts/postgres.sh run CMD [ARG...] # starts one, runs CMD with CHATWIRE_POSTGRES set, stops it
#
# Debian's PostgreSQL packages are installed with apt-get when missing (as root). The cluster is
# made by initdb, run as the postgres user when we are root, in a temporary directory, with trust
# authentication on 127.0.0.1 only and a free port. The URL names the database `chatwire`.
set -euo pipefail

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
        [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed (run as root to install it with apt-get, or: apt-get install postgresql)"
        echo "postgres.sh: installing PostgreSQL with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2 ||
            die "apt-get install postgresql failed"
        dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
        [[ -n "$dir" && -x "$dir/initdb" ]] || die "initdb not found after installing postgresql"
    fi
    echo "$dir"
}

# Runs a PostgreSQL program as the cluster's owner (postgres when we are root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_server DIR [RETRY]: starts the server on DIR's port. With RETRY=1, a port another
# process took since it was found free returns 2 (the caller picks another) instead of failing.
start_server() {
    local dir=$1 retry=${2:-0} bin port
    bin=$(cat "$dir/bindir")
    port=$(cat "$dir/port")
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=on" \
        start >/dev/null || {
        if [[ $retry == 1 ]] && grep -q "Address already in use" "$dir/log"; then
            mv "$dir/log" "$dir/log.port-taken"
            return 2
        fi
        tail -n 20 "$dir/log" >&2 || true
        die "pg_ctl start failed (log: $dir/log)"
    }
}

cmd_start() {
    local bin dir port
    bin=$(bindir)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/chatwire-pg.XXXXXX")
    chmod 0755 "$dir"
    [[ $(id -u) -ne 0 ]] || chown postgres: "$dir"
    echo "$bin" >"$dir/bindir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || {
        tail -n 20 "$dir/initdb.log" >&2
        die "initdb failed"
    }
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
        start_server "$dir" "$((tries < 4 ? 1 : 0))" || rc=$?
        [[ $rc == 2 ]] || break
        echo "postgres.sh: port $port was taken meanwhile: another one" >&2
    done
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres chatwire ||
        die "createdb failed"
    echo "DIR=$dir"
    echo "URL=postgres://postgres@127.0.0.1:$port/chatwire"
}

cmd_pause() {
    local dir=${1:?usage: postgres.sh pause DIR}
    as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

cmd_stop() {
    local dir=${1:?usage: postgres.sh stop DIR}
    [[ -f "$dir/bindir" ]] || die "$dir is not a cluster made by postgres.sh"
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    fi
    rm -rf "$dir"
}

cmd_run() {
    local out dir url
    out=$(cmd_start)
    dir=$(sed -n 's/^DIR=//p' <<<"$out")
    url=$(sed -n 's/^URL=//p' <<<"$out")
    trap 'cmd_stop "$dir"' EXIT
    echo "postgres.sh: PostgreSQL at $url" >&2
    CHATWIRE_POSTGRES=$url "$@"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop "${2:-}" ;;
pause) cmd_pause "${2:-}" ;;
resume) start_server "${2:?usage: postgres.sh resume DIR}" ;;
run)
    shift
    [[ $# -gt 0 ]] || die "usage: postgres.sh run CMD [ARG...]"
    cmd_run "$@"
    ;;
*) die "usage: postgres.sh start | stop DIR | pause DIR | resume DIR | run CMD [ARG...]" ;;
esac
