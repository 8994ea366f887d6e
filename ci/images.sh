#!/usr/bin/env bash
# Builds (and pushes) one distroless-style image per janitor binary, for each
# platform, with podman (or docker buildx).
#
#   ci/images.sh build [binary ...]   default: every binary under jobs/
#   ci/images.sh push  [binary ...]
#
# REGISTRY (default ghcr.io/akash-janitor), VERSION (git describe),
# PLATFORMS (default "linux/amd64 linux/arm64"), CONTAINER (podman or docker).
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-build}; shift || true
REGISTRY=${REGISTRY:-ghcr.io/akash-janitor}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64}
CONTAINER=${CONTAINER:-$(command -v podman || command -v docker || true)}
[ -n "$CONTAINER" ] || { echo "images: podman or docker is required" >&2; exit 1; }
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
  for d in jobs/*/; do binaries+=("$(basename "$d")"); done
fi

# The base: what distroless static-nonroot provides, from this machine's
# Debian packages (ca-certificates, tzdata).
rootfs() {
  local dir=$1
  rm -rf "$dir" && mkdir -p "$dir/etc/ssl/certs" "$dir/usr/share" "$dir/home/nonroot" "$dir/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$dir/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
  cp -r /usr/share/zoneinfo "$dir/usr/share/"
}

build() {
  for platform in $PLATFORMS; do
    local arch=${platform#linux/}
    local ctx="dist/image/$arch"
    rootfs "$ctx/rootfs"
    local ldflags="-s -w -X github.com/akash-janitor/akash-janitor/lib/version.Version=$VERSION -X github.com/akash-janitor/akash-janitor/lib/version.Commit=$REVISION"
    for bin in "${binaries[@]}"; do
      CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "$ldflags" -o "$ctx/$bin" "./jobs/$bin"
      # A job's companion binaries (jobs/<job>/<name>/main.go, such as
      # bid-price-script) go in the same image, under /usr/local/bin.
      rm -rf "$ctx/$bin.bin" && mkdir -p "$ctx/$bin.bin"
      for extra in jobs/"$bin"/*/main.go; do
        [ -e "$extra" ] || continue
        local dir; dir=$(dirname "$extra")
        CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "$ldflags" -o "$ctx/$bin.bin/$(basename "$dir")" "./$dir"
      done
    done
  done
  for bin in "${binaries[@]}"; do
    local image="$REGISTRY/$bin:$VERSION"
    if [ "$(basename "$CONTAINER")" = podman ]; then
      "$CONTAINER" manifest rm "$image" >/dev/null 2>&1 || true
      "$CONTAINER" manifest create "$image" >/dev/null
      for platform in $PLATFORMS; do
        local arch=${platform#linux/}
        "$CONTAINER" build -q --platform "$platform" -f images/Dockerfile \
          --build-arg BINARY="$bin" --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
          -t "$image-$arch" "dist/image/$arch" >/dev/null
        "$CONTAINER" manifest add "$image" "containers-storage:$image-$arch" >/dev/null
      done
    else
      for platform in $PLATFORMS; do
        local arch=${platform#linux/}
        "$CONTAINER" buildx build --platform "$platform" -f images/Dockerfile \
          --build-arg BINARY="$bin" --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
          -t "$image-$arch" --load "dist/image/$arch"
      done
    fi
    echo "$image ($PLATFORMS)"
  done
}

push() {
  for bin in "${binaries[@]}"; do
    local image="$REGISTRY/$bin:$VERSION"
    if [ "$(basename "$CONTAINER")" = podman ]; then
      "$CONTAINER" manifest push --all "$image" "docker://$image"
    else
      local refs=()
      for platform in $PLATFORMS; do
        "$CONTAINER" push "$image-${platform#linux/}"
        refs+=("$image-${platform#linux/}")
      done
      "$CONTAINER" manifest create --amend "$image" "${refs[@]}"
      "$CONTAINER" manifest push "$image"
    fi
  done
}

case "$cmd" in
  build) build ;;
  push) push ;;
  *) echo "usage: ci/images.sh build|push [binary ...]" >&2; exit 2 ;;
esac
