#!/usr/bin/env bash
# Load benchmarks: chatwire-server vs the bare tokio-tungstenite floor (floor-server) and
# nats-server over WebSocket, same scenarios, same machine, one run. See bench/README.md.
#
#   bench/run.sh            every scenario, BENCH_SECONDS (default 10) of load each
#   bench/run.sh --smoke    big-room, 10 receivers, ~3 s, chatwire only; exit 1 on any lost delivery
#   bench/run.sh --scale    only the scale-out runs (SQLite vs PostgreSQL vs two nodes + NATS)
#
# Servers and the load generator run as separate processes on loopback (ports below 32768).
set -euo pipefail

MODE=full
case "${1:-}" in
--smoke) MODE=smoke ;;
--scale) MODE=scale ;;
"") ;;
*)
    echo "usage: $0 [--smoke | --scale]" >&2
    exit 64
    ;;
esac

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${BENCH_SECONDS:-10}
PORT_BASE=${BENCH_PORT_BASE:-9300}
CW_PORT=$PORT_BASE              # chatwire, in memory
CWD_PORT=$((PORT_BASE + 1))     # chatwire, SQLite data dir
COLD_PORT=$((PORT_BASE + 2))    # chatwire, cold start (spawned by the load generator)
RESUME_PORT=$((PORT_BASE + 3))  # chatwire, default limits (SDK resume)
FLOOR_PORT=$((PORT_BASE + 10))  # floor-server
NATS_PORT=$((PORT_BASE + 20))   # nats-server client port
NATS_WS_PORT=$((PORT_BASE + 21)) # nats-server WebSocket
API_KEY=bench-key
BIG_RATE=${BIG_RATE:-1000}            # msgs/s, big room of 100
BIG1K_RATE=${BIG1K_RATE:-200}         # msgs/s, big room of 1000
BIG_SWEEP=${BIG_SWEEP:-"5000 10000 15000 20000"} # msgs/s, big room of 100 (0.5M..2M deliveries/s)
SMALL_ROOMS=${SMALL_ROOMS:-1000}
SMALL_MEMBERS=${SMALL_MEMBERS:-10}
SMALL_USERS=${SMALL_USERS:-200}       # users (= connections); each is in rooms*members/users rooms
SMALL_RATE=${SMALL_RATE:-2000}
DURABLE_RATE=${DURABLE_RATE:-20000}
CATCHUP_EVENTS=${CATCHUP_EVENTS:-100000}
CATCHUP_CLIENTS=${CATCHUP_CLIENTS:-4}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
IDLE_USERS=${IDLE_USERS:-100}
COLD_EVENTS=${COLD_EVENTS:-200000}
SDK_EVENTS=${SDK_EVENTS:-50000}
RESUME_CONVERSATIONS=${RESUME_CONVERSATIONS:-1000}
RESUME_SENDS=${RESUME_SENDS:-5000}
OUTBOUND_QUEUE=${OUTBOUND_QUEUE:-65536} # frames per connection: overload shows as latency, not loss
WITH_NATS=${WITH_NATS:-auto}            # auto: use nats-server if installed (or installable)
WITH_CLUSTER=${WITH_CLUSTER:-auto}      # auto: the scale-out runs when PostgreSQL and NATS start
SCALE_RATE=${SCALE_RATE:-2000}          # msgs/s, durable, 4 senders (latency at a moderate load)
SCALE_MAX_RATE=${SCALE_MAX_RATE:-20000} # msgs/s, durable, 4 senders (offered beyond capacity)
SCALE_FANOUT_RATE=${SCALE_FANOUT_RATE:-500} # msgs/s, 1 sender, 20 receivers (cross-node delivery)

# Raise the fd limit (idle connections: one fd per connection on each side).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ulimit -n 65536 2>/dev/null || true

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chatwire-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    [ -z "${NATSC_DIR:-}" ] || bash scripts/nats.sh stop "$NATSC_DIR" >/dev/null 2>&1 || true
    [ -z "${PG_DIR:-}" ] || bash scripts/postgres.sh stop "$PG_DIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $*" >&2; }

echo "building release binaries..." >&2
if [ "$MODE" = smoke ] || [ "$WITH_CLUSTER" = 0 ]; then
    cargo build --release --quiet -p chatwire-server -p chatwire-loadgen
