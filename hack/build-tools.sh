#!/usr/bin/env bash
# Builds the real binaries the e2e, chart and lint checks run into bin/, each only when
# missing. Every tool comes from a Go module of hack/tools/ so nothing is downloaded outside
# the Go module proxy. A cold build takes about 15 minutes on 2 cores; Go caches it afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
mkdir -p "$bin"
export CGO_ENABLED=0

build() { # build <binary> <module dir> <package>
  local name=$1 dir=$2 pkg=$3
  if [ -x "$bin/$name" ]; then
    return 0
  fi
  echo ">> building $name from $pkg (first run: several minutes, cached afterwards)"
  local start=$SECONDS
  (cd "$root/hack/tools/$dir" && go build -trimpath -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo ">> $name ready in $((SECONDS - start))s: $bin/$name"
}

want=${*:-etcd kube-apiserver kubectl helm controller-gen golangci-lint}
for tool in $want; do
  case $tool in
    etcd) build etcd etcd go.etcd.io/etcd/server/v3 ;;
    kube-apiserver) build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver ;;
    kubectl) build kubectl kube k8s.io/kubernetes/cmd/kubectl ;;
    helm) build helm helm helm.sh/helm/v3/cmd/helm ;;
    controller-gen) build controller-gen controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen ;;
    golangci-lint) build golangci-lint golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
    *) echo "unknown tool: $tool" >&2; exit 2 ;;
  esac
done
