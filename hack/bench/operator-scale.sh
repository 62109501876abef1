#!/usr/bin/env bash
# Scale benchmark of the operator on a local simulated cluster (a script, not a
# test). It starts its own cluster (hack/local-cluster.sh, with its own state
# dir and ports), installs the chart, and measures:
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
HZ=$(getconf CLK_TCK) # the unit of the CPU times in /proc/<pid>/stat

log() { printf '[operator-scale] %s\n' "$*" >&2; }
# shellcheck source=hack/lib/local-operator.sh
source "$ROOT/hack/lib/local-operator.sh"

# http_get prints the body of http://127.0.0.1:$1$2 (bash only, no curl).
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}

# operator_writes prints the operator's write requests so far.
operator_writes() {
  http_get "$METRICS_PORT" /metrics |
    awk '/^rest_client_requests_total/ && /method="(POST|PUT|PATCH|DELETE)"/ {s += $NF} END {printf "%d\n", s}'
}

# heap_inuse_mib prints the operator's Go heap in use (go_memstats_heap_inuse_bytes), in MiB.
heap_inuse_mib() {
  http_get "$METRICS_PORT" /metrics | awk '/^go_memstats_heap_inuse_bytes / {printf "%.1f\n", $2 / 1048576}'
}

# rss_kib prints the operator's resident set size in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$(operator_pid)/status"; }

# cpu_ticks prints "<component> <utime+stime ticks>" for every cluster process
# and the operator, for the per-phase CPU figures.
cpu_ticks() {
  local f pid name
  for f in "$LOCAL_CLUSTER_DIR"/pids/*.pid "$OPERATOR_DIR/manager.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); name=$(basename "$f" .pid)
    [ -r "/proc/$pid/stat" ] || continue
    awk -v n="$name" '{sub(/^.*\) /, ""); print n, $12 + $13}' "/proc/$pid/stat"
  done
}

# cpu_report prints cpu_<phase>_<component>=<seconds> for the CPU each process
# used since the snapshot in file $2, for phase $1.
cpu_report() {
  cpu_ticks | awk -v p="$1" -v hz="$HZ" 'NR == FNR {t[$1] = $2; next}
    {d = $2 - t[$1]; gsub(/-/, "_", $1); printf "cpu_%s_%s=%.1f\n", p, $1, d / hz}' "$2" -
}

# wait_quiet waits until the cluster processes and the operator together use
# less than a fifth of a core over 5 s (at most 90 s), so that each phase
# starts on a quiet machine, not while work from the step before still runs.
wait_quiet() {
  local a b start=$SECONDS
  while [ $((SECONDS - start)) -lt 90 ]; do
    a=$(cpu_ticks | awk '{s += $2} END {print s + 0}')
    sleep 5
    b=$(cpu_ticks | awk '{s += $2} END {print s + 0}')
    [ $((b - a)) -lt "$HZ" ] && break
  done
  log "quiet after $((SECONDS - start))s"
}

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

  log "baseline: creating the children of $N instances directly"
  new_namespace bench-direct
  local direct snap="$OPERATOR_DIR/cpu.snap"
  mkdir -p "$OPERATOR_DIR"
  wait_quiet
  cpu_ticks >"$snap"
  direct=$("$ROOT/bin/bench-scale" direct -n "$N" -namespace bench-direct | sed -n 's/^direct_seconds=//p')
  echo "direct_seconds=$direct"
  cpu_report direct "$snap"
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
  local op
  wait_quiet
  cpu_ticks >"$snap"
  op=$("$ROOT/bin/bench-scale" operator -n "$N" -namespace bench-operator | sed -n 's/^operator_seconds=//p')
  echo "operator_seconds=$op"
  cpu_report operator "$snap"
  echo "create_ratio=$(awk -v a="$op" -v b="$direct" 'BEGIN {printf "%.2f", a / b}')"

  log "settling: waiting until the operator has made no write for 10s (at most 120s)"
  local w0 w1 ws settle_start=$SECONDS
  ws=$(operator_writes)
  while :; do
    sleep 10
    w0=$(operator_writes)
    [ "$w0" -eq "$ws" ] && break
    [ $((SECONDS - settle_start)) -lt 120 ] || { log "still writing after 120s of settling"; break; }
    ws=$w0
  done
  echo "settle_seconds=$((SECONDS - settle_start))"
  log "idle: counting the operator's writes over ${IDLE}s"
  sleep "$IDLE"
  w1=$(operator_writes)
  echo "idle_writes=$((w1 - w0))"

  local rss0 rss1
  rss0=$(rss_kib)
  echo "rss_mib_at_n=$(awk -v k="$rss0" 'BEGIN {printf "%.1f", k / 1024}')"
  echo "heap_inuse_mib_at_n=$(heap_inuse_mib)"
  log "adding $NOISE unrelated 4 KiB Secrets and ConfigMaps"
  kubectl create namespace bench-noise >/dev/null
  "$ROOT/bin/bench-scale" noise -n "$NOISE" -namespace bench-noise >&2
  # Let any informer that would cache them do so, then wait until the RSS is
  # steady (under 1 MiB of change in 10 s, at most 150 s more), as it was
  # before the noise after the idle window.
  sleep 30
  local prev start=$SECONDS
  rss1=$(rss_kib)
  while :; do
    prev=$rss1
    sleep 10
    rss1=$(rss_kib)
    [ $(((rss1 - prev) * (rss1 - prev))) -lt $((1024 * 1024)) ] && break
    [ $((SECONDS - start)) -lt 150 ] || { log "RSS still moving after 150s"; break; }
  done
  echo "heap_inuse_mib_after_noise=$(heap_inuse_mib)"
  echo "rss_mib_after_noise=$(awk -v k="$rss1" 'BEGIN {printf "%.1f", k / 1024}')"
  echo "rss_growth=$(awk -v a="$rss0" -v b="$rss1" 'BEGIN {printf "%.3f", (b - a) / a}')"
  echo "operator_writes_total=$(operator_writes)"
}

main