else
    # The scale-out runs need the server's PostgreSQL and NATS support (the `cluster` feature;
    # `postgres` alone where the crate has no `cluster` feature). Without flags the binary
    # behaves as the default build, so every other scenario uses it too.
    CLUSTER_FEATURE=postgres
    grep -q '^cluster *=' server/Cargo.toml && CLUSTER_FEATURE=cluster
    cargo build --release --quiet -p chatwire-server --features "$CLUSTER_FEATURE"
    cargo build --release --quiet -p chatwire-loadgen
fi
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
LOAD=$BIN/chatwire-load

wait_port() { # port
    local i
    for i in $(seq 1 500); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.02
    done
    echo "nothing listening on port $1" >&2
    return 1
}

# start_chatwire PORT [extra args...]: starts chatwire-server, sets SERVER_PID.
start_chatwire() {
    local port=$1
    shift
    "$BIN/chatwire-server" --listen "127.0.0.1:$port" --api-key "$API_KEY" \
        --requests-per-second 0 --requests-per-minute 0 \
        --max-connections-per-user 0 --max-connections-per-peer 0 \
        --idle-timeout-secs 3600 --outbound-queue "$OUTBOUND_QUEUE" "$@" \
        >"$WORK/chatwire-$port.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port "$port" || {
        tail -n 20 "$WORK/chatwire-$port.log" >&2
        return 1
    }
}

start_floor() {
    "$BIN/floor-server" --listen "127.0.0.1:$FLOOR_PORT" >"$WORK/floor.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port "$FLOOR_PORT"
}

start_nats() {
    cat >"$WORK/nats.conf" <<EOF
listen: 127.0.0.1:$NATS_PORT
max_payload: 1048576
websocket {
  listen: "127.0.0.1:$NATS_WS_PORT"
  no_tls: true
}
EOF
    nats-server -c "$WORK/nats.conf" >"$WORK/nats.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port "$NATS_WS_PORT"
}

stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

