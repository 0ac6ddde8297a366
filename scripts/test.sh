#!/usr/bin/env bash
# Run all of nova's tests against LocalStack.
#
#   scripts/test.sh [extra arguments for cargo nextest run / cargo test]
#
# 1. Installs the pinned Python tools (.venv/tools, requirements-dev.txt).
# 2. Starts LocalStack on 127.0.0.1:$NOVA_LOCALSTACK_PORT (default 4566) via
#    scripts/localstack.sh, unless this script's LocalStack already runs there.
# 3. Points the AWS SDKs at it (AWS_ENDPOINT_URL, test credentials,
#    us-east-1, NOVA_TEST_LOCALSTACK).
# 4. Runs the Rust doctests (`cargo test --workspace --doc`), then the Rust
#    tests: `cargo nextest run --workspace --all-targets --no-fail-fast` when
#    cargo-nextest is installed, else `cargo test --workspace --all-targets
#    --no-fail-fast`.
# 5. Runs pytest on tests/python/ when that directory exists, with NOVA_BIN
#    set to the nova binary the Rust tests built.
# 6. Stops LocalStack if step 2 started it.
#
# Exits non-zero when any step fails. See docs/testbed.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${NOVA_LOCALSTACK_PORT:-4566}"
export NOVA_LOCALSTACK_PORT="$PORT"

banner() { printf '\n==== test.sh: %s ====\n' "$*"; }

failed=()
results=()

# --- tools -------------------------------------------------------------------
banner "Python tools (.venv/tools)"
scripts/python-tools.sh

# --- LocalStack --------------------------------------------------------------
banner "LocalStack on port $PORT"
started_localstack=0
stop_localstack() {
    if ((started_localstack)); then
        banner "stopping the LocalStack this run started"
        scripts/localstack.sh stop || true
    fi
}
trap stop_localstack EXIT
if scripts/localstack.sh status >/dev/null 2>&1; then
    echo "reusing the LocalStack already running on port $PORT (left running afterwards)"
else
    started_localstack=1
fi
scripts/localstack.sh start

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export NOVA_TEST_LOCALSTACK="$AWS_ENDPOINT_URL"
# Never pick up a developer's real profile or session.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
echo "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=$AWS_REGION NOVA_TEST_LOCALSTACK=$NOVA_TEST_LOCALSTACK"

# --- Rust tests ----------------------------------------------------------------
run_step() {
    local name="$1"
    shift
    echo "+ $*"
    if "$@"; then
        results+=("$name: ok")
    else
        local rc=$?
        results+=("$name: FAILED (exit $rc)")
        failed+=("$name")
    fi
}

# Doctests first: nextest does not run them and `--all-targets` leaves them
# out; running them first keeps the main runner's summary last in the output.
banner "Rust doctests (cargo test --doc)"
run_step "rust doctests" cargo test --workspace --doc --no-fail-fast
if cargo nextest --version >/dev/null 2>&1; then
    banner "Rust tests (cargo nextest)"
    run_step "rust tests (nextest)" \
        cargo nextest run --workspace --all-targets --no-fail-fast "$@"
else
    banner "Rust tests (cargo test; cargo-nextest not installed)"
    run_step "rust tests (cargo test)" \
        cargo test --workspace --all-targets --no-fail-fast "$@"
fi

# --- Python tests --------------------------------------------------------------
if [[ -d tests/python ]]; then
    banner "Python tests (pytest tests/python)"
    # The nova binary the Rust tests just built: test_stack_health.py deploys a
    # stack with it (a NOVA_BIN set by the caller wins).
    export NOVA_BIN="${NOVA_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/nova}"
    echo "NOVA_BIN=$NOVA_BIN"
    echo "+ .venv/tools/bin/python -m pytest tests/python"
    rc=0
    .venv/tools/bin/python -m pytest tests/python || rc=$?
    if ((rc == 0)); then
        results+=("python tests: ok")
    else
        # 5 = no tests collected: with a tests/python directory that is a failure.
        ((rc == 5)) && echo "test.sh: pytest collected no tests in tests/python" >&2
        results+=("python tests: FAILED (pytest exit $rc)")
        failed+=("python tests")
    fi
else
    results+=("python tests: none (no tests/python directory)")
fi

# --- summary -------------------------------------------------------------------
banner "summary"
printf '  %s\n' "${results[@]}"
if ((${#failed[@]})); then
    echo "test.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test.sh: all test steps passed"
