#!/usr/bin/env bash
# Benchmark `nova up` and `nova destroy` of the full stack against LocalStack.
#
#   scripts/bench.sh [--rounds N] [--write] [--release]
#
#   --rounds N   rounds per parallelism (default 3)
#   --write      rewrite docs/benchmarks.md with the results
#   --release    benchmark the release build instead of the debug build
#
# This is a measurement, not a test: it asserts nothing about the numbers.
# It fails (non-zero exit) when the build, LocalStack or any nova command fails.
#
# 1. Builds nova: `cargo build --bin nova` (debug), or with --release
#    `cargo build --release --bin nova`. Debug is the default because a
#    from-scratch release build of the AWS SDK crates took more than 15
#    minutes on the 2-core machine the published numbers come from; nova's
#    wall time against LocalStack is dominated by waiting for API responses,
#    not by nova's own CPU time.
# 2. Starts a LocalStack of its own on 127.0.0.1:$NOVA_BENCH_PORT (default
#    4590) with scripts/localstack.sh: a fresh, empty account. It refuses to
#    run when that LocalStack is already running (the account would not be
#    clean). The LocalStack is stopped on exit.
# 3. Runs one warm-up `up` + `destroy` (stack bench-warmup, not counted):
#    LocalStack loads each service on its first request, which would
#    otherwise land on the first measured round.
# 4. Runs N rounds; each round, for each parallelism P in (1, 10), runs
#        nova --stack bench-p<P>-<i> --state-dir <tmp> up --yes --parallelism P
#        nova --stack bench-p<P>-<i> --state-dir <tmp> destroy --yes --parallelism P
#    (alternating P, so a change in the machine's load hits both alike)
#    from the repository root (so with the repository's Nova.toml), timing the
#    wall time of each command and reading its final `AWS API calls: N` line.
# 5. Prints per command and parallelism the median, min and max wall time and
#    the API call count, and the ratio of the medians p1 / p10.
#
# Each command's full output is kept in the temporary directory while the
# script runs and printed (last 60 lines) when that command fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PARALLELISMS=(1 10)
ROUNDS=3
WRITE=0
PROFILE=debug
PORT="${NOVA_BENCH_PORT:-4590}"
DOC="$ROOT/docs/benchmarks.md"

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
die() {
    printf 'bench.sh: error: %s\n' "$*" >&2
    exit 1
}
log() { printf 'bench.sh: %s\n' "$*"; }

while (($#)); do
    case "$1" in
    --rounds)
        [[ $# -ge 2 ]] || usage
        ROUNDS="$2"
        shift 2
        ;;
    --rounds=*)
        ROUNDS="${1#--rounds=}"
        shift
        ;;
    --write)
        WRITE=1
        shift
        ;;
    --release)
        PROFILE=release
        shift
        ;;
    -h | --help) usage ;;
    *)
        printf 'bench.sh: unknown argument: %s\n' "$1" >&2
        usage
        ;;
    esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive whole number, got '$ROUNDS'"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "NOVA_BENCH_PORT must be a port number, got '$PORT'"
[[ -n "${EPOCHREALTIME:-}" ]] || die "bash 5 or newer is needed (EPOCHREALTIME)"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
NOVA="$TARGET_DIR/$PROFILE/nova"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/nova-bench.XXXXXX")"
STATE_DIR="$WORK/state"
mkdir -p "$STATE_DIR"

started_localstack=0
cleanup() {
    if ((started_localstack)); then
        log "stopping the LocalStack this run started (port $PORT)"
        NOVA_LOCALSTACK_PORT="$PORT" scripts/localstack.sh stop || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- build -------------------------------------------------------------------
build_args=(build --bin nova)
if [[ "$PROFILE" == release ]]; then build_args+=(--release); fi
log "building: cargo ${build_args[*]}"
build_start=$EPOCHREALTIME
cargo "${build_args[@]}"
build_seconds="$(awk -v a="$build_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')"
[[ -x "$NOVA" ]] || die "built binary not found at $NOVA (is CARGO_TARGET_DIR set as for the build?)"
log "build done in ${build_seconds} s: $NOVA"

# --- LocalStack ----------------------------------------------------------------
if NOVA_LOCALSTACK_PORT="$PORT" scripts/localstack.sh status >/dev/null 2>&1; then
    die "a LocalStack is already running on port $PORT; the benchmark needs a fresh account." \
        "Stop it (NOVA_LOCALSTACK_PORT=$PORT scripts/localstack.sh stop) or set NOVA_BENCH_PORT."
fi
started_localstack=1
NOVA_LOCALSTACK_PORT="$PORT" scripts/localstack.sh start

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export NOVA_TEST_LOCALSTACK="$AWS_ENDPOINT_URL"
# Never pick up a developer's real profile or session, nor nova settings
# that would change the stack being measured.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE NOVA_STACK NOVA_CONFIG NOVA_STATE_DIR
while IFS= read -r name; do
    unset "$name"
done < <(env | sed -n 's/^\(NOVA_[A-Z0-9_]*\)=.*/\1/p' |
    grep -vx -e NOVA_TEST_LOCALSTACK -e NOVA_BENCH_PORT || true)

localstack_version="$(
    .venv/localstack/bin/python - "$AWS_ENDPOINT_URL/_localstack/health" <<'EOF'
import json
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
    print(json.load(response).get("version", "unknown"))
EOF
)"
log "LocalStack $localstack_version at $AWS_ENDPOINT_URL"

