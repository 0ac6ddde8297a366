#!/usr/bin/env bash
# Make sure the pinned Python tools (ruff, mypy, pytest, boto3 + stubs, see
# requirements-dev.txt) are installed in the gitignored venv .venv/tools.
# Idempotent and fast when nothing changed (a stamp keyed on the hash of
# requirements-dev.txt and the Python version).  Used by scripts/test.sh and
# .ci/run; afterwards run the tools as .venv/tools/bin/<tool>.
#
# Environment: NOVA_TOOLS_PYTHON  interpreter for the venv (default python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${NOVA_TOOLS_PYTHON:-python3}"
REQUIREMENTS="$ROOT/requirements-dev.txt"
VENV="$ROOT/.venv/tools"
STAMP="$VENV/.nova-install-stamp"

command -v "$PYTHON" >/dev/null 2>&1 || {
    echo "python-tools.sh: error: '$PYTHON' not found (set NOVA_TOOLS_PYTHON)" >&2
    exit 1
}

key="$({
    "$PYTHON" -c 'import sys; print(sys.version)'
    cat "$REQUIREMENTS"
} | sha256sum | cut -d' ' -f1)"

up_to_date() {
    [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$key" ]]
}

up_to_date && exit 0

mkdir -p "$ROOT/.venv"
exec 8>"$ROOT/.venv/tools.install.lock"
flock 8
up_to_date && exit 0

started=$SECONDS
echo "python-tools.sh: installing requirements-dev.txt into $VENV ..."
rm -f "$STAMP"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
    --requirement "$REQUIREMENTS"
echo "$key" >"$STAMP"
echo "python-tools.sh: installed in $((SECONDS - started)) s:" \
    "$("$VENV/bin/ruff" --version), $("$VENV/bin/mypy" --version)," \
    "$("$VENV/bin/pytest" --version 2>&1)"
