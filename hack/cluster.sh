#!/usr/bin/env bash
# make cluster / make cluster-down: a real single-node Kubernetes cluster built here, with no
# Docker and no image pull. etcd, kube-apiserver (aggregator routing on), kube-controller-
# manager, kube-scheduler, kubelet and kube-proxy v1.37.2 from bin/ (make tools, make
# node-tools), containerd, runc and the CNI plugins from Debian (hack/node-packages.sh).
#
# Usage: hack/cluster.sh up|down [STATE_DIR]   (STATE_DIR defaults to tmp/cluster)
#
# Every process runs inside a network namespace and a mount namespace of the cluster's own,
# both kept as files under STATE_DIR/ns: the node has a bridge at 198.18.0.1/16 and no other
# link, no default route and no DNS, so nothing leaves it; services are 198.19.0.0/16. The
# host reaches the API server through hack/node/forward on a loopback port
# (STATE_DIR/kubeconfig). The mount namespace holds every mount containerd and the kubelet
# make (so they all go with it) and three stand-in files for the kernel settings the kubelet
# would otherwise change machine-wide (vm.overcommit_memory, kernel.panic,
# kernel.panic_on_oops). Nothing machine-wide is changed: no sysctl, no cgroup mount.
# `down` removes the pods through the kubelet, every process by its PID, the mounts under
# STATE_DIR, the pods' network namespaces, the node's cgroups (kubepods under a root of its
# own) and what containerd and the kubelet write outside STATE_DIR, then STATE_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CLUSTER_BIN:-$root/bin}
state=${2:-${CLUSTER_DIR:-$root/tmp/cluster}}
mkdir -p "$(dirname "$state")"
state=$(cd "$(dirname "$state")" && pwd)/$(basename "$state")
node=cpg-node
# Several nodes may run at once (tests beside make cluster): each has its own cgroup root,
# CNI network name and network namespace, named after its folder.
id=cpg-$(echo -n "$state" | sha256sum | cut -c1-8)
ip=198.18.0.1
pause_ref=localhost/consul-peering-guard/pause:1
# Paths containerd, runc, the CNI plugins and the kubelet write outside STATE_DIR whatever
# their configuration says; removed by down when up created them.
outside=(/var/log/containers /var/lib/kubelet/device-plugins /var/lib/kubelet /var/lib/cni/results /var/lib/cni /run/containerd/s /run/containerd /run/netns)