cpu_ticks() { # utime + stime of a pid, in clock ticks
    [ "$1" != 0 ] || {
        echo 0
        return
    }
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# tree_ticks PID...: utime + stime of each PID and its children (PostgreSQL's backends are the
# postmaster's children), in clock ticks.
OTHER_PIDS=()
tree_ticks() {
    local p kids total=0
    for p in "$@"; do
        kids=$(ps -o pid= --ppid "$p" 2>/dev/null | tr '\n' ' ' || true)
        # Word splitting of the child list is intended.
        # shellcheck disable=SC2086
        total=$((total + $(cpu_ticks "$p") + $(tree_ticks $kids)))
    done
    echo "$total"
}

# rss_sampler PID FILE: writes the max VmRSS (KiB) seen, sampling every 200 ms.
rss_sampler() {
    local max=0 v
    while kill -0 "$1" 2>/dev/null; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
        if [ "${v:-0}" -gt "$max" ]; then
            max=$v
            echo "$max" >"$2"
        fi
        sleep 0.2
    done
}

RESULTS=$WORK/results.jsonl
FAILED=0
CLK_TCK=$(getconf CLK_TCK)

# run LABEL SERVER_PID chatwire-load args...: runs one scenario, records CPU and RSS of the server.
run() {
    local label=$1 pid=$2
    shift 2
    log "$label: chatwire-load $*"
    local c0 w0 c1 w1 rc=0 spid
    echo null >"$WORK/rss"
    spid=
    if [ "$pid" != 0 ]; then
        echo 0 >"$WORK/rss"
        rss_sampler "$pid" "$WORK/rss" &
        spid=$!
    fi
    local o0 o1
    o0=$(tree_ticks "${OTHER_PIDS[@]}")
    c0=$(cpu_ticks "$pid")
    w0=$(date +%s.%N)
    local cpu_arg=()
    [ "$pid" = 0 ] || cpu_arg=(--cpu-pid "$pid")
    "$LOAD" "${cpu_arg[@]}" "$@" >"$WORK/out" || rc=$?
    c1=$(cpu_ticks "$pid")
    o1=$(tree_ticks "${OTHER_PIDS[@]}")
    w1=$(date +%s.%N)
    if [ -n "$spid" ]; then
        kill "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
    fi
    sed 1d "$WORK/out" >&2
    local json cpu
    json=$(grep '^{' "$WORK/out" | tail -n 1 || true)
    if [ "$rc" -ne 0 ] || [ -z "$json" ]; then
        echo "   $label failed (exit $rc)" >&2
        FAILED=1
    fi
    [ -n "$json" ] || return 0
    # Server CPU over the whole run (set-up included), in % of one core.
    cpu=null
    if [ "$pid" != 0 ]; then
        cpu=$(awk -v a="$c0" -v b="$c1" -v s="$w0" -v e="$w1" -v t="$CLK_TCK" \
            'BEGIN { printf "%.1f", (b - a) / t / (e - s) * 100 }')
    fi
    # The CPU of the other processes a setup needs (PostgreSQL, NATS, a second node), same span.
    local other=null
    if [ "${#OTHER_PIDS[@]}" -gt 0 ]; then
        other=$(awk -v a="$o0" -v b="$o1" -v s="$w0" -v e="$w1" -v t="$CLK_TCK" \
            'BEGIN { printf "%.1f", (b - a) / t / (e - s) * 100 }')
        echo "   other processes (PostgreSQL, NATS, node 2): ${other}% of one core" >&2
    fi
    echo "{\"label\":\"$label\",\"cpu_pct\":$cpu,\"other_cpu_pct\":$other,\"rss_max_kib\":$(cat "$WORK/rss"),\"result\":$json}" >>"$RESULTS"
}

CW_URL="ws://127.0.0.1:$CW_PORT/platform"
CWD_URL="ws://127.0.0.1:$CWD_PORT/platform"
FLOOR_URL="ws://127.0.0.1:$FLOOR_PORT/"
NATS_URL="ws://127.0.0.1:$NATS_WS_PORT/"

if [ "$MODE" = smoke ]; then
    start_chatwire "$CW_PORT" --memory
    run smoke-big-room "$SERVER_PID" --url "$CW_URL" big-room --receivers 10 --users 10 --rate 50 --seconds 3
    if [ "$FAILED" -ne 0 ]; then
        echo "smoke: FAILED (lost deliveries or error)" >&2
        exit 1
    fi
    echo "smoke: ok (no lost deliveries)" >&2
    exit 0
fi

if [ "$WITH_NATS" = auto ]; then
    if ! command -v nats-server >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing nats-server (apt-get)"
        apt-get install -y -qq nats-server >/dev/null 2>&1 || true
    fi
    if command -v nats-server >/dev/null; then WITH_NATS=1; else WITH_NATS=0; fi
fi
[ "$WITH_NATS" = 1 ] || log "nats-server not available: peer columns for nats stay empty"

# --scale: only section 4b.
if [ "$MODE" = full ]; then

# 1. Idle connections first, each on a fresh server process (RSS deltas are cleanest there).
start_chatwire "$CW_PORT" --memory
run idle "$SERVER_PID" --url "$CW_URL" idle --connections "$IDLE_CONNECTIONS" --users "$IDLE_USERS" \
    --server-pid "$SERVER_PID" --concurrency 64
stop_pid "$SERVER_PID"
start_floor
run idle "$SERVER_PID" --target floor --url "$FLOOR_URL" idle --connections "$IDLE_CONNECTIONS" \
    --server-pid "$SERVER_PID" --concurrency 64
FLOOR_PID=$SERVER_PID
if [ "$WITH_NATS" = 1 ]; then
    start_nats
    run idle "$SERVER_PID" --target nats --url "$NATS_URL" idle --connections "$IDLE_CONNECTIONS" \
        --server-pid "$SERVER_PID" --concurrency 64
    NATS_PID=$SERVER_PID
fi
start_chatwire "$CW_PORT" --memory
CW_PID=$SERVER_PID

# 2. Fan-out: big rooms of 100 and 1000 receivers, many small rooms; every target.
# The peers' messages are padded to the size of chatwire's delivered frames (a chatwire event
# frame carries the JSON envelope the protocol needs), so every target moves the same bytes.
fanout() { # label args...
    local label=$1 pad
    shift
    run "$label" "$CW_PID" --url "$CW_URL" --drain-seconds "${DRAIN:-10}" "$@"
    pad=$(tail -n 1 "$RESULTS" | grep -o '"delivery_frame_bytes":[0-9]*' | cut -d: -f2 || true)
    pad=${pad:-0}
    run "$label" "$FLOOR_PID" --target floor --url "$FLOOR_URL" --drain-seconds "${DRAIN:-10}" \
        --pad-to "$pad" "$@"
    if [ "$WITH_NATS" = 1 ]; then
        run "$label" "$NATS_PID" --target nats --url "$NATS_URL" --drain-seconds "${DRAIN:-10}" \
            --pad-to "$pad" "$@"
    fi
}
fanout big-room-100 big-room --receivers 100 --users 100 --rate "$BIG_RATE" --seconds "$SECS"
# Rising offered load up to where the 2 shared cores run out (server plus load generator): where
# latency starts to climb for each target.
SWEEP_SECS=$((SECS < 3 ? SECS : 3))
for rate in $BIG_SWEEP; do
    DRAIN=30 fanout "big-room-100@$rate/s" big-room --receivers 100 --users 100 --rate "$rate" \
        --seconds "$SWEEP_SECS"
done
fanout big-room-1000 big-room --receivers 1000 --users 100 --rate "$BIG1K_RATE" --seconds "$SECS"
fanout small-rooms small-rooms --rooms "$SMALL_ROOMS" --members "$SMALL_MEMBERS" --users "$SMALL_USERS" \
    --rate "$SMALL_RATE" --seconds "$SECS"

# 3. SDK dispatch (memory server).
run sdk-dispatch "$CW_PID" --url "$CW_URL" sdk-dispatch --events "$SDK_EVENTS"
stop_pid "$CW_PID"
stop_pid "$FLOOR_PID"
[ "$WITH_NATS" = 1 ] && stop_pid "$NATS_PID"

# 4. Durable send -> ack and catch-up, on a SQLite data dir.
start_chatwire "$CWD_PORT" --data-dir "$WORK/data"
CWD_PID=$SERVER_PID
run durable "$CWD_PID" --url "$CWD_URL" durable --rate "$DURABLE_RATE" --seconds "$SECS"
run catch-up-1 "$CWD_PID" --url "$CWD_URL" catch-up --events "$CATCHUP_EVENTS" --clients 1 --seconds "$SECS"
run "catch-up-$CATCHUP_CLIENTS" "$CWD_PID" --url "$CWD_URL" catch-up --events "$CATCHUP_EVENTS" \
    --clients "$CATCHUP_CLIENTS" --seconds "$SECS"
stop_pid "$CWD_PID"

fi # MODE=full (sections 1-4)

# 4b. Scale-out (issue 14): one node on SQLite vs one node on PostgreSQL vs two nodes on
# PostgreSQL + NATS. Durable send -> ack with 4 senders (on two nodes: two per node), at a
# moderate rate and offered beyond capacity; then delivery latency in a room of 20 receivers with
# the sender on node 1 and (two nodes) every receiver on node 2. Everything shares the 2 cores:
# two nodes measure the overhead and contention of the cluster path, not added capacity.
scale_pair() { # LABEL-SUFFIX PID URL [ALSO_URL]: the durable and fan-out runs on one setup
    local sfx=$1 pid=$2 url=$3 also=${4:-}
    local also_arg=() recv_arg=()
    if [ -n "$also" ]; then
        also_arg=(--also-url "$also")
        recv_arg=(--receiver-url "$also")
    fi
    run "scale-ack-$sfx" "$pid" --url "$url" "${also_arg[@]}" --drain-seconds 30 durable \
        --rate "$SCALE_RATE" --seconds "$SECS" --senders 4
    run "scale-ackmax-$sfx" "$pid" --url "$url" "${also_arg[@]}" --drain-seconds 30 durable \
        --rate "$SCALE_MAX_RATE" --seconds "$SECS" --senders 4
    run "scale-fanout-$sfx" "$pid" --url "$url" "${recv_arg[@]}" --drain-seconds 30 big-room \
        --receivers 20 --users 20 --rate "$SCALE_FANOUT_RATE" --seconds "$SECS"
}
if [ "$WITH_CLUSTER" != 0 ]; then
    start_chatwire "$CWD_PORT" --data-dir "$WORK/scale-data"
    scale_pair sqlite1 "$SERVER_PID" "$CWD_URL"
    stop_pid "$SERVER_PID"
    PG_OUT=$(bash scripts/postgres.sh start 2>"$WORK/pg.err") || PG_OUT=
    PG_DIR=$(sed -n 's/^DIR=//p' <<<"$PG_OUT")
    PG_URL=$(sed -n 's/^URL=//p' <<<"$PG_OUT")
    NATSC_OUT=$(bash scripts/nats.sh start 2>"$WORK/nats.err") || NATSC_OUT=
    NATSC_DIR=$(sed -n 's/^DIR=//p' <<<"$NATSC_OUT")
    NATSC_URL=$(sed -n 's/^URL=//p' <<<"$NATSC_OUT")
    if [ -z "$PG_URL" ] || [ -z "$NATSC_URL" ]; then
        log "scale-out: PostgreSQL or nats-server did not start: only the SQLite row ($(cat "$WORK/pg.err" "$WORK/nats.err" | tail -n 2 | tr '\n' ' '))"
    else
        PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
        NATSC_PID=$(sed -n 's/^PID=//p' <<<"$NATSC_OUT")
        OTHER_PIDS=("$PG_PID")
        start_chatwire "$CWD_PORT" --postgres "$PG_URL"
        scale_pair pg1 "$SERVER_PID" "$CWD_URL"
        stop_pid "$SERVER_PID"
        if "$BIN/chatwire-server" serve --help 2>/dev/null | grep -q -- '--nats'; then
            N2_PORT=$((PORT_BASE + 4))
            start_chatwire "$CWD_PORT" --postgres "$PG_URL" --nats "$NATSC_URL"
            N1_PID=$SERVER_PID
            start_chatwire "$N2_PORT" --postgres "$PG_URL" --nats "$NATSC_URL"
            N2_PID=$SERVER_PID
            OTHER_PIDS=("$PG_PID" "$NATSC_PID" "$N2_PID")
            # CPU and RSS columns: node 1's (the sender's node).
            scale_pair pg2nats "$N1_PID" "$CWD_URL" "ws://127.0.0.1:$N2_PORT/platform"
            stop_pid "$N1_PID"
            stop_pid "$N2_PID"
            OTHER_PIDS=()
        else
            log "scale-out: this chatwire-server has no --nats (no cluster feature): no two-node row"
        fi
    fi
    [ -z "$NATSC_DIR" ] || bash scripts/nats.sh stop "$NATSC_DIR" || true
    [ -z "$PG_DIR" ] || bash scripts/postgres.sh stop "$PG_DIR" || true
    NATSC_DIR=
    PG_DIR=
    OTHER_PIDS=()
fi

if [ "$MODE" = full ]; then # (sections 5-6)

# 5. Durable client state through the SDK: resume after a restart with one missed message in
# each of RESUME_CONVERSATIONS conversations, at the server's DEFAULT limits (the catch-up
# target), then RESUME_SENDS sends through the outbox on a server without limits.
"$BIN/chatwire-server" --listen "127.0.0.1:$RESUME_PORT" --api-key "$API_KEY" --memory \
    >"$WORK/chatwire-resume.log" 2>&1 &
RESUME_PID=$!
PIDS+=("$RESUME_PID")
wait_port "$RESUME_PORT"
run resume-default-limits "$RESUME_PID" --url "ws://127.0.0.1:$RESUME_PORT/platform" resume \
    --conversations "$RESUME_CONVERSATIONS" --sends 50
stop_pid "$RESUME_PID"
start_chatwire "$CW_PORT" --memory
run resume-outbox "$SERVER_PID" --url "$CW_URL" resume --conversations 10 --sends "$RESUME_SENDS"
stop_pid "$SERVER_PID"

# 6. Cold start: the load generator fills a data dir, stops the server and times restarts.
# (no CPU/RSS columns: the server is the load generator's child.)
run cold-start 0 --url "ws://127.0.0.1:$COLD_PORT/platform" cold-start \
    --server-bin "$BIN/chatwire-server" --data-dir "$WORK/cold" --port "$COLD_PORT" --events "$COLD_EVENTS"

fi # MODE=full (sections 5-6)

echo
echo "chatwire benchmark, $(nproc) cores, $(date -u +%FT%TZ), BENCH_SECONDS=$SECS"
"$LOAD" summarize "$RESULTS" || FAILED=1
if [ -n "${BENCH_RESULTS:-}" ]; then
    cp "$RESULTS" "$BENCH_RESULTS"
fi
exit "$FAILED"
