#!/usr/bin/env bash
# Makes the Python venv with snmpsim (the independent SNMP simulator) that the
# interoperability tests (crates/cli/tests/interop_snmpsim.rs) start, and
# prints the path of its responder on the last line of standard output.
#
#   tools/snmpsim-venv.sh [VENV_DIR]
#
# Default VENV_DIR: /opt/printwatch-ci/snmpsim-venv when we may write there
# (the tests' default), else ~/.cache/printwatch/snmpsim-venv (then point
# PRINTWATCH_SNMPSIM at the printed path). Made with the system python
# (/usr/bin/python3, Debian: python3-venv): run as root, the responder drops
# privileges to nobody, so the venv must be world-readable. Created only if
# missing; the pinned versions are installed again when the pins change.
set -euo pipefail
umask 022

PINS="snmpsim==1.2.2 pysnmp==7.1.30 pysmi==2.0.0 pyasn1==0.6.5 cryptography==50.0.2"
PYTHON=/usr/bin/python3

if [ $# -ge 1 ]; then
  VENV="$1"
elif [ "$(id -u)" = 0 ] || { mkdir -p /opt/printwatch-ci 2>/dev/null && [ -w /opt/printwatch-ci ]; }; then
  VENV=/opt/printwatch-ci/snmpsim-venv
else
  VENV="${XDG_CACHE_HOME:-$HOME/.cache}/printwatch/snmpsim-venv"
fi
RESPONDER="$VENV/bin/snmpsim-command-responder"
STAMP="$VENV/.printwatch-pins"

if [ -x "$RESPONDER" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$PINS" ]; then
  echo "snmpsim venv up to date: $VENV" >&2
else
  [ -x "$PYTHON" ] || { echo "error: $PYTHON missing (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
  mkdir -p "$(dirname "$VENV")"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating the snmpsim venv in $VENV" >&2
    "$PYTHON" -m venv "$VENV"
  fi
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS >&2
  echo "$PINS" > "$STAMP"
  chmod -R a+rX "$VENV"
fi
"$RESPONDER" --version >&2 || true
echo "$RESPONDER"
