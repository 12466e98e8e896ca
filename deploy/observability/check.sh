#!/usr/bin/env bash
# make check-observability: the alert rules checked and unit-tested by promtool, the metrics the
# services register linted by promtool (Prometheus naming conventions), the AsyncAPI document held
# to the event models. The queries' metric names are checked against live /metrics by
# tests/integration/platform/test_dashboard_and_alerts_name_live_metrics.py (make test).
# promtool comes from Debian's `prometheus` package (unpacked into .local/bin, not installed as a
# service), else from `go install`.
set -euo pipefail
source "$(dirname "$0")/../local/env.sh"
cd "$ROOT"
PY="$VENV/bin/python"
[[ -x "$PY" ]] || die "no $VENV: run make install"
PROMETHEUS_GO_VERSION=v0.316.0   # the prometheus module's version when Debian's package is not there
PROMTOOL="$LOCAL/bin/promtool"

install_promtool() {
  mkdir -p "$LOCAL/bin"
  local tmp; tmp="$(mktemp -d)"
  if command -v apt-get >/dev/null; then
    [[ -n "$(apt-cache policy prometheus 2>/dev/null | grep Candidate: | grep -v none)" ]] || apt-get update -qq || true
    if (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null) && dpkg -x "$tmp"/prometheus_*.deb "$tmp/x"; then
      cp "$tmp/x/usr/bin/promtool" "$PROMTOOL"
    fi
  fi
  if [[ ! -x "$PROMTOOL" ]]; then
    command -v go >/dev/null || die "promtool needs Debian's prometheus package or go"
    log "installing promtool $PROMETHEUS_GO_VERSION with go install (a few minutes)"
    GOBIN="$LOCAL/bin" go install "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_GO_VERSION"
  fi
  rm -rf "$tmp"
}
if command -v promtool >/dev/null; then PROMTOOL="$(command -v promtool)"; fi
[[ -x "$PROMTOOL" ]] || install_promtool
log "$("$PROMTOOL" --version 2>&1 | head -1)"

"$PROMTOOL" check rules deploy/observability/alerts.yaml
(cd deploy/observability && "$PROMTOOL" test rules alerts.test.yaml)

log "promtool check metrics: what the four services register"
"$PY" -c '
import sys
import services.contributions.app, services.registry.app, services.financing.app, services.feedback.app
from prometheus_client import generate_latest
sys.stdout.write(generate_latest().decode())' | "$PROMTOOL" check metrics

log "the AsyncAPI document equals the event models; the dashboard parses"
"$PY" -m pytest -q -p no:cacheprovider tests/unit/test_asyncapi_document.py tests/unit/test_dashboard_json.py