# --- measure -------------------------------------------------------------------
# Results, one line each: "<command> <parallelism> <round> <seconds> <api calls>".
RESULTS="$WORK/results"
: >"$RESULTS"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# run_nova COMMAND P ROUND: run one nova command, record its time and calls
# (ROUND "warmup": run it, record nothing).
run_nova() {
    local command="$1" p="$2" round="$3" stack out start end seconds calls rc=0
    if [[ "$round" == warmup ]]; then stack="bench-warmup"; else stack="bench-p$p-$round"; fi
    out="$WORK/$stack.$command.log"
    printf 'bench.sh: %-7s --stack %-12s --parallelism %-2s ... ' "$command" "$stack" "$p"
    start=$EPOCHREALTIME
    "$NOVA" --stack "$stack" --state-dir "$STATE_DIR" "$command" --yes --parallelism "$p" \
        </dev/null >"$out" 2>&1 || rc=$?
    end=$EPOCHREALTIME
    seconds="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
    if ((rc != 0)); then
        echo "FAILED (exit $rc)"
        echo "---- last 60 lines of nova $command output ----" >&2
        tail -n 60 "$out" >&2
        die "nova $command --stack $stack --parallelism $p failed with exit $rc"
    fi
    calls="$(sed -n 's/^AWS API calls: \([0-9][0-9]*\)$/\1/p' "$out" | tail -n 1)"
    if [[ -z "$calls" ]]; then
        echo "no 'AWS API calls: N' line"
        tail -n 60 "$out" >&2
        die "nova $command --stack $stack printed no 'AWS API calls: N' line"
    fi
    echo "${seconds} s, ${calls} API calls"
    if [[ "$command" == up ]]; then
        resources="$(sed -n 's/^Apply complete! Resources: \([0-9][0-9]*\) added.*/\1/p' "$out")"
    fi
    [[ "$round" == warmup ]] || echo "$command $p $round $seconds $calls" >>"$RESULTS"
}

resources="?"
log "warm-up round (not counted)"
run_nova up 10 warmup
run_nova destroy 10 warmup

for ((round = 1; round <= ROUNDS; round++)); do
    for p in "${PARALLELISMS[@]}"; do
        run_nova up "$p" "$round"
        run_nova destroy "$p" "$round"
    done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- summarize -----------------------------------------------------------------
# stats COMMAND P FIELD: "median min max" of a results field (4 = seconds,
# 5 = API calls) over the rounds of one command at one parallelism.
stats() {
    awk -v c="$1" -v p="$2" '$1 == c && $2 == p { print $'"$3"' }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 }
             END {
                 m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                 printf "%s %s %s\n", m, v[1], v[NR]
             }'
}

# calls_text COMMAND P: the call count, or "min-max" when rounds differ.
calls_text() {
    local median min max
    read -r median min max < <(stats "$1" "$2" 5)
    if [[ "$min" == "$max" ]]; then echo "$min"; else echo "$min-$max (median $median)"; fi
}

