#!/usr/bin/env bash
# make playground / make playground-stop: the real single-node cluster of make cluster, made
# ready for the README's Install section and installed by it.
# Usage: hack/playground.sh start|stop [DIR]   (DIR defaults to tmp/playground)
#
# start brings the node up (hack/cluster.sh) with the image of make image imported, and gives
# it what the install command assumes of a cluster: the consul-k8s CRDs (the Consul chart's
# part), cert-manager (its controllers and CA injector, built from its Go module as
# bin/cert-manager and run beside the node, as kube-controller-manager is) and the image
# under the name the command sets (no registry is reachable: the imported image is tagged
# so). It then runs the README's install command itself, read from README.md, unchanged;
# waits until the webhook refuses a mistake; and applies examples/valid beside a stand-in for
# the Consul chart's mesh gateway (its labels and annotation, the node's pause image: no
# Consul runs here). Needs root, like make cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CLUSTER_BIN:-$root/bin}
dir=${2:-${PLAYGROUND_DIR:-$root/tmp/playground}}
mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
cluster=$dir/cluster

log() { echo ">> $*" >&2; }
die() { echo "playground: $*" >&2; exit 1; }
running() { [ -s "$cluster/pid/kube-apiserver" ] && kill -0 "$(cat "$cluster/pid/kube-apiserver")" 2>/dev/null; }
in_node() { nsenter --net="$cluster/ns/net" --mount="$cluster/ns/mnt" -- "$@"; }

# install_command prints the sh block that follows <!-- install-command --> in README.md.
install_command() {
  awk '/<!-- install-command -->/ {marked = 1; next}
    marked && /^```sh/ {inside = 1; next}
    inside && /^```/ {exit}
    inside {print}' "$root/README.md"
}

# setting NAME prints the value the install command gives NAME with --set NAME=VALUE.
setting() { install_command | { grep -o -- "--set $1=[^ ]*" || true; } | head -n 1 | cut -d= -f2-; }

# wait_until WHAT SECONDS CMD...
wait_until() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS <= deadline)) || die "$what not within ${seconds}s; logs in $dir and $cluster/log"
    sleep 1
  done
}

# refuses_mistake: the webhook answers through the API server and refuses a Mesh by its name.
refuses_mistake() {
  local out
  out=$(kubectl apply --dry-run=server -f "$root/examples/mistakes/mesh-wrong-name/" 2>&1) || true
  [[ $out == *"(mesh-name)"* ]]
}

# The mesh gateway the Consul chart runs (test/framework/chart-mesh-gateway.yaml, which the
# tests apply too) with the node's pause image: the webhook sees a gateway with a ready replica.
gateway_stand_in() {
  sed "s|image: [^}]*|image: $(cat "$cluster/pause-image"), imagePullPolicy: Never|" "$root/test/framework/chart-mesh-gateway.yaml"
}

# diagnose prints what a failed start leaves to read, before stop removes it.
diagnose() {
  echo "--- the playground did not start; what it had:"
  if [ -s "$cluster/kubeconfig" ]; then
    "$bin/kubectl" --kubeconfig "$cluster/kubeconfig" get pods,certificates,certificaterequests,issuers -A -o wide 2>&1 || true
    "$bin/kubectl" --kubeconfig "$cluster/kubeconfig" describe pods --all-namespaces 2>&1 | tail -n 60 || true
  fi
  for f in "$dir/install.log" "$dir/cert-manager.log"; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
  done
  return 0
}

