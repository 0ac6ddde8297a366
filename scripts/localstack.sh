#!/usr/bin/env bash
# Run LocalStack (the AWS emulator nova's integration tests use) as a plain
# Python process on this machine, without Docker.
#
#   scripts/localstack.sh start    install if needed, start, wait until healthy
#   scripts/localstack.sh stop     stop the LocalStack this script started
#   scripts/localstack.sh status   print running/stopped (exit 0 / 3)
#
# Environment:
#   NOVA_LOCALSTACK_PORT           loopback port to serve on (default 4566)
#   NOVA_LOCALSTACK_START_TIMEOUT  seconds to wait for health (default 90)
#   NOVA_LOCALSTACK_PYTHON         interpreter for the venv (default python3,
#                                  must be 3.11: LocalStack 4.8.1 is pinned)
#
# Files (all gitignored):
#   .venv/localstack/              venv: localstack/requirements.txt + the
#                                  no-op Lambda executor (localstack/noop_executor)
#   .localstack/<port>/pid         pid of the LocalStack process we started
#   .localstack/<port>/localstack.log
#   .localstack/<port>/fs/         LocalStack's own files for that port
#   .localstack/<port>/tmp/        its temporary directory (TMPDIR), which holds
#                                  its in-memory state's files (CloudWatch's
#                                  metrics.db, Lambda tasks) and is wiped on exit
#
# See docs/testbed.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${NOVA_LOCALSTACK_PORT:-4566}"
START_TIMEOUT="${NOVA_LOCALSTACK_START_TIMEOUT:-90}"
PYTHON="${NOVA_LOCALSTACK_PYTHON:-python3}"
EXECUTOR="nova-noop" # entry point in localstack/noop_executor/pyproject.toml

REQUIREMENTS="$ROOT/localstack/requirements.txt"
NOOP_PKG="$ROOT/localstack/noop_executor"
VENV="$ROOT/.venv/localstack"
STAMP="$VENV/.nova-install-stamp"
RUN_DIR="$ROOT/.localstack/$PORT"
PID_FILE="$RUN_DIR/pid"
LOG_FILE="$RUN_DIR/localstack.log"
ENDPOINT="http://127.0.0.1:$PORT"

log() { printf 'localstack.sh: %s\n' "$*"; }
die() {
    printf 'localstack.sh: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop|status   (port: NOVA_LOCALSTACK_PORT, default 4566)" >&2
    exit 2
}

case "$PORT" in
'' | *[!0-9]*) die "NOVA_LOCALSTACK_PORT must be a port number, got '$PORT'" ;;
esac
if ((PORT < 1 || PORT > 65535)); then
    die "NOVA_LOCALSTACK_PORT must be in 1..65535, got $PORT"
fi
case "$START_TIMEOUT" in
'' | *[!0-9]*) die "NOVA_LOCALSTACK_START_TIMEOUT must be a whole number of seconds" ;;
esac

# --- helpers -----------------------------------------------------------------

# True when GET $ENDPOINT/_localstack/health answers 200 within 2 s.
healthy() {
    "$PYTHON" - "$ENDPOINT/_localstack/health" <<'EOF' >/dev/null 2>&1
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
    sys.exit(0 if response.status == 200 else 1)
EOF
}

# True when something accepts TCP connections on 127.0.0.1:$PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

# Pid from the pid file when that process is alive and is the LocalStack
# this script started for this port; prints nothing otherwise.
our_pid() {
    local pid
    [[ -f "$PID_FILE" ]] || return 0
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    # Guard against pid reuse: it must be LocalStack serving our port.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main' || return 0
    if [[ -r "/proc/$pid/environ" ]]; then
        tr '\0' '\n' <"/proc/$pid/environ" |
            grep -qx "GATEWAY_LISTEN=127.0.0.1:$PORT" || return 0
    fi
    echo "$pid"
}

# All descendants of a pid (children first found, depth-first).
descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

show_listener() {
    if command -v ss >/dev/null 2>&1; then
        ss -ltnpH "sport = :$PORT" 2>/dev/null | sed 's/^/    /' >&2 || true
    fi
}

log_tail() {
    if [[ -f "$LOG_FILE" ]]; then
        echo "---- last 40 lines of $LOG_FILE ----" >&2
        tail -n 40 "$LOG_FILE" >&2
        echo "----" >&2
    fi
}

