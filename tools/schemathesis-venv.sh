#!/usr/bin/env bash
# Makes the Python venv with schemathesis (a property-based API tester) that
# the server's API fuzz test (crates/server/tests/openapi_fuzz.rs) runs, and
# prints the path of its executable on the last line of standard output.
#
#   tools/schemathesis-venv.sh [VENV_DIR]
#
# Default VENV_DIR: /opt/printwatch-ci/schemathesis-venv when we may write
# there (the test's default), else ~/.cache/printwatch/schemathesis-venv
# (also looked at by the test). Created only if missing; the pinned version
# is installed again when the pin changes.
set -euo pipefail
umask 022

PINS="schemathesis==4.32.5"
PYTHON=/usr/bin/python3

if [ $# -ge 1 ]; then
  VENV="$1"
elif [ "$(id -u)" = 0 ] || { mkdir -p /opt/printwatch-ci 2>/dev/null && [ -w /opt/printwatch-ci ]; }; then
  VENV=/opt/printwatch-ci/schemathesis-venv
else
  VENV="${XDG_CACHE_HOME:-$HOME/.cache}/printwatch/schemathesis-venv"
fi
EXE="$VENV/bin/schemathesis"
STAMP="$VENV/.printwatch-pins"

if [ -x "$EXE" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$PINS" ]; then
  echo "schemathesis venv up to date: $VENV" >&2
else
  [ -x "$PYTHON" ] || { echo "error: $PYTHON missing (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
  mkdir -p "$(dirname "$VENV")"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating the schemathesis venv in $VENV" >&2
    "$PYTHON" -m venv "$VENV"
  fi
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS >&2
  echo "$PINS" > "$STAMP"
fi
"$EXE" --version >&2 || true
echo "$EXE"
