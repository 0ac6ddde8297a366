#!/usr/bin/env bash
# Demo: provision nova's stack into LocalStack.
#
#   scripts/demo.sh [nova global options, e.g. --stack NAME --config PATH]
#
# Starts LocalStack (scripts/localstack.sh, port $NOVA_LOCALSTACK_PORT, default
# 4566), points the AWS SDK at it, builds nova (`cargo build`, debug) and runs
#   nova plan;  nova up --yes;  nova output
# with its state in .localstack/demo-state (NOVA_DEMO_STATE_DIR overrides).
# LocalStack is left running so the result can be inspected; the script
# prints how to destroy the stack and stop LocalStack.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${NOVA_LOCALSTACK_PORT:-4566}"
export NOVA_LOCALSTACK_PORT="$PORT"
STATE_DIR="${NOVA_DEMO_STATE_DIR:-$ROOT/.localstack/demo-state}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
NOVA="$TARGET_DIR/debug/nova"

banner() { printf '\n==== demo: %s ====\n' "$*"; }
run() {
    printf '+ %s\n' "$*"
    "$@"
}

banner "LocalStack on port $PORT"
scripts/localstack.sh start

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export NOVA_TEST_LOCALSTACK="$AWS_ENDPOINT_URL"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE

banner "build (cargo build)"
run cargo build --bin nova
[[ -x "$NOVA" ]] || {
    echo "demo.sh: error: built binary not found at $NOVA (is CARGO_TARGET_DIR set as for the build?)" >&2
    exit 1
}

# LocalStack keeps no state across restarts: state recorded against an
# earlier LocalStack process would describe resources that no longer exist.
pid="$(cat ".localstack/$PORT/pid")"
instance="127.0.0.1:$PORT pid $pid"
mkdir -p "$STATE_DIR"
if [[ -f "$STATE_DIR/.localstack-instance" && "$(cat "$STATE_DIR/.localstack-instance")" != "$instance" ]]; then
    echo "demo.sh: $STATE_DIR was made against another LocalStack run; starting from empty state"
    find "$STATE_DIR" -mindepth 1 -delete
fi
echo "$instance" >"$STATE_DIR/.localstack-instance"

nova=("$NOVA" --state-dir "$STATE_DIR" "$@")

banner "nova plan"
run "${nova[@]}" plan
banner "nova up --yes"
run "${nova[@]}" up --yes
banner "nova output"
run "${nova[@]}" output

banner "done"
cat <<EOF
The stack is in LocalStack at $AWS_ENDPOINT_URL (log: $ROOT/.localstack/$PORT/localstack.log).
  Look around:   AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \\
                   AWS_DEFAULT_REGION=us-east-1 .venv/localstack/bin/aws ec2 describe-vpcs
  Destroy it:    AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \\
                   AWS_REGION=us-east-1 $NOVA --state-dir $STATE_DIR $* destroy --yes
  Stop LocalStack: NOVA_LOCALSTACK_PORT=$PORT scripts/localstack.sh stop
EOF
