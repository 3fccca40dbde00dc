#!/usr/bin/env bash
# The venv with schemathesis (a property-based API tester) that the server's
# API fuzz test (crates/server/tests/openapi_fuzz.rs) runs; prints the path
# of its executable on the last line.
#
#   tools/schemathesis-venv.sh [VENV_DIR]
set -euo pipefail
exec "$(dirname "$0")/pinned-venv.sh" schemathesis-venv schemathesis "schemathesis==4.32.5" "$@"
