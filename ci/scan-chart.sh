#!/usr/bin/env bash
# The scanners a platform team points at a chart, on what the chart renders
# (its defaults and charts/akash-janitor/ci/*-values.yaml): kubeconform,
# strict, against schemas written offline from the OpenAPI document of the
# k8s.io/kubernetes module the simulated cluster is built from (ci/tools),
# and kube-score with ci/lint/kube-score-allow.txt. Both are built from the
# versions ci/lint/go.mod pins, cached by its go.sum outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${XDG_CACHE_HOME:-$HOME/.cache}/akash-janitor"
sum=$(sha256sum ci/lint/go.sum | cut -c1-12)
bin="$cache/chartscan-$sum"
if [ ! -x "$bin/kube-score" ] || [ ! -x "$bin/kubeconform" ]; then
  echo "scan-chart: building kube-score and kubeconform into $bin"
  mkdir -p "$bin.tmp"
  (cd ci/lint && go build -trimpath -o "$bin.tmp/" \
    github.com/zegl/kube-score/cmd/kube-score github.com/yannh/kubeconform/cmd/kubeconform)
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
fi

k8s=$(cd ci/tools && go list -m -f '{{.Version}}' k8s.io/kubernetes)
(cd ci/tools && go mod download k8s.io/kubernetes)
dir=$(cd ci/tools && go list -m -f '{{.Dir}}' k8s.io/kubernetes)

exec go run ./ci/chartscan \
  -kube-score "$bin/kube-score" -kubeconform "$bin/kubeconform" \
  -openapi "$dir/api/openapi-spec/swagger.json" -schemas "$cache/k8s-schemas-$k8s-r1" \
  -kube-version "$k8s" -allow ci/lint/kube-score-allow.txt
