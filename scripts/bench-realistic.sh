#!/usr/bin/env bash
# Benchmark nova at AWS's real timing: awssim at scale 1.0 in front of a LocalStack of
# its own, the repository's Nova.toml, against the critical-path bound of the graph.
#
#   scripts/bench-realistic.sh [--rounds N] [--eni-linger S] [--no-faults] [--write]
#
#   --rounds N       rounds of up / no-op plan / destroy per parallelism (default 2)
#   --eni-linger S   how long a deleted VPC Lambda's interfaces linger, in seconds
#                    (default 60; AWS: 18-19 minutes, which would make every destroy
#                    take 20 minutes; the bound uses the same figure)
#   --no-faults      skip the round with 10% of calls throttled
#   --write          replace the realistic section of docs/benchmarks.md
#
# A measurement, not a test: it asserts nothing about the numbers. It fails (non-zero
# exit) when the build, LocalStack, awssim or any nova command fails.
#
# 1. Builds nova and awssim (debug).
# 2. Starts LocalStack on 127.0.0.1:$NOVA_BENCH_PORT (default 4591; refuses when one
#    runs there) and awssim on $NOVA_BENCH_SIM_PORT (default 4592) with the checked-in
#    model at scale 1.0; both are stopped on exit.
# 3. A warm-up up + destroy against LocalStack directly (it loads each service on its
#    first request).
# 4. Each round, for parallelism 10 (the default) then 1: `nova up --yes`, a no-op
#    `nova plan --detailed-exitcode` (must exit 0), `nova destroy --yes`; wall time
#    from the shell, API calls from awssim's stats (every request that reached it,
#    the SDK's retries included).
# 5. With faults: awssim restarted with 10% of calls answered as throttled
#    (`--faults 0.1 --lost-share 0 --fault-kinds throttle`), one up + destroy.
# 6. The bound: `nova graph | awssim bound --phase create|delete` with the same model.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS=2
LINGER=60
FAULTS=1
WRITE=0
LS_PORT="${NOVA_BENCH_PORT:-4591}"
SIM_PORT="${NOVA_BENCH_SIM_PORT:-4592}"
DOC="$ROOT/docs/benchmarks.md"
MARKER="<!-- realistic: written by scripts/bench-realistic.sh -->"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
NOVA="$TARGET/debug/nova"
AWSSIM="$TARGET/debug/awssim"
SIM="http://127.0.0.1:$SIM_PORT"

usage() {
    sed -n '5,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
die() {
    printf 'bench-realistic.sh: error: %s\n' "$*" >&2
    exit 1
}
log() { printf 'bench-realistic.sh: %s\n' "$*" >&2; }

while (($#)); do
    case "$1" in
    --rounds)
        [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive number"
        ROUNDS="$2"
        shift 2
        ;;
    --eni-linger)
        [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || die "--eni-linger needs seconds"
        LINGER="$2"
        shift 2
        ;;
    --no-faults)
        FAULTS=0
        shift
        ;;
    --write)
        WRITE=1
        shift
        ;;
    -h | --help) usage ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done