start() {
  if running; then
    echo "The playground is already running."
    cat "$dir/ready" 2>/dev/null || true
    return 0
  fi
  if [ -d "$cluster" ]; then
    "$root/hack/cluster.sh" down "$cluster" >&2
  fi
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  trap 'status=$?; trap - EXIT; if [ $status -ne 0 ]; then diagnose >&2; stop >&2; fi; exit $status' EXIT
  "$root/hack/node-packages.sh" >&2
  local image
  image=$bin/image/consul-peering-guard-linux-$(cd "$root" && go env GOARCH).tar
  [ -f "$image" ] || die "no image: make image writes $image"
  [ -x "$bin/cert-manager" ] || die "no $bin/cert-manager: make node-tools builds it"
  local command release namespace repository tag
  command=$(install_command)
  [ -n "$command" ] || die "README.md has no sh block after <!-- install-command -->"
  release=$(echo "$command" | grep -o 'helm install [^ ]*' | head -n 1 | cut -d' ' -f3)
  namespace=$(echo "$command" | grep -o -- '--namespace [^ ]*' | head -n 1 | cut -d' ' -f2)
  repository=$(setting image.repository)
  tag=$(setting image.tag)
  [ -n "$release" ] && [ -n "$namespace" ] && [ -n "$repository" ] && [ -n "$tag" ] ||
    die "the install command names no release, namespace, image.repository or image.tag: $command"

  CLUSTER_IMAGES=$image "$root/hack/cluster.sh" up "$cluster" >"$dir/cluster.txt"
  export KUBECONFIG=$cluster/kubeconfig
  export PATH=$dir/bin:$PATH
  ln -s "$bin/kubectl" "$bin/helm" "$dir/bin/"
  (cd "$root" && go build -o "$dir/bin/consul-peering-guard" ./cmd/consul-peering-guard)

  log "the image as $repository:$tag (no registry: imported, never pulled)"
  local ctr=(ctr --address "$cluster/containerd/containerd.sock" -n k8s.io) built
  built=$(in_node "${ctr[@]}" images ls -q | grep '/consul-peering-guard:' | head -n 1)
  [ -n "$built" ] || die "the imported image is not in the node's containerd"
  in_node "${ctr[@]}" images tag --force "$built" "$repository:$tag" >/dev/null
  in_node "${ctr[@]}" images ls -q | grep '/pause:' | head -n 1 >"$cluster/pause-image"

  log "the consul-k8s CRDs and cert-manager's"
  local certmanager
  certmanager=$(cd "$root" && go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)
  kubectl apply --server-side -f "$root/test/crds/" >/dev/null
  kubectl apply --server-side -f "$certmanager/deploy/crds/" >/dev/null
  kubectl wait --for condition=Established crd --all --timeout 60s >/dev/null
  kubectl create namespace cert-manager >/dev/null
  setsid "$bin/cert-manager" --kubeconfig "$KUBECONFIG" >"$dir/cert-manager.log" 2>&1 </dev/null &
  echo $! >"$dir/cert-manager.pid"

  log "the README's install command"
  echo "$command" >"$dir/install-command.sh"
  (cd "$root" && bash -euo pipefail "$dir/install-command.sh") >"$dir/install.log" 2>&1 ||
    die "the install command failed: $(cat "$dir/install.log")"
  kill -0 "$(cat "$dir/cert-manager.pid")" 2>/dev/null || die "cert-manager exited"
  kubectl --namespace "$namespace" wait --for condition=Ready certificates --all --timeout 2m >&2
  kubectl --namespace "$namespace" rollout status "deployment/$release" --timeout 5m >&2
  wait_until "the webhook refusing a mistake" 180 refuses_mistake

  log "a mesh gateway stand-in and examples/valid"
  kubectl create namespace consul >/dev/null
  gateway_stand_in | kubectl apply -f - >/dev/null
  kubectl --namespace consul rollout status deployment/consul-mesh-gateway --timeout 2m >&2
  wait_until "examples/valid to apply" 60 kubectl apply -f "$root/examples/valid/"

  cat >"$dir/ready" <<EOF
The playground is running: a single-node cluster (make cluster) with the consul-k8s CRDs,
cert-manager, and the chart installed by the README's install command, unchanged:

$(sed 's/^/  /' "$dir/install-command.sh")

examples/valid is applied beside a stand-in for the Consul chart's mesh gateway. In your shell:

  export KUBECONFIG=$KUBECONFIG
  export PATH=$dir/bin:\$PATH

  kubectl get pods --namespace $namespace
  kubectl apply -f examples/mistakes/mesh-wrong-name/    # refused by the webhook
  consul-peering-guard audit                             # every object in the playground, checked

Logs: $dir/install.log, $dir/cert-manager.log, $cluster/log/
Stop everything: make playground-stop
EOF
  trap - EXIT
  cat "$dir/ready"
}

stop() {
  if [ -s "$dir/cert-manager.pid" ]; then
    local pid
    pid=$(cat "$dir/cert-manager.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [ -d "$cluster" ]; then
    "$root/hack/cluster.sh" down "$cluster" >&2
  fi
  rm -rf "$dir"
  echo "The playground is stopped."
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop [DIR]" >&2
  exit 2
  ;;
esac