# Hash of everything that goes into the venv, so re-runs skip the install.
install_key() {
    {
        "$PYTHON" -c 'import sys; print(sys.version)'
        echo "requirements.txt"
        cat "$REQUIREMENTS"
        (cd "$NOOP_PKG" && find . -type f \
            ! -path '*/__pycache__/*' ! -path '*.egg-info/*' ! -path './build/*' \
            -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local key started tmp
    command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found (set NOVA_LOCALSTACK_PYTHON)"
    key="$(install_key)"
    if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$key" ]]; then
        return 0
    fi
    # Several callers (test.sh on two ports, a developer's shell) may race.
    mkdir -p "$ROOT/.venv"
    exec 8>"$ROOT/.venv/localstack.install.lock"
    flock 8
    if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$key" ]]; then
        exec 8>&-
        return 0
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        log "warning: $("$PYTHON" -V 2>&1) is not 3.11; localstack/requirements.txt was pinned on 3.11"
    fi
    started=$SECONDS
    log "installing LocalStack into $VENV (first run or requirements changed) ..."
    rm -f "$STAMP"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
        --requirement "$REQUIREMENTS"
    # Build from a copy: pip builds in-tree and would leave build/ and
    # *.egg-info/ in the repository.
    tmp="$(mktemp -d)"
    cp -R "$NOOP_PKG/." "$tmp/"
    rm -rf "$tmp/build" "$tmp"/src/*.egg-info
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
        --no-deps --force-reinstall "$tmp"
    rm -rf "$tmp"
    "$VENV/bin/python" - "$EXECUTOR" <<'EOF'
import sys
from importlib.metadata import entry_points

names = [ep.name for ep in entry_points(group="localstack.lambda.runtime_executor")]
if sys.argv[1] not in names:
    sys.exit(f"runtime executor {sys.argv[1]!r} not registered (found {names})")
EOF
    echo "$key" >"$STAMP"
    exec 8>&-
    log "installed in $((SECONDS - started)) s"
}

# --- commands ----------------------------------------------------------------

cmd_start() {
    local pid started
    mkdir -p "$RUN_DIR"
    exec 9>"$RUN_DIR/lock"
    flock 9

    pid="$(our_pid)"
    if [[ -n "$pid" ]]; then
        if healthy; then
            log "already running: $ENDPOINT (pid $pid), log: $LOG_FILE"
            return 0
        fi
        log "pid $pid is ours but not healthy yet; waiting"
    else
        rm -f "$PID_FILE"
        if port_in_use; then
            echo "localstack.sh: error: port $PORT on 127.0.0.1 is already in use by another process" \
                "(not a LocalStack started by this script):" >&2
            show_listener
            echo "  stop that process, or pick another port: NOVA_LOCALSTACK_PORT=<port> $0 start" >&2
            exit 1
        fi
        ensure_venv
        mkdir -p "$RUN_DIR/fs" "$RUN_DIR/tmp"
        : >"$LOG_FILE"
        # setsid: own session and process group (pgid == pid), so `stop` can
        # signal everything LocalStack spawns and a closing terminal does not.
        # Output goes to the log only, so callers' pipes are not held open.
        # Each port's files apart: FILESYSTEM_ROOT (outside a container) and
        # TMPDIR. In a container LocalStack ignores FILESYSTEM_ROOT and keeps its
        # state (CloudWatch's metrics.db, ...) under $TMPDIR/localstack, which
        # it deletes on exit: a shared /tmp let one instance stopping break
        # CloudWatch in every other one ("unable to open database file").
        # DNS_ADDRESS=0 stops LocalStack from taking port 53.
        env \
            GATEWAY_LISTEN="127.0.0.1:$PORT" \
            LOCALSTACK_HOST="127.0.0.1:$PORT" \
            LAMBDA_RUNTIME_EXECUTOR="$EXECUTOR" \
            FILESYSTEM_ROOT="$RUN_DIR/fs" \
            TMPDIR="$RUN_DIR/tmp" \
            PERSISTENCE=0 \
            DNS_ADDRESS=0 \
            SKIP_SSL_CERT_DOWNLOAD=1 \
            DISABLE_EVENTS=1 \
            PYTHONUNBUFFERED=1 \
            setsid "$VENV/bin/python" -m localstack.runtime.main \
            </dev/null >>"$LOG_FILE" 2>&1 8>&- 9>&- &
        pid=$!
        echo "$pid" >"$PID_FILE"
        log "starting LocalStack (pid $pid) on $ENDPOINT, log: $LOG_FILE"
    fi

    started=$SECONDS
    until healthy; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            log_tail
            die "LocalStack exited during startup (see $LOG_FILE)"
        fi
        if ((SECONDS - started >= START_TIMEOUT)); then
            log_tail
            stop_pid "$pid"
            rm -f "$PID_FILE"
            die "LocalStack not healthy after ${START_TIMEOUT} s; stopped it (see $LOG_FILE)"
        fi
        sleep 0.5
    done
    log "ready after $((SECONDS - started)) s: endpoint $ENDPOINT (pid $pid)"
    log "log: $LOG_FILE"
}

# Stop a pid we started: SIGTERM to its process group and descendants, then
# SIGKILL after 30 s.
stop_pid() {
    local pid="$1" waited=0 others
    others="$(descendants "$pid" | tr '\n' ' ')"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    # shellcheck disable=SC2086 # word splitting of the pid list is intended
    [[ -z "$others" ]] || kill -TERM $others 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= 60)); then
            log "pid $pid did not exit after 30 s; sending SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            # shellcheck disable=SC2086
            [[ -z "$others" ]] || kill -KILL $others 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    # Reap any straggler left in the group (e.g. a helper that ignored TERM).
    kill -KILL -- "-$pid" 2>/dev/null || true
}

cmd_stop() {
    local pid
    mkdir -p "$RUN_DIR"
    exec 9>"$RUN_DIR/lock"
    flock 9
    pid="$(our_pid)"
    if [[ -z "$pid" ]]; then
        if [[ -f "$PID_FILE" ]]; then
            log "stale pid file (process gone or not ours); removing it"
            rm -f "$PID_FILE"
        fi
        log "not running on port $PORT"
        return 0
    fi
    log "stopping LocalStack (pid $pid) on port $PORT ..."
    stop_pid "$pid"
    rm -f "$PID_FILE"
    log "stopped"
}

cmd_status() {
    local pid
    pid="$(our_pid)"
    if [[ -z "$pid" ]]; then
        echo "stopped (port $PORT)"
        return 3
    fi
    if healthy; then
        echo "running: $ENDPOINT (pid $pid), log: $LOG_FILE"
    else
        echo "running but not healthy (yet): $ENDPOINT (pid $pid), log: $LOG_FILE"
    fi
}

[[ $# -eq 1 ]] || usage
case "$1" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) usage ;;
esac
