#!/usr/bin/env bash
# The one set-up behind both README commands. Installs and caches everything Orchard needs:
#   1. npm dependencies (npm ci, skipped while package-lock.json is unchanged);
#   2. the trainer's Python environment (images/trainer/requirements.txt), from PyPI;
#   3. the local control plane and test tools built from Go modules with the machine's Go:
#      kube-apiserver, kube-controller-manager, kube-scheduler, etcd, helm, fake-gcs-server.
# Everything is cached by version outside the work tree (ORCHARD_CACHE, default ~/.cache/orchard),
# so a second run takes seconds. Nothing is fetched from outside the package registries.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${ORCHARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orchard}
# shellcheck source=versions.env
source "$here/versions.env"
mkdir -p "$cache"
exec 9>"$cache/.setup.lock"
flock 9 # two set-ups at once (tests and demo) would build the same thing twice

started=$SECONDS
say() { printf '[setup %3ds] %s\n' $((SECONDS - started)) "$*"; }
need() { command -v "$1" >/dev/null || { echo "setup: '$1' is required but not installed ($2)" >&2; exit 1; }; }
need node "Node.js 20 or newer"; need npm "ships with Node.js"; need go "Go 1.26 or newer"
need python3 "Python 3.10 or newer"; need flock "util-linux"
hash_of() { cat "$@" | sha256sum | cut -c1-12; }

# 1. npm dependencies
lock_hash=$(hash_of "$root/package-lock.json" "$root/.npmrc")
if [ "$(cat "$root/node_modules/.orchard-lock" 2>/dev/null)" != "$lock_hash" ]; then
  say "npm ci"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" >"$root/node_modules/.orchard-lock"
fi

# 2. The trainer's Python environment
req="$root/images/trainer/requirements.txt"
venv="$cache/venv-$(hash_of "$req")"
if [ ! -f "$venv/.complete" ]; then
  say "python venv for the trainer (catboost) → $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --progress-bar off -r "$req"
  touch "$venv/.complete"
fi
ln -sfn "$venv" "$cache/venv"

# 3. Go-built binaries. Each lands in a folder named by what produced it, then is linked into bin/.
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
mkdir -p "$cache/bin"

# go_build NAME DIR LABEL PKG... : builds in module DIR, printing progress while the compiler works.
go_build() {
  local name=$1 moddir=$2 out=$3; shift 3
  local total; total=$(cd "$moddir" && go list -deps "$@" 2>/dev/null | wc -l)
  say "building $name ($total packages; a cold build takes minutes, later runs reuse the cache)"
  local log; log=$(mktemp)
  (cd "$moddir" && go build -v -trimpath -o "$out/" "${goflags[@]}" "$@") 2>"$log" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15
    kill -0 "$pid" 2>/dev/null && say "  $name: $(grep -c . "$log" || true)/$total packages compiled"
  done
  if ! wait "$pid"; then grep -v '^[a-z0-9./_-]*$' "$log" >&2 || cat "$log" >&2; rm -f "$log"; exit 1; fi
  rm -f "$log"
}

kube_dir="$cache/build/kube-$KUBERNETES_VERSION-$(hash_of "$here/kube/go.mod" "$here/kube/go.sum")"
if [ ! -f "$kube_dir/.complete" ]; then
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  ver="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  ver="$ver -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  goflags=(-tags grpcnotrace -ldflags "-s -w $ver")
  mkdir -p "$kube_dir"
  go_build "kube-apiserver, kube-controller-manager, kube-scheduler $KUBERNETES_VERSION" "$here/kube" "$kube_dir" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
  touch "$kube_dir/.complete"
fi

etcd_dir="$cache/build/etcd-$ETCD_VERSION-$(hash_of "$here/etcd/go.mod" "$here/etcd/go.sum")"
if [ ! -f "$etcd_dir/.complete" ]; then
  goflags=(-ldflags "-s -w")
  mkdir -p "$etcd_dir"
  go_build "etcd $ETCD_VERSION" "$here/etcd" "$etcd_dir/tmp" go.etcd.io/etcd/server/v3
  mv "$etcd_dir"/tmp/* "$etcd_dir/etcd" && rmdir "$etcd_dir/tmp"
  touch "$etcd_dir/.complete"
fi

# helm and fake-gcs-server have no replace directives: `go install pkg@version` builds them as pinned.
go_install() {
  local name=$1 pkg=$2 version=$3 ldflags=$4
  local dir="$cache/build/$name-$version"
  [ -f "$dir/.complete" ] && return
  say "building $name $version"
  mkdir -p "$dir"
  GOBIN="$dir" GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version"
  touch "$dir/.complete"
}
kminor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor"
go_install fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_SERVER_VERSION" ""

for b in kube-apiserver kube-controller-manager kube-scheduler; do ln -sfn "$kube_dir/$b" "$cache/bin/$b"; done
ln -sfn "$etcd_dir/etcd" "$cache/bin/etcd"
ln -sfn "$cache/build/helm-$HELM_VERSION/helm" "$cache/bin/helm"
ln -sfn "$cache/build/fake-gcs-server-$FAKE_GCS_SERVER_VERSION/fake-gcs-server" "$cache/bin/fake-gcs-server"

say "ready (cache: $cache)"
