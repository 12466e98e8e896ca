#!/usr/bin/env bash
# make check-deploy: the Helm chart linted and rendered, every rendered manifest validated against
# Kubernetes' schemas, the operator examples against their CRDs, the compose file against the
# Compose Specification (tests/deploy/). Helm is installed with `go install` when missing.
set -euo pipefail
source "$(dirname "$0")/local/env.sh"
cd "$ROOT"
HELM_VERSION=v4.3.2
KUBERNETES_VERSION=1.30.0     # one kubernetes-validate ships schemas for; the chart's oldest target
CHART=deploy/helm/osms
PY="$VENV/bin/python"
[[ -x "$PY" ]] || die "no $VENV: run make install"

# The helm binary at the pinned version: one built by `go install` says its module version.
helm_is_pinned() { [[ -x "$1" ]] && go version -m "$1" 2>/dev/null | grep -q "mod[[:space:]]*helm.sh/helm/v4[[:space:]]*$HELM_VERSION"; }
command -v go >/dev/null || die "go is required to install helm"
HELM="$(go env GOPATH)/bin/helm"
if ! helm_is_pinned "$HELM"; then
  log "installing helm $HELM_VERSION with go install (a few minutes)"
  go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  helm_is_pinned "$HELM" || die "go install did not produce helm $HELM_VERSION at $HELM"
fi
export HELM

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# The defaults, then each values file of the chart's ci/ folder.
for values in "" "$CHART"/ci/*-values.yaml; do
  label="${values:+$(basename "$values" -values.yaml)}"; label="${label:-default}"
  log "helm lint --strict $CHART ($label values)"
  "$HELM" lint --strict "$CHART" ${values:+-f "$values"} >"$out/lint-$label.txt" 2>&1 || { cat "$out/lint-$label.txt"; die "helm lint failed ($label values)"; }
  "$HELM" template osms "$CHART" --namespace osms --kube-version "$KUBERNETES_VERSION" ${values:+-f "$values"} \
    >"$out/render-$label.yaml"
done

log "validating the rendered manifests against Kubernetes $KUBERNETES_VERSION and the examples against their CRDs"
"$PY" tests/deploy/k8s_manifests.py --kubernetes-version "$KUBERNETES_VERSION" "$out"/render-*.yaml deploy/helm/examples/*.yaml \
  >"$out/validate.txt" || { grep -v '^ok ' "$out/validate.txt"; die "invalid manifests"; }
tail -1 "$out/validate.txt"

log "tests/deploy: compose file, operator examples, chart"
# --confcutdir: only tests/deploy's conftest, not the suite's (which starts PostgreSQL and Kafka).
# -o addopts: without the suite's --ignore of tests/deploy, which runs here, where helm is installed.
"$PY" -m pytest -q -p no:cacheprovider --confcutdir=tests/deploy -o addopts="-ra --strict-markers" tests/deploy
