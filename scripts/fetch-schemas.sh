#!/usr/bin/env bash
# Fetches the CRDs the offline tests validate custom resources against, at pinned commits,
# for checkouts that lack ../shared/schemas (e.g. GitHub Actions). Same layout as shared/schemas.
#   scripts/fetch-schemas.sh [target-dir]     (default: ../shared/schemas)
set -euo pipefail
target="${1:-$(dirname "$0")/../../shared/schemas}"
fetch() {  # repo commit path-in-repo local-path
  mkdir -p "$target/$(dirname "$4")"
  curl --fail --silent --show-error --location -o "$target/$4" "https://raw.githubusercontent.com/$1/$2/$3"
}
# Charts' values, values schemas and Chart.yaml come with the chart archives, pulled at the pins of
# infra/charts.py by scripts/fetch_charts.py: no second list of chart versions here.
# Skupper 2.2.1 CRDs (tag 2.2.1), renamed to <kind>.yaml
skupper=5f1ada1125b877826d789cc587582a78167d0e99
for kind in access_grant access_token attached_connector attached_connector_binding certificate connector link listener \
            multikeylistener router_access secured_access site; do
  fetch skupperproject/skupper $skupper "config/crd/bases/skupper_${kind}_crd.yaml" "skupper/${kind//_/}.yaml"
done
echo "reference schemas in $target"
