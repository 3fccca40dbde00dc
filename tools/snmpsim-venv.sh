#!/usr/bin/env bash
# The venv with snmpsim (the independent SNMP simulator) that the
# interoperability tests (crates/cli/tests/interop_snmpsim.rs) start; prints
# the path of its responder on the last line (point PRINTWATCH_SNMPSIM at it
# when it is not the default /opt/printwatch-ci/snmpsim-venv).
#
#   tools/snmpsim-venv.sh [VENV_DIR]
set -euo pipefail
exec "$(dirname "$0")/pinned-venv.sh" snmpsim-venv snmpsim-command-responder \
  "snmpsim==1.2.2 pysnmp==7.1.30 pysmi==2.0.0 pyasn1==0.6.5 cryptography==50.0.2" "$@"
