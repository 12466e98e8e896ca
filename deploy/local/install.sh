#!/usr/bin/env bash
# Installs the Python environment (.venv) from pyproject.toml, once per change of that file.
set -euo pipefail
source "$(dirname "$0")/env.sh"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "Python 3.11+ is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11"
stamp="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [[ -f "$VENV/.stamp" && "$(cat "$VENV/.stamp")" == "$stamp" ]]; then exit 0; fi
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV" 2>/dev/null || {
    [[ $EUID -eq 0 ]] || die "python3-venv is missing: apt-get install python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$PY" -m venv "$VENV"
  }
fi
log "installing Python dependencies into $VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e "$ROOT[dev]"
echo "$stamp" >"$VENV/.stamp"