# ratio COMMAND: median wall time at parallelism 1 over parallelism 10.
ratio() {
    local m1 m10 rest
    read -r m1 rest < <(stats "$1" 1 4)
    read -r m10 rest < <(stats "$1" 10 4)
    awk -v a="$m1" -v b="$m10" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

summary_table() {
    local command p median min max
    echo "| command | parallelism | rounds | median (s) | min (s) | max (s) | AWS API calls |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for command in up destroy; do
        for p in "${PARALLELISMS[@]}"; do
            read -r median min max < <(stats "$command" "$p" 4)
            # shellcheck disable=SC2016 # the backquotes are Markdown
            printf '| `nova %s` | %s | %s | %.2f | %.2f | %.2f | %s |\n' \
                "$command" "$p" "$ROUNDS" "$median" "$min" "$max" "$(calls_text "$command" "$p")"
        done
    done
}

# ms_per_call COMMAND: median wall time at parallelism 1 over its median calls.
ms_per_call() {
    local seconds calls rest
    read -r seconds rest < <(stats "$1" 1 4)
    read -r calls rest < <(stats "$1" 1 5)
    awk -v s="$seconds" -v c="$calls" 'BEGIN { if (c > 0) printf "%.0f", 1000 * s / c; else print "n/a" }'
}

ratio_lines() {
    echo "- \`nova up\`: p1 / p10 median wall time = **$(ratio up)**"
    echo "- \`nova destroy\`: p1 / p10 median wall time = **$(ratio destroy)**"
}

raw_table() {
    echo "| command | parallelism | round | wall time (s) | AWS API calls |"
    echo "|---|---:|---:|---:|---:|"
    sort -k2,2n -k3,3n -k1,1r "$RESULTS" |
        awk '{ printf "| `nova %s` | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
}

echo
summary_table
echo
ratio_lines

# --- docs/benchmarks.md ----------------------------------------------------------
if ((WRITE)); then
    cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    mem="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    commit="$(git rev-parse --short=12 HEAD)"
    git diff --quiet HEAD -- src Cargo.toml Cargo.lock Nova.toml || commit="$commit (with uncommitted changes)"
    date_utc="$(date -u '+%Y-%m-%d %H:%M UTC')"
    rustc_version="$(rustc --version)"
    if [[ "$PROFILE" == release ]]; then
        build_text="release build (\`cargo build --release\`)"
    else
        build_text="debug build (\`cargo build\`, the script's default; see below)"
    fi
    # The section scripts/bench-realistic.sh writes (from its marker on) is kept.
    realistic=""
    if [[ -f "$DOC" ]]; then
        realistic="$(sed -n '/^<!-- realistic: /,$p' "$DOC")"
    fi
    {
        cat <<EOF
# Benchmarks: \`nova up\` and \`nova destroy\` of the full stack

Written by \`scripts/bench.sh --rounds $ROUNDS --write\`; do not edit by hand, run it again.

## Machine and run

| | |
|---|---|
| date | $date_utc |
| nova commit | \`$commit\` |
| build | $build_text, $rustc_version |
| CPU | $cpu, $(nproc) cores (\`nproc\`) |
| memory | $mem |
| kernel | $(uname -sr) |
| AWS endpoint | LocalStack $localstack_version on 127.0.0.1:$PORT (a fresh account, started by the script) |
| stack | the repository's \`Nova.toml\` at that commit: $resources resources |
| load average (1/5/15 min) | $load_before before, $load_after after |

## Results

One warm-up \`up\` + \`destroy\` ran first and is not counted (LocalStack loads
each service on its first request). The rounds alternate between parallelism 1
and 10, so a change in the machine's load affects both alike. Wall time is that
of each command as seen by the shell (process start to exit, so it includes
loading the configuration, the refresh and the plan). API calls is the count
nova prints on its last line (\`AWS API calls: N\`: every API operation nova
starts through the SDK; the SDK's own retries of one operation count once).

$(summary_table)

Ratio of the medians, parallelism 1 over parallelism 10 (the default):

$(ratio_lines)

Every round:

$(raw_table)

## How to read this

- These numbers are from **LocalStack**, not AWS. LocalStack makes NAT gateways,
  instances and other slow resources available at once; on real AWS a NAT
  gateway takes minutes to become available and minutes to delete, and
  instances take tens of seconds or more. Here the run is dominated by the
  latency of each API call (LocalStack is a single Python process on the same
  machine): at parallelism 1, the median \`nova up\` took $(ms_per_call up) ms per
  API call and the median \`nova destroy\` $(ms_per_call destroy) ms (wall time
  over calls, including nova's own work).
- The API call count depends on the stack and on how many polls each wait
  needs, so it can differ slightly between rounds; on real AWS it is expected
  to be higher (more polls while resources become ready; not measured).
- Parallelism lets independent operations overlap. On LocalStack that saves only
  the per-call latency of the overlapped calls, and LocalStack itself competes
  for the same $(nproc) cores as nova. On real AWS the long waits (NAT gateway,
  instances) would overlap as well, so the benefit there should be larger; it
  has **not** been measured against real AWS, so no number for it is claimed here.
- nova was a $PROFILE build. The script defaults to the debug build because a
  from-scratch release build of the AWS SDK crates did not finish within 15
  minutes on the 2-core machine the first numbers were taken on;
  \`scripts/bench.sh --release\` measures the release build. Against LocalStack
  nova spends its time waiting for API responses, not computing, so the build
  profile should matter little here (not measured).
- The machine was shared with other work while this ran (see the load average
  above), so treat differences of a few tenths of a second, and the ratios, as
  rough; min and max show the spread. Run it again for a second sample.
EOF
        if [[ -n "$realistic" ]]; then
            printf '\n%s\n' "$realistic"
        fi
    } >"$DOC"
    log "wrote $DOC"
fi
