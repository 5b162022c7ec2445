#!/usr/bin/env bash
# Validates deploy/k8s/*.yaml offline against the Kubernetes OpenAPI schemas (kubernetes-validate from
# PyPI, strict: unknown fields fail) and checks that kustomization.yaml lists every manifest.
# The venv is cached in $TP_K8S_VALIDATE_VENV (default /var/cache/tp-capital/k8s-validate-venv).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=1.34.1
KUBERNETES=${TP_K8S_VERSION:-1.34}
VENV=${TP_K8S_VALIDATE_VENV:-/var/cache/tp-capital/k8s-validate-venv}
PYTHON=$(command -v /usr/bin/python3 || command -v python3)

if ! "$VENV/bin/pip" show kubernetes-validate 2>/dev/null | grep -qx "Version: $VERSION"; then
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$VERSION"
fi

cd "$ROOT/deploy/k8s"
manifests=()
for f in *.yaml; do
  [[ $f == kustomization.yaml ]] || manifests+=("$f")
done
"$VENV/bin/kubernetes-validate" --strict --kubernetes-version "$KUBERNETES" "${manifests[@]}"
for f in "${manifests[@]}"; do
  [[ $f == *.example.yaml ]] && continue
  grep -qx "  - $f" kustomization.yaml || { echo "deploy/k8s/$f is not listed in kustomization.yaml" >&2; exit 1; }
done
echo "ok: ${#manifests[@]} manifests valid for Kubernetes $KUBERNETES"
