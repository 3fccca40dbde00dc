#!/usr/bin/env bash
# Makes (or refreshes) a Python venv of pinned packages for the tests that
# need a real Python tool, and prints the path of its executable on the last
# line of standard output. Called by tools/snmpsim-venv.sh and
# tools/schemathesis-venv.sh, which name what goes in.
#
#   tools/pinned-venv.sh NAME EXECUTABLE "PINS" [VENV_DIR]
#
# Default VENV_DIR: /opt/printwatch-ci/NAME when we may write there (the
# tests' default), else ~/.cache/printwatch/NAME. Made with the system python
# (/usr/bin/python3, Debian: python3-venv), world-readable (snmpsim's
# responder, run as root, drops privileges to nobody). Created only if
# missing; the pins are installed again when they change.
set -euo pipefail
umask 022

NAME="$1" EXECUTABLE="$2" PINS="$3"
PYTHON=/usr/bin/python3

if [ $# -ge 4 ]; then
  VENV="$4"
elif [ "$(id -u)" = 0 ] || { mkdir -p /opt/printwatch-ci 2>/dev/null && [ -w /opt/printwatch-ci ]; }; then
  VENV="/opt/printwatch-ci/$NAME"
else
  VENV="${XDG_CACHE_HOME:-$HOME/.cache}/printwatch/$NAME"
fi
EXE="$VENV/bin/$EXECUTABLE"
STAMP="$VENV/.printwatch-pins"

if [ -x "$EXE" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$PINS" ]; then
  echo "$NAME up to date: $VENV" >&2
else
  [ -x "$PYTHON" ] || { echo "error: $PYTHON missing (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
  mkdir -p "$(dirname "$VENV")"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $NAME in $VENV" >&2
    "$PYTHON" -m venv "$VENV"
  fi
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS >&2
  echo "$PINS" > "$STAMP"
  chmod -R a+rX "$VENV"
fi
"$EXE" --version >&2 || true
echo "$EXE"
