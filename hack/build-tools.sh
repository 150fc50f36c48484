#!/usr/bin/env bash
# Builds the real binaries the e2e, chart and lint checks run into bin/, each only when
# missing. Every tool comes from a Go module of hack/tools/ so nothing is downloaded outside
# the Go module proxy. A cold build takes about 15 minutes on 2 cores; Go caches it afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${TOOLS_BIN:-$root/bin}"
mkdir -p "$bin"
export CGO_ENABLED=0

build() { # build <binary> <module dir> <package> [ldflags]
  local name=$1 dir=$2 pkg=$3 ldflags=${4:-}
  if [ -x "$bin/$name" ] && [[ ${stale:- } != *" $name "* ]]; then
    return 0
  fi
  echo ">> building $name from $pkg (first run: several minutes, cached afterwards)"
  local start=$SECONDS
  (cd "$root/hack/tools/$dir" && go build -trimpath -ldflags="$ldflags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo ">> $name ready in $((SECONDS - start))s: $bin/$name"
}

# kube-apiserver and kubectl report the version of their module, as a release build does:
# unstamped they say v0.0.0-master, which Helm's kubeVersion check (Chart.yaml) refuses.
kube_version=$(cd "$root/hack/tools/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
kube_minor=$(echo "$kube_version" | cut -d. -f2)
kube_ldflags="-X k8s.io/component-base/version.gitVersion=$kube_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kube_minor -X k8s.io/client-go/pkg/version.gitVersion=$kube_version -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$kube_minor"

# A kube-apiserver built before the stamp is rebuilt (only the link step runs again); the new
# binary replaces the old one by a rename, so a running one is not disturbed.
stale=" "
if [ -x "$bin/kube-apiserver" ] && "$bin/kube-apiserver" --version 2>/dev/null | grep -q 'v0\.0\.0'; then
  echo ">> $bin/kube-apiserver reports v0.0.0: rebuilding it and kubectl with their version"
  stale=" kube-apiserver kubectl "
fi

# helm reports its module version and assumes the Kubernetes version of its client-go, as a
# release build (helm's Makefile) does: unstamped it says v3.22 and assumes Kubernetes 1.20,
# which the chart's kubeVersion refuses, so helm template would need --kube-version.
helm_version=$(cd "$root/hack/tools/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
helm_k8s_minor=$(cd "$root/hack/tools/helm" && go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags="$helm_ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
if [ -x "$bin/helm" ] && [ "$("$bin/helm" version --template '{{.Version}}' 2>/dev/null)" != "$helm_version" ]; then
  echo ">> $bin/helm does not report $helm_version: rebuilding it with its version"
  stale="$stale helm "
fi

# hack/tools/cert-manager's main is the project's own code: always built (from Go's cache an
# unchanged one is a link step), so a change to it is never left unbuilt.
stale="$stale cert-manager "

want=${*:-etcd kube-apiserver kube-controller-manager kubectl helm controller-gen golangci-lint}
for tool in $want; do
  case $tool in
    etcd) build etcd etcd go.etcd.io/etcd/server/v3 ;;
    kube-apiserver) build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags" ;;
    kubectl) build kubectl kube k8s.io/kubernetes/cmd/kubectl "$kube_ldflags" ;;
    # The Deployment and ReplicaSet controllers, for the tests that roll workloads out.
    kube-controller-manager) build kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags" ;;
    # The node of make cluster (hack/cluster.sh); never part of the default set, so make test
    # on a machine without containerd does not build them (make node-tools does).
    kube-scheduler) build kube-scheduler kube k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags" ;;
    kubelet) build kubelet kube k8s.io/kubernetes/cmd/kubelet "$kube_ldflags" ;;
    kube-proxy) build kube-proxy kube k8s.io/kubernetes/cmd/kube-proxy "$kube_ldflags" ;;
    # cert-manager's controllers and CA injector for make playground (hack/tools/cert-manager).
    cert-manager) build cert-manager cert-manager . ;;
    helm) build helm helm helm.sh/helm/v3/cmd/helm "$helm_ldflags" ;;
    controller-gen) build controller-gen controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen ;;
    golangci-lint) build golangci-lint golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
    # The engines make bench-peers compares with; never part of the default set (make test).
    gatekeeper) build gatekeeper gatekeeper github.com/open-policy-agent/gatekeeper/v3 ;;
    kyverno) build kyverno kyverno github.com/kyverno/kyverno/cmd/kyverno ;;
    *) echo "unknown tool: $tool" >&2; exit 2 ;;
  esac
done
