#!/usr/bin/env bash
# make playground / make playground-stop: the demo's cluster and webhook left running.
# Usage: hack/playground.sh start|stop [DIR]   (DIR defaults to tmp/playground)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${2:-${PLAYGROUND_DIR:-tmp/playground}}
pidfile=$dir/playground.pid

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case ${1:-} in
start)
  if running; then
    echo "The playground is already running (pid $(cat "$pidfile"))."
    cat "$dir/ready" 2>/dev/null || true
    exit 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "Building and starting the playground (kube-apiserver, etcd, the webhook); log: $dir/playground.log"
  go build -o "$dir/demo" ./hack/demo
  nohup "$dir/demo" -playground "$dir" >"$dir/playground.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 600); do
    if [[ -f $dir/ready ]]; then
      cat "$dir/ready"
      exit 0
    fi
    if ! running; then
      echo "The playground did not start:"
      tail -n 30 "$dir/playground.log"
      exit 1
    fi
    sleep 0.5
  done
  echo "The playground did not get ready within 5 minutes; stopping it. Log: $dir/playground.log"
  "$0" stop "$dir"
  exit 1
  ;;
stop)
  if ! running; then
    echo "No playground is running."
    rm -rf "$dir"
    exit 0
  fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "pid $pid did not stop within 60s; killing it"
    kill -KILL "$pid" || true
  fi
  rm -rf "$dir"
  echo "The playground is stopped."
  ;;
*)
  echo "usage: $0 start|stop [DIR]" >&2
  exit 2
  ;;
esac
