#!/usr/bin/env bash
# The one version of a build: the binary's `version`, the image tag, the chart's appVersion
# (and, without the v, the packaged chart's version). git describe of the newest v* tag
# (v0.1.0, or v0.1.0-N-gSHA N commits later, -dirty with uncommitted changes); before the
# first tag, the chart's version with the commit count and the commit: v0.1.0-N-gSHA. dev
# outside a git checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo dev
  exit 0
fi
if git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null; then
  exit 0
fi
chart=$(sed -n 's/^version: *//p' charts/consul-peering-guard/Chart.yaml)
dirty=""
if ! git diff --quiet HEAD -- 2>/dev/null; then
  dirty="-dirty"
fi
echo "v${chart}-$(git rev-list --count HEAD)-g$(git rev-parse --short HEAD)${dirty}"
