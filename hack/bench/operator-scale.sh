#!/usr/bin/env bash
# Scale benchmark of the operator on a local simulated cluster (a script, not a
# test). This script is the launcher: it starts its own cluster
# (hack/local-cluster.sh, with its own state dir and ports), installs the
# chart, starts the operator, and runs the two phases of bin/bench-scale
# (hack/bench/scale), which measure and print:
#
#   direct_seconds    baseline: one client (the operator's QPS settings) creates
#                     the same children (JWT and secret-hash key Secrets, migration Job, then the
#                     Deployment and Service once the Job completed) for N
#                     instances, until every Deployment is available; like the
#                     operator's, they carry a controller owner reference
#   operator_seconds  N UserServices created, until all are Ready with all children
#   create_ratio      operator_seconds / direct_seconds   (target <= 1.5)
#   idle_writes       the operator's write requests (POST/PUT/PATCH/DELETE in its
#                     rest_client_requests_total) over --idle seconds with nothing
#                     to do (target 0), counted once it made no write for 10 s
#                     (settle_seconds); leader election is off, so Lease renewals
#                     are not counted
#   rss_mib_at_n      the operator's RSS with N UserServices
#   heap_inuse_mib_*  the operator's Go heap in use at the same two points
#   rss_growth        RSS growth after --noise unrelated 4 KiB Secrets and
#                     ConfigMaps (target < 0.10)
#
# Usage: hack/bench/operator-scale.sh [-n N] [--idle SECONDS] [--noise COUNT] [--workers W] [--keep]
#   -n N         number of UserServices (default 500; use -n 1000 for the large run)
#   --idle S     idle window for idle_writes (default 120)
#   --noise C    unrelated objects for rss_growth (default 10000)
#   --workers W  --max-concurrent-reconciles for the operator (default: the chart's)
#   --keep       leave the cluster and the operator running at the end
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=500
IDLE=120
NOISE=10000
KEEP=false
WORKERS=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--n) N=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --noise) NOISE=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --keep) KEEP=true; shift ;;
    *) sed -n '/^# Usage:/,/^#   --keep/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
for v in N IDLE NOISE; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "operator-scale: $v must be a number, got '${!v}'" >&2; exit 2; }
done

STATE="${XDG_STATE_HOME:-$HOME/.local/state}/userservice-operator"
export LOCAL_CLUSTER_DIR="${BENCH_CLUSTER_DIR:-$STATE/bench-cluster}"
export LOCAL_CLUSTER_APISERVER_PORT="${BENCH_APISERVER_PORT:-36443}"
export LOCAL_CLUSTER_ETCD_PORT="${BENCH_ETCD_PORT:-32379}"
export LOCAL_CLUSTER_KCM_PORT="${BENCH_KCM_PORT:-31257}"
export LOCAL_CLUSTER_SCHEDULER_PORT="${BENCH_SCHEDULER_PORT:-31259}"
OPERATOR_DIR="$LOCAL_CLUSTER_DIR-operator"
HELM="${HELM:-$ROOT/bin/helm}"
HEALTH_PORT="${BENCH_HEALTH_PORT:-38081}"
METRICS_PORT="${BENCH_METRICS_PORT:-38080}"
PPROF_PORT="${BENCH_PPROF_PORT:-38082}" # the operator's /debug/pprof/, to profile a run

log() { printf '[operator-scale] %s\n' "$*" >&2; }
# shellcheck source=hack/lib/local-operator.sh
source "$ROOT/hack/lib/local-operator.sh"

# new_namespace creates namespace $1 with the database Secret "db".
new_namespace() {
  kubectl create namespace "$1" >/dev/null
  kubectl -n "$1" create secret generic db \
    --from-literal=url="postgres://users:bench@postgres:5432/users?sslmode=disable" >/dev/null
}

# cleanup stops everything unless --keep was given.
cleanup() {
  if [ "$KEEP" = true ]; then
    log "--keep: cluster and operator left running; export KUBECONFIG=$KUBECONFIG"
    return
  fi
  stop_operator || true
  "$ROOT/hack/local-cluster.sh" down || true
  rm -rf "$OPERATOR_DIR"
}

main() {
  log "N=$N idle=${IDLE}s noise=$NOISE workers=${WORKERS:-chart default}; cluster in $LOCAL_CLUSTER_DIR"
  "$ROOT/hack/local-cluster.sh" down >/dev/null 2>&1 || true
  local exports
  exports=$("$ROOT/hack/local-cluster.sh" up)
  eval "$exports"
  export KUBECONFIG
  trap cleanup EXIT
  PATH="$("$ROOT/hack/k8s-bins.sh" kubectl 2>/dev/null):$PATH"

  log "building bin/manager and bin/bench-scale"
  (cd "$ROOT" && CGO_ENABLED=0 go build -o bin/manager ./cmd && go build -o bin/bench-scale ./hack/bench/scale)
  install_chart

  # bin/bench-scale (hack/bench/scale) measures; this script starts what it measures.
  local bench=(-n "$N" -cluster-dir "$LOCAL_CLUSTER_DIR" -operator-dir "$OPERATOR_DIR")
  log "baseline: creating the children of $N instances directly"
  new_namespace bench-direct
  mkdir -p "$OPERATOR_DIR"
  "$ROOT/bin/bench-scale" direct "${bench[@]}" -namespace bench-direct | tee "$OPERATOR_DIR/direct.out"
  log "deleting the baseline namespace before the operator run"
  kubectl delete namespace bench-direct --timeout=15m >/dev/null

  log "operator: creating $N UserServices"
  local args
  mapfile -t args < <(chart_operator_args)
  if [ -n "$WORKERS" ]; then
    mapfile -t args < <(printf '%s\n' "${args[@]}" | grep -v '^--max-concurrent-reconciles' || true)
    args+=("--max-concurrent-reconciles=$WORKERS")
  fi
  start_operator "$HEALTH_PORT" --leader-elect=false --metrics-secure=false \
    --metrics-bind-address "127.0.0.1:$METRICS_PORT" --pprof-bind-address "127.0.0.1:$PPROF_PORT" "${args[@]}"
  new_namespace bench-operator
  "$ROOT/bin/bench-scale" operator "${bench[@]}" -namespace bench-operator -baseline "$OPERATOR_DIR/direct.out" \
    -metrics-url "http://127.0.0.1:$METRICS_PORT/metrics" -idle "${IDLE}s" -noise "$NOISE"
}
main
