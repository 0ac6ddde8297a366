#!/usr/bin/env bash
# Run awssim, the AWS-like proxy, in front of a LocalStack started by
# scripts/localstack.sh: per-call latency, slow resources, eventual consistency,
# throttling and faults from fixtures/awssim/aws-us-east-1.toml.
#
#   scripts/awssim.sh start [awssim options]   build if needed, start, wait until healthy
#   scripts/awssim.sh stop                     stop the awssim this script started
#   scripts/awssim.sh status                   print running/stopped (exit 0 / 3)
#   scripts/awssim.sh stats                    print its stats (GET /_awssim/stats)
#
# Options after `start` go to awssim, e.g. `--scale 0.05 --faults 0.1 --lost-share 0.5
# --seed 3 --set lambda.eni_linger_s=120` (`target/debug/awssim --help` lists them).
#
# Environment:
#   NOVA_AWSSIM_PORT       loopback port awssim listens on (default 4567)
#   NOVA_LOCALSTACK_PORT   LocalStack's port, the upstream (default 4566)
#   CARGO_TARGET_DIR       where cargo builds awssim (default target/)
#
# Files (gitignored): .localstack/awssim-<port>/{pid,awssim.log}
#
# Then point the SDK at it: AWS_ENDPOINT_URL=http://127.0.0.1:$NOVA_AWSSIM_PORT.
# See docs/testbed.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${NOVA_AWSSIM_PORT:-4567}"
UPSTREAM_PORT="${NOVA_LOCALSTACK_PORT:-4566}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/debug/awssim"
RUN_DIR="$ROOT/.localstack/awssim-$PORT"
PID_FILE="$RUN_DIR/pid"
LOG_FILE="$RUN_DIR/awssim.log"
ENDPOINT="http://127.0.0.1:$PORT"

log() { printf 'awssim.sh: %s\n' "$*"; }
die() {
    printf 'awssim.sh: error: %s\n' "$*" >&2
    exit 1
}

for port in "$PORT" "$UPSTREAM_PORT"; do
    case "$port" in
    '' | *[!0-9]*) die "ports must be numbers, got '$port'" ;;
    esac
done

healthy() { curl -fsS -m 2 "$ENDPOINT/_awssim/health" >/dev/null 2>&1; }

our_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

cmd_start() {
    if our_pid >/dev/null && healthy; then
        log "already running on $ENDPOINT (pid $(our_pid))"
        return 0
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        die "port $PORT is taken by another process; set NOVA_AWSSIM_PORT"
    fi
    curl -fsS -m 5 "http://127.0.0.1:$UPSTREAM_PORT/_localstack/health" >/dev/null ||
        die "no LocalStack on port $UPSTREAM_PORT: run scripts/localstack.sh start first"
    log "building awssim (cargo build -p awssim)"
    (cd "$ROOT" && cargo build -q -p awssim)
    mkdir -p "$RUN_DIR"
    nohup "$BIN" --listen "127.0.0.1:$PORT" --upstream "http://127.0.0.1:$UPSTREAM_PORT" "$@" \
        >"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 50); do
        if healthy; then
            log "ready: $ENDPOINT in front of LocalStack on $UPSTREAM_PORT (pid $(cat "$PID_FILE")); log: $LOG_FILE"
            log "use it: export AWS_ENDPOINT_URL=$ENDPOINT"
            return 0
        fi
        if ! our_pid >/dev/null; then
            cat "$LOG_FILE" >&2 || true
            die "awssim exited during start"
        fi
        sleep 0.1
    done
    die "awssim did not become healthy within 5 s; log: $LOG_FILE"
}

cmd_stop() {
    local pid
    if pid="$(our_pid)"; then
        kill "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        log "stopped (pid $pid)"
    else
        log "not running on port $PORT"
    fi
    rm -f "$PID_FILE"
}

cmd_status() {
    if our_pid >/dev/null && healthy; then
        echo "running on $ENDPOINT (pid $(our_pid))"
    else
        echo "stopped"
        exit 3
    fi
}

case "${1:-}" in
start)
    shift
    cmd_start "$@"
    ;;
stop) cmd_stop ;;
status) cmd_status ;;
stats) curl -fsS "$ENDPOINT/_awssim/stats" ;;
*)
    echo "usage: $0 start [awssim options]|stop|status|stats   (port: NOVA_AWSSIM_PORT, default 4567)" >&2
    exit 2
    ;;
esac
