#!/usr/bin/env bash
# Run PyCap's own integration tests and doctests against the sandbox (not part of make test).
#
#   scripts/pycap_suite.sh PYCAP_DIR
#
# PYCAP_DIR is PyCap's public repository at tag 2.7.0, exported as files (PyCap's sdist on
# PyPI has no tests/ folder and its redcap/conftest.py imports them, so it cannot be used).
# With a clone:  git -C pycap archive 2.7.0 | tar -x -C /tmp/pycap-2.7.0
# Needs the project's .venv (make install). A second venv (PYCAP_WORK/venv, default a temp
# folder) gets PyCap's test dependencies from PyPI: pandas 2 (PyCap 2.7.0 asks for ^2.0),
# requests, semantic-version, pytest, pytest-doctestplus (PyCap's CI runs its doctests with
# `pytest --doctest-only --doctest-plus`). No other network: the sandbox listens on
# 127.0.0.1 and scripts/pycap_on_sandbox.py points PyCap's fixtures at it.
#
# Doctests run without FAIL_FAST and with --doctest-continue-on-failure, so that every
# example is tried and counted (the plugin prints "doctest examples: N of M passed").
# Exit status: 0 when both runs pass.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1/tests/integration/conftest.py" ]; then
    echo "usage: $0 PYCAP_DIR (PyCap's repository files at tag 2.7.0, with tests/)" >&2
    exit 2
fi
PYCAP_DIR=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${PYCAP_WORK:-$(mktemp -d)}
VENV="$WORK/venv"
if [ ! -x "$ROOT/.venv/bin/sgbm-redcap" ]; then
    echo "the project's .venv is missing: run make install first" >&2
    exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "pandas>=2,<3" requests semantic-version pytest \
        pytest-doctestplus
fi

SUPER=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32).upper())')
rm -rf "$WORK/sandbox"
SGBM_SANDBOX_SUPER_TOKEN=$SUPER "$ROOT/.venv/bin/sgbm-redcap" sandbox serve --port 0 \
    --data "$WORK/sandbox" --public-url https://redcapdemo.vumc.org/ > "$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
URL=""
for _ in $(seq 1 600); do  # up to a minute: a loaded machine imports slowly
    URL=$(grep -o 'http://127.0.0.1:[0-9]*/api/' "$WORK/serve.log" || true)
    [ -n "$URL" ] && break
    sleep 0.1
done
if [ -z "$URL" ]; then
    echo "the sandbox did not start:" >&2
    cat "$WORK/serve.log" >&2
    exit 1
fi

cd "$PYCAP_DIR"
export REDCAPDEMO_SUPERUSER_TOKEN=$SUPER PYCAP_SANDBOX_URL=$URL
export PYTHONPATH="$ROOT/scripts"  # only the plugin: PyCap imports its own tests/ and redcap/
status=0
echo "== PyCap integration tests against $URL"
"$VENV/bin/python" -m pytest -p pycap_on_sandbox -o addopts="" -q -rf tests/integration \
    || status=1
echo "== PyCap doctests against $URL"
"$VENV/bin/python" -m pytest -p pycap_on_sandbox -o addopts="" \
    -o doctest_optionflags="NORMALIZE_WHITESPACE ELLIPSIS REPORT_NDIFF" \
    --doctest-continue-on-failure --doctest-only --doctest-plus -q -rf redcap || status=1
exit $status
