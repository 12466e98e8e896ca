#!/usr/bin/env bash
# make check-openapi: the four services' OpenAPI documents (docs/openapi/, held equal to what the services
# serve) validated by openapi-spec-validator (PyPI) and linted by Redocly's CLI (npm, package.json) with
# its `recommended` rules: any error fails. npm installs the CLI into node_modules/ the first time and
# after a change of package-lock.json; Node.js comes from Debian's packages when missing.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
PY="$VENV/bin/python"
[[ -x "$PY" ]] || die "no $VENV: run make install"

if ! command -v npm >/dev/null; then
  [[ $EUID -eq 0 ]] || die "npm is missing (Redocly's CLI needs Node.js 20.19+): apt-get install nodejs npm"
  log "installing Node.js and npm from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [[ ! node_modules/.package-lock.json -nt package-lock.json ]]; then
  log "installing package.json's packages (npm ci)"
  npm ci --no-audit --no-fund --ignore-scripts >/dev/null
fi

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$PY" -m services.common.openapi "$tmp"
diff -r -q "$tmp" docs/openapi >/dev/null || die "docs/openapi/ differs from what the services serve: run make openapi"
log "openapi-spec-validator: docs/openapi/*.json"
"$PY" -m openapi_spec_validator docs/openapi/*.json
log "redocly lint --extends=recommended: docs/openapi/*.json"
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  node_modules/.bin/redocly lint --extends=recommended --format=stylish docs/openapi/*.json
