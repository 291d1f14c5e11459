#!/usr/bin/env bash
# Fetches the upstream reference files the offline tests validate against, at pinned commits,
# for checkouts that lack ../shared/schemas (e.g. GitHub Actions). Same layout as shared/schemas.
#   scripts/fetch-schemas.sh [target-dir]     (default: ../shared/schemas)
set -euo pipefail
target="${1:-$(dirname "$0")/../../shared/schemas}"
fetch() {  # repo commit path-in-repo local-path
  mkdir -p "$target/$(dirname "$4")"
  curl --fail --silent --show-error --location -o "$target/$4" "https://raw.githubusercontent.com/$1/$2/$3"
}
# nvidia-device-plugin chart 0.20.0 (tag v0.20.0)
nvidia=1b826acc6af3079d8923bac395c3124b8861a9a6
fetch NVIDIA/k8s-device-plugin $nvidia deployments/helm/nvidia-device-plugin/values.yaml nvidia-device-plugin/values.yaml
fetch NVIDIA/k8s-device-plugin $nvidia deployments/helm/nvidia-device-plugin/Chart.yaml nvidia-device-plugin/Chart.yaml
# JupyterHub chart 4.4.0 (tag 4.4.0): values, values schema, Chart.yaml
jupyterhub=5c5f5df751588a68a7781ead01d0f62e88e2e72f
for file in values.yaml values.schema.yaml Chart.yaml; do
  fetch jupyterhub/zero-to-jupyterhub-k8s $jupyterhub "jupyterhub/$file" "jupyterhub/$file"
done
# Qdrant chart 1.19.0 (tag qdrant-1.19.0): it ships no values schema
qdrant=a7aeeb7121b0019723990f4bd3c1f79be4ecaada
for file in values.yaml Chart.yaml; do
  fetch qdrant/qdrant-helm $qdrant "charts/qdrant/$file" "qdrant/$file"
done
# Skupper 2.2.1 CRDs (tag 2.2.1), renamed to <kind>.yaml
skupper=5f1ada1125b877826d789cc587582a78167d0e99
for kind in access_grant access_token attached_connector attached_connector_binding certificate connector link listener \
            multikeylistener router_access secured_access site; do
  fetch skupperproject/skupper $skupper "config/crd/bases/skupper_${kind}_crd.yaml" "skupper/${kind//_/}.yaml"
done
echo "reference schemas in $target"
