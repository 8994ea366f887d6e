#!/usr/bin/env bash
# Builds (once) the components of the simulated provider cluster and prints the
# directory that holds them. Binaries are cached outside the clone, keyed by
# version, so a fresh clone on the same machine finds them in seconds.
#
#   kube-apiserver, kube-controller-manager, kube-scheduler  from ci/tools (k8s.io/kubernetes)
#   kwok                                                      go install sigs.k8s.io/kwok/cmd/kwok
#   etcd                                                      from ci/tools/etcd (go.etcd.io/etcd/server/v3)
#   prometheus                                                from ci/tools/prometheus (the blocker tests ask it)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# The version a tools module requires, in a one-line or a block require.
required() { awk -v m="$1" '$1==m && $2 ~ /^v/ {print $2; exit} $1=="require" && $2==m {print $3; exit}' "$2"; }
K8S_VERSION=$(required k8s.io/kubernetes "$here/tools/go.mod")
ETCD_VERSION=$(required go.etcd.io/etcd/server/v3 "$here/tools/etcd/go.mod")
PROMETHEUS_VERSION=$(required github.com/prometheus/prometheus "$here/tools/prometheus/go.mod")
KWOK_VERSION=v0.7.0
# RECIPE changes when the way the tools are built changes, so a cache built
# the old way is not reused.
RECIPE=r2
cache=${AKASH_JANITOR_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/akash-janitor/tools/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-$RECIPE}
mkdir -p "$cache"

log() { echo "tools: $*" >&2; }

build_etcd() {
  [ -x "$cache/etcd" ] && return 0
  log "building etcd $ETCD_VERSION"
  (cd "$here/tools/etcd" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o "$cache/etcd" go.etcd.io/etcd/server/v3)
}

# Prometheus came after the cache's key was set: its version is kept beside
# it, so a cache of the same Kubernetes is reused and only Prometheus is
# built again when its version changes.
build_prometheus() {
  [ -x "$cache/prometheus" ] && [ "$(cat "$cache/prometheus.version" 2>/dev/null)" = "$PROMETHEUS_VERSION" ] && return 0
  log "building Prometheus $PROMETHEUS_VERSION (about 7 minutes the first time on 2 cores)"
  (cd "$here/tools/prometheus" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o "$cache/prometheus" github.com/prometheus/prometheus/cmd/prometheus)
  echo "$PROMETHEUS_VERSION" > "$cache/prometheus.version"
}

build_kube() {
  local missing=0
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    [ -x "$cache/$b" ] || missing=1
  done
  [ "$missing" = 1 ] || return 0
  log "building Kubernetes $K8S_VERSION control plane (about 9 minutes the first time on 2 cores)"
  # Stamp the version, as Kubernetes' own build does: /version then says
  # v1.34.4, which Helm checks against a chart's kubeVersion.
  local major minor stamp=""
  major=${K8S_VERSION#v}; major=${major%%.*}
  minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  (cd "$here/tools" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w$stamp" -o "$cache/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
}

build_kwok() {
  [ -x "$cache/kwok" ] && return 0
  log "building kwok $KWOK_VERSION"
  CGO_ENABLED=0 GOBIN="$cache" go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

# One build at a time per cache: parallel test packages may all ask at once.
exec 9>"$cache.lock"
flock 9
build_etcd
build_kube
build_kwok
build_prometheus
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok prometheus; do
  if [ ! -x "$cache/$b" ]; then
    log "FAILED: $cache/$b is missing"
    exit 1
  fi
done
echo "$cache"
