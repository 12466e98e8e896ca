#!/usr/bin/env bash
# Copies the browser libraries named in package.json (npm) into the Python packages that serve them:
# Swagger UI and ReDoc for every service's /docs and /redoc (services/common/static/swagger-ui, redoc) and ECharts for the console
# (services/console/static/vendor). The copies are committed, so running the system needs no npm and
# no network; run this (make vendor) after changing a version in package.json, and commit the result.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
# The versions package-lock.json pins (npm install writes it the first time or after a change).
if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund --ignore-scripts >/dev/null
else npm install --no-audit --no-fund --ignore-scripts >/dev/null; fi
swagger="services/common/static/swagger-ui" redoc="services/common/static/redoc" charts="services/console/static/vendor"
mkdir -p "$swagger" "$redoc" "$charts"
cp node_modules/swagger-ui-dist/{swagger-ui-bundle.js,swagger-ui.css,favicon-32x32.png,LICENSE,NOTICE} "$swagger/"
cp node_modules/redoc/bundles/{redoc.standalone.js,redoc.standalone.js.LICENSE.txt} node_modules/redoc/LICENSE "$redoc/"
cp node_modules/echarts/dist/echarts.min.js "$charts/"
cp node_modules/echarts/LICENSE "$charts/echarts.LICENSE"
for pkg in swagger-ui-dist redoc echarts; do
  printf '%s %s\n' "$pkg" "$(node -p "require('./node_modules/$pkg/package.json').version")"
done >services/common/static/VENDORED
log "vendored: $(tr '\n' ' ' <services/common/static/VENDORED)"