log() { echo ">> $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }
in_ns() { nsenter --net="$state/ns/net" --mount="$state/ns/mnt" -- "$@"; }

# start NAME CMD...: runs CMD in the namespaces, logs to STATE/log/NAME.log, PID to STATE/pid/NAME.
start() {
  local name=$1
  shift
  setsid nsenter --net="$state/ns/net" --mount="$state/ns/mnt" -- "$@" >"$state/log/$name.log" 2>&1 </dev/null &
  echo $! >"$state/pid/$name"
}

wait_for() { # wait_for WHAT SECONDS CMD...
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      die "$what not ready after ${seconds}s; logs in $state/log"
    fi
    sleep 0.5
  done
}

need() {
  local missing=()
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    [ -x "$bin/$b" ] || missing+=("$bin/$b (make node-tools)")
  done
  for b in containerd containerd-shim-runc-v2 runc ctr nsenter unshare ip iptables openssl; do
    command -v "$b" >/dev/null || missing+=("$b (hack/node-packages.sh)")
  done
  [ -x /usr/lib/cni/bridge ] || missing+=("/usr/lib/cni/bridge (hack/node-packages.sh)")
  [ "$(id -u)" -eq 0 ] || missing+=("root")
  if [ ${#missing[@]} -gt 0 ]; then
    die "missing: ${missing[*]}"
  fi
}

certs() {
  local pki=$state/pki
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=cpg-cluster-ca" 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    issue() { # issue NAME SUBJECT [SANS]
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      local ext=extendedKeyUsage=clientAuth,serverAuth
      [ -n "${3:-}" ] && ext="$ext"$'\n'"subjectAltName=$3"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 2 -extfile <(echo "$ext") 2>/dev/null
      rm "$1.csr"
    }
    issue apiserver "/CN=kube-apiserver" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$ip,IP:198.19.0.1"
    issue admin "/O=system:masters/CN=cluster-admin"
    issue kubelet "/O=system:nodes/CN=system:node:$node" "DNS:$node,IP:$ip"
  )
}

kubeconfig() { # kubeconfig FILE SERVER CERT
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cpg
  cluster: {server: "$2", certificate-authority: $state/pki/ca.crt}
users:
- name: $3
  user: {client-certificate: $state/pki/$3.crt, client-key: $state/pki/$3.key}
contexts:
- name: cpg
  context: {cluster: cpg, user: $3}
current-context: cpg
EOF
}

configs() {
  mkdir -p "$state/cni/net.d" "$state/containerd" "$state/sysctl"
  cat >"$state/cni/net.d/10-cpg.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$id",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cpg0",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$state/cni/ipam",
        "ranges": [[{"subnet": "198.18.0.0/16", "rangeStart": "198.18.1.1", "rangeEnd": "198.18.255.254"}]],
        "routes": [{"dst": "198.19.0.0/16", "gw": "$ip"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$state/containerd/containerd.sock"
[ttrpc]
  address = "$state/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_ref"
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails to start
  # (failed to update /proc/self/oom_score_adj: Permission denied).
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$state/containerd/runc"
EOF
  cat >"$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The machines use cgroup v1, without systemd: cgroupfs. containerd 1.6 lacks the
# RuntimeConfig CRI call, so the kubelet uses this driver with a warning (1.38 may drop that
# fallback: the version is pinned).
failCgroupV1: false
cgroupDriver: cgroupfs
# The node's own cgroup root (made by up in every hierarchy, removed by down): its pods never
# share a cgroup with another node's.
cgroupRoot: /$id
failSwapOn: false
containerRuntimeEndpoint: unix://$state/containerd/containerd.sock
address: $ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: $state/pki/kubelet.crt
tlsPrivateKeyFile: $state/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: Webhook}
# No DNS query leaves the node: the pods get no resolv.conf.
resolvConf: ""
clusterDomain: cluster.local
podLogsDir: $state/kubelet/pod-logs
# The imported images cannot be pulled again: never collected. No eviction on a full disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
serializeImagePulls: false
EOF
  cat >"$state/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $state/admin.kubeconfig}
hostnameOverride: $node
bindAddress: $ip
clusterCIDR: 198.18.0.0/16
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# Zero: kube-proxy leaves the conntrack settings, which are machine-wide, as they are.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  # What the kubelet wants these kernel settings to be: it sees them so and writes nothing.
  echo 1 >"$state/sysctl/overcommit_memory"
  echo 10 >"$state/sysctl/panic"
  echo 1 >"$state/sysctl/panic_on_oops"
}

namespaces() {
  mkdir -p "$state/ns"
  # A private bind of ns/ onto itself: a namespace file can only be kept on a private mount.
  mount --bind "$state/ns" "$state/ns"
  mount --make-private "$state/ns"
  touch "$state/ns/net" "$state/ns/mnt"
  unshare --net="$state/ns/net" --mount="$state/ns/mnt" --propagation private true
  in_ns ip link set lo up
  in_ns ip link add cpg0 type bridge
  in_ns ip addr add "$ip/16" dev cpg0
  in_ns ip link set cpg0 up
  in_ns mount --bind "$state/sysctl/overcommit_memory" /proc/sys/vm/overcommit_memory
  in_ns mount --bind "$state/sysctl/panic" /proc/sys/kernel/panic
  in_ns mount --bind "$state/sysctl/panic_on_oops" /proc/sys/kernel/panic_on_oops
}

# hierarchies: the cgroup hierarchies of the machine, v1 and unified.
hierarchies() { findmnt -rn -t cgroup,cgroup2 -o TARGET; }

# cgroups makes the node's cgroup root in every hierarchy; a new cpuset gets its parent's
# CPUs and memory nodes, as the kubelet's own cgroups would.
cgroups() {
  local h
  for h in $(hierarchies); do
    mkdir -p "$h/$id"
    if [ -f "$h/$id/cpuset.cpus" ] && [ -f "$h/cpuset.cpus" ]; then
      cat "$h/cpuset.cpus" >"$h/$id/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h/$id/cpuset.mems"
    fi
  done
}

up() {
  need
  if [ -d "$state" ]; then
    die "$state exists: hack/cluster.sh down $state first"
  fi
  local begin=$SECONDS
  mkdir -p "$state/log" "$state/pid" "$state/etcd" "$state/kubelet"
  # A failed up leaves nothing either: the logs' ends are printed, then down runs.
  trap 'status=$?; trap - EXIT; if [ $status -ne 0 ]; then tail -n 20 "$state"/log/*.log >&2 || true; down >&2; fi; exit $status' EXIT
  for p in "${outside[@]}"; do
    [ -e "$p" ] && echo "$p" >>"$state/outside-existed"
  done
  touch "$state/outside-existed"
  log "building the pause image and the forwarder"
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$state/images/pause" ./hack/node/pause &&
    go run ./hack/node/pauseimage -binary "$state/images/pause" -out "$state/images/pause.tar" -ref "$pause_ref" &&
    go build -o "$state/forward" ./hack/node/forward)
  certs
  configs
  namespaces
  cgroups
  kubeconfig "$state/admin.kubeconfig" "https://$ip:6443" admin
  kubeconfig "$state/kubelet.kubeconfig" "https://$ip:6443" kubelet

  log "etcd, kube-apiserver"
  start etcd "$bin/etcd" --data-dir "$state/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 --unsafe-no-fsync
  start kube-apiserver "$bin/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --bind-address "$ip" --advertise-address "$ip" --secure-port 6443 \
    --service-cluster-ip-range 198.19.0.0/16 --enable-aggregator-routing=true \
    --authorization-mode Node,RBAC --client-ca-file "$state/pki/ca.crt" \
    --tls-cert-file "$state/pki/apiserver.crt" --tls-private-key-file "$state/pki/apiserver.key" \
    --kubelet-client-certificate "$state/pki/admin.crt" --kubelet-client-key "$state/pki/admin.key" \
    --kubelet-certificate-authority "$state/pki/ca.crt" \
    --service-account-key-file "$state/pki/sa.pub" --service-account-signing-key-file "$state/pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local
  "$state/forward" -netns "$state/ns/net" -to "$ip:6443" -port-file "$state/apiserver-port" >"$state/log/forward.log" 2>&1 </dev/null &
  echo $! >"$state/pid/forward"
  wait_for "forwarder" 30 test -s "$state/apiserver-port"
  kubeconfig "$state/kubeconfig" "https://127.0.0.1:$(cat "$state/apiserver-port")" admin
  local kubectl=("$bin/kubectl" --kubeconfig "$state/kubeconfig")
  wait_for "kube-apiserver" 120 "${kubectl[@]}" get --raw /readyz

  log "kube-controller-manager, kube-scheduler, containerd"
  start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$state/admin.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --service-account-private-key-file "$state/pki/sa.key" --root-ca-file "$state/pki/ca.crt" \
    --use-service-account-credentials
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$state/admin.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false
  start containerd containerd --config "$state/containerd/config.toml"
  wait_for "containerd" 60 in_ns ctr --address "$state/containerd/containerd.sock" version
  local ctr=(ctr --address "$state/containerd/containerd.sock" -n k8s.io)
  in_ns "${ctr[@]}" images import "$state/images/pause.tar" >/dev/null
  for image in ${CLUSTER_IMAGES:-}; do
    log "importing $image"
    in_ns "${ctr[@]}" images import "$image" >/dev/null
  done

  log "kubelet, kube-proxy"
  start kubelet "$bin/kubelet" --config "$state/kubelet.yaml" --kubeconfig "$state/kubelet.kubeconfig" \
    --root-dir "$state/kubelet/root" --hostname-override "$node" --node-ip "$ip"
  start kube-proxy "$bin/kube-proxy" --config "$state/kube-proxy.yaml"
  wait_for "node $node" 180 "${kubectl[@]}" wait --for=condition=Ready "node/$node" --timeout=1s
  # Pods can be created once the default namespace's ServiceAccount exists.
  wait_for "the default ServiceAccount" 60 "${kubectl[@]}" get serviceaccount default
  echo "$((SECONDS - begin))" >"$state/up-seconds"
  local rss=0
  for f in "$state"/pid/*; do
    local pid
    pid=$(cat "$f")
    for p in $pid $(pgrep -P "$pid" || true); do
      rss=$((rss + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
  done
  echo "$rss" >"$state/up-rss-kib"
  cat <<EOF
Node $node Ready in $((SECONDS - begin))s; RSS of the cluster's processes: $((rss / 1024)) MiB.
  export KUBECONFIG=$state/kubeconfig
  ctr: nsenter --net=$state/ns/net --mount=$state/ns/mnt ctr --address $state/containerd/containerd.sock -n k8s.io ...
Stop it with: make cluster-down (hack/cluster.sh down $state)
EOF
}

# pids_of_tree PID...: the PIDs and every descendant.
pids_of_tree() {
  local p
  for p in "$@"; do
    kill -0 "$p" 2>/dev/null || continue
    echo "$p"
    pids_of_tree $(pgrep -P "$p" || true)
  done
}

down() {
  if [ ! -d "$state" ]; then
    echo "No cluster at $state."
    return 0
  fi
  local begin=$SECONDS
  # No controller may make a pod again while the kubelet removes them.
  for name in kube-controller-manager kube-scheduler; do
    [ -s "$state/pid/$name" ] && kill -TERM "$(cat "$state/pid/$name")" 2>/dev/null || true
  done
  if [ -s "$state/kubeconfig" ] && [ -s "$state/pid/kubelet" ] && kill -0 "$(cat "$state/pid/kubelet")" 2>/dev/null; then
    log "removing the pods through the kubelet"
    "$bin/kubectl" --kubeconfig "$state/kubeconfig" delete pods --all --all-namespaces --grace-period=1 --timeout=60s --request-timeout=10s >/dev/null 2>&1 || true
  fi
  # The pods' network namespaces: the ones mounted in the node's mount namespace.
  local podns=()
  if [ -e "$state/ns/mnt" ] && mountpoint -q "$state/ns/mnt" 2>/dev/null; then
    mapfile -t podns < <(nsenter --mount="$state/ns/mnt" findmnt -rn -o TARGET 2>/dev/null | grep -E '^/(var/)?run/netns/cni-' || true)
  fi
  # The unix sockets the node's processes bound outside STATE (containerd's shims in
  # /run/containerd/s, the kubelet's device-plugins socket): listed in the node's network
  # namespace, which only they use.
  local sockets=()
  if [ -e "$state/ns/net" ] && mountpoint -q "$state/ns/net" 2>/dev/null; then
    mapfile -t sockets < <(nsenter --net="$state/ns/net" awk 'NR > 1 && $8 ~ /^\// {print $8}' /proc/net/unix 2>/dev/null | grep -vF "$state" | sort -u || true)
  fi
  # Every process: the components (the kubelet first), then what containerd started (shims
  # and the containers under them), by PID.
  local pids=()
  for name in kubelet kube-proxy kube-scheduler kube-controller-manager kube-apiserver containerd etcd forward; do
    [ -s "$state/pid/$name" ] && pids+=($(pids_of_tree "$(cat "$state/pid/$name")"))
  done
  # Shims are reparented away from containerd: found by their -address flag naming STATE.
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $state/containerd/containerd.sock" || true); do
    pids+=($(pids_of_tree "$p"))
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
      local alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.3
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    for p in "${pids[@]}"; do
      while kill -0 "$p" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]; do sleep 0.1; done
    done
  fi
  # The mounts under STATE (the namespace files; the node's own mounts went with its mount
  # namespace), deepest first.
  for m in $(findmnt -rn -o TARGET | grep -F "$state" | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  for f in "${podns[@]}"; do
    rm -f "$f"
  done
  # The node's cgroups (kubepods and the pods' below its root), in every v1 hierarchy and
  # the unified one; children first.
  for h in $(hierarchies); do
    [ -d "$h/$id" ] && find "$h/$id" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # What the node wrote outside STATE: its sockets, its pods' log links, its CNI results;
  # then each folder up made, when empty (another node may be using it).
  for f in "${sockets[@]}"; do
    rm -f "$f"
  done
  if [ -d /var/log/containers ]; then
    find /var/log/containers -maxdepth 1 -type l -lname "$state/*" -delete 2>/dev/null || true
  fi
  rm -f /var/lib/cni/results/"$id"-* 2>/dev/null || true
  # The kubelet's device manager checkpoint (no device is ever registered here).
  grep -qxF /var/lib/kubelet/device-plugins "$state/outside-existed" || rm -f /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
  for p in "${outside[@]}"; do
    if ! grep -qxF "$p" "$state/outside-existed" 2>/dev/null; then
      rmdir "$p" 2>/dev/null || true
    fi
  done
  rm -rf "$state"
  echo "The cluster is down ($((SECONDS - begin))s)."
}

case ${1:-} in
up) up ;;
down) down ;;
*)
  echo "usage: $0 up|down [STATE_DIR]" >&2
  exit 2
  ;;
esac
