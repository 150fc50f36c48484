#!/usr/bin/env bash
# Installs what the node of make cluster needs from Debian and Go cannot build: containerd,
# runc and the CNI plugins (bridge, host-local, loopback, portmap). .ci/run calls it before
# make test on a fresh machine; elsewhere it does nothing unless run as root, and the tests on
# the node skip, naming what is missing. Pinned by Debian bookworm: containerd 1.6.20,
# runc 1.1.5, containernetworking-plugins 1.1.1.
set -euo pipefail
missing=()
command -v containerd >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
command -v iptables >/dev/null || missing+=(iptables)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -eq 0 ]; then
  echo "node packages: installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "node packages missing (${missing[*]}): not root with apt-get, so the tests on the real node will skip"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No service is started: make cluster runs its own containerd in its own network namespace.
apt-get install -y -qq --no-install-recommends "${missing[@]}"