TMP="$(mktemp -d)"
RESULTS="$TMP/results.tsv"
cleanup() {
    NOVA_AWSSIM_PORT="$SIM_PORT" scripts/awssim.sh stop >/dev/null 2>&1 || true
    NOVA_LOCALSTACK_PORT="$LS_PORT" scripts/localstack.sh stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

log "building nova and awssim"
cargo build --quiet -p nova -p awssim
# The binaries measured: copies, so a build during the run cannot change them; the
# commit and date are those of the build.
cp "$NOVA" "$AWSSIM" "$TMP/"
COMMIT="$(git rev-parse --short=12 HEAD)"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
NOVA="$TMP/nova"
AWSSIM="$TMP/awssim"

if NOVA_LOCALSTACK_PORT="$LS_PORT" scripts/localstack.sh status >/dev/null 2>&1; then
    die "a LocalStack already runs on port $LS_PORT (its account would not be clean)"
fi
NOVA_LOCALSTACK_PORT="$LS_PORT" scripts/localstack.sh start >&2

start_sim() {
    NOVA_AWSSIM_PORT="$SIM_PORT" scripts/awssim.sh stop >/dev/null 2>&1 || true
    NOVA_AWSSIM_PORT="$SIM_PORT" NOVA_LOCALSTACK_PORT="$LS_PORT" scripts/awssim.sh start \
        --scale 1 --set "lambda.eni_linger_s=$LINGER" "$@" >&2
}

# nova_at ENDPOINT STACK ARGS...: nova with only the environment it needs.
nova_at() {
    local endpoint="$1" stack="$2"
    shift 2
    env -i PATH="$PATH" HOME="$HOME" NO_COLOR=1 AWS_ENDPOINT_URL="$endpoint" \
        AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
        "$NOVA" --stack "$stack" --state-dir "$TMP/state-$stack" "$@"
}

calls() {
    curl -fsS "$SIM/_awssim/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["calls"])'
}

# measure LABEL PARALLELISM ROUND STACK ARGS...: one timed run, appended to RESULTS.
measure() {
    local label="$1" parallelism="$2" round="$3" stack="$4"
    shift 4
    local out="$TMP/$label-$parallelism-$round.log" start end
    curl -fsS -X POST "$SIM/_awssim/stats/reset" >/dev/null
    start="$(date +%s.%N)"
    if ! nova_at "$SIM" "$stack" "$@" >"$out" 2>&1; then
        tail -n 60 "$out" >&2
        die "nova $* (stack $stack) failed"
    fi
    end="$(date +%s.%N)"
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$parallelism" "$round" \
        "$(python3 -c "print(f'{$end - $start:.1f}')")" "$(calls)" >>"$RESULTS"
    log "$label p$parallelism round $round: $(tail -n 1 "$RESULTS" | cut -f4)s"
}

log "warm-up against LocalStack directly"
nova_at "http://127.0.0.1:$LS_PORT" bench-warmup up --yes >/dev/null
nova_at "http://127.0.0.1:$LS_PORT" bench-warmup destroy --yes >/dev/null

start_sim
for round in $(seq 1 "$ROUNDS"); do
    for p in 10 1; do
        stack="real-p$p-$round"
        measure up "$p" "$round" "$stack" up --yes --parallelism "$p"
        if [[ $p == 10 ]]; then
            measure plan "$p" "$round" "$stack" plan --detailed-exitcode
        fi
        measure destroy "$p" "$round" "$stack" destroy --yes --parallelism "$p"
    done
done
if ((FAULTS)); then
    start_sim --faults 0.1 --lost-share 0 --fault-kinds throttle --seed 1
    measure up-throttled 10 1 real-faults up --yes
    measure destroy-throttled 10 1 real-faults destroy --yes
fi

bound() {
    nova_at "http://127.0.0.1:$LS_PORT" bench-graph graph |
        "$AWSSIM" bound --phase "$1" --plain --set "lambda.eni_linger_s=$LINGER"
}
bound create >"$TMP/bound-create"
bound delete >"$TMP/bound-delete"

section() {
    RESULTS="$RESULTS" BOUND_CREATE="$TMP/bound-create" BOUND_DELETE="$TMP/bound-delete" \
        LINGER="$LINGER" COMMIT="$COMMIT" DATE="$STARTED" CORES="$(nproc)" \
        python3 scripts/bench_realistic_report.py
}
section >"$TMP/section.md"
cat "$TMP/section.md"

if ((WRITE)); then
    if grep -qF "$MARKER" "$DOC"; then
        sed -n "1,/^$(printf '%s' "$MARKER" | sed 's/[][\/.*^$]/\\&/g')\$/p" "$DOC" >"$TMP/doc"
    else
        { cat "$DOC" && printf '\n%s\n' "$MARKER"; } >"$TMP/doc"
    fi
    cat "$TMP/section.md" >>"$TMP/doc"
    mv "$TMP/doc" "$DOC"
    log "wrote the realistic section of $DOC"
fi
