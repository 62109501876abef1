#!/usr/bin/env bash
# The README's first command (`make demo`): a local simulated cluster, the
# operator installed with its Helm chart, and a UserService taken to Ready and
# then through an image upgrade.
#
# Usage: hack/demo.sh up|down
#
# The cluster's nodes are simulated by kwok, so pods run no container. The
# operator therefore runs as a local process (bin/manager), authenticated with
# a token of the chart's ServiceAccount: the chart's RBAC is exactly what it
# gets. The chart's in-cluster Deployment is scaled to 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LOCAL_CLUSTER_DIR="${LOCAL_CLUSTER_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/userservice-operator/local-cluster}"
OPERATOR_DIR="${DEMO_DIR:-${LOCAL_CLUSTER_DIR%/}-demo}"
DEMO_NS=demo
HEALTH_PORT="${DEMO_HEALTH_PORT:-18081}"
HELM="${HELM:-$ROOT/bin/helm}"
SAMPLES="$ROOT/config/samples"
UPGRADE_IMAGE="${DEMO_UPGRADE_IMAGE:-ghcr.io/userservice-dev/user-service:v0.1.1}"

step_no=0
step() { step_no=$((step_no + 1)); printf '\n==> [demo %d] %s\n' "$step_no" "$*" >&2; }
die() { printf '[demo] error: %s\n' "$*" >&2; exit 1; }
# show prints a command, then runs it, so the user sees what to type next time.
show() { printf '$ %s\n' "$*" >&2; "$@"; }

# shellcheck source=hack/lib/local-operator.sh
source "$ROOT/hack/lib/local-operator.sh"

# create_sample creates the demo namespace, the database Secret that the
# sample references, and the sample UserService; it prints the sample's name.
create_sample() {
  step "Creating namespace $DEMO_NS, the database Secret and config/samples"
  local sample secret key
  sample=$(ls "$SAMPLES"/*userservice*.yaml | head -n 1)
  [ -f "$sample" ] || die "no UserService sample in $SAMPLES"
  secret=$(kubectl create --dry-run=client -f "$sample" -o jsonpath='{.spec.database.urlSecretRef.name}')
  key=$(kubectl create --dry-run=client -f "$sample" -o jsonpath='{.spec.database.urlSecretRef.key}')
  kubectl create namespace "$DEMO_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl label namespace "$DEMO_NS" pod-security.kubernetes.io/enforce=restricted --overwrite >/dev/null
  # kwok pods run nothing, so the URL is never dialled; with a real node it must reach PostgreSQL.
  kubectl -n "$DEMO_NS" create secret generic "$secret" \
    --from-literal="${key:-url}=postgres://users:demo-password@postgres.$DEMO_NS.svc:5432/users?sslmode=disable" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  show kubectl -n "$DEMO_NS" apply -f "$sample" >&2
  SAMPLE=$(kubectl create --dry-run=client -f "$sample" -o jsonpath='{.metadata.name}')
}

# wait_ready waits for the sample to be Ready at its current generation.
wait_ready() {
  show kubectl -n "$DEMO_NS" wait --for=condition=Ready "usvc/$SAMPLE" --timeout=180s >&2
}

# upgrade changes the sample's image and follows the migration Job to Ready.
upgrade() {
  step "Upgrading usvc/$SAMPLE to $UPGRADE_IMAGE: a new migration Job runs before the rollout"
  show kubectl -n "$DEMO_NS" patch "usvc/$SAMPLE" --type merge -p "{\"spec\":{\"image\":\"$UPGRADE_IMAGE\"}}" >&2
  local gen
  gen=$(kubectl -n "$DEMO_NS" get "usvc/$SAMPLE" -o jsonpath='{.metadata.generation}')
  show kubectl -n "$DEMO_NS" wait --for=jsonpath='{.status.observedGeneration}'="$gen" "usvc/$SAMPLE" --timeout=60s >&2
  wait_ready
  show kubectl -n "$DEMO_NS" get jobs -l "app.kubernetes.io/instance=$SAMPLE" >&2
  show kubectl -n "$DEMO_NS" get "usvc/$SAMPLE" \
    -o jsonpath='{"image: "}{.status.image}{"\nmigratedImage: "}{.status.migratedImage}{"\n"}' >&2
}

# cmd_up runs the whole demo.
cmd_up() {
  step "Starting the local cluster (hack/local-cluster.sh up)"
  local exports
  exports=$("$ROOT/hack/local-cluster.sh" up)
  eval "$exports"
  export KUBECONFIG
  PATH="$("$ROOT/hack/k8s-bins.sh" kubectl 2>/dev/null):$PATH"
  [ -x "$ROOT/bin/manager" ] || die "bin/manager is missing; run 'make build'"
  step "Installing the operator with Helm (charts/userservice-operator)"
  install_chart
  step "Running the operator locally as ServiceAccount $OPERATOR_NS/$SERVICE_ACCOUNT"
  local args
  mapfile -t args < <(chart_operator_args)
  start_operator "$HEALTH_PORT" --leader-elect=false --metrics-bind-address=0 "${args[@]}"
  create_sample
  step "Waiting for usvc/$SAMPLE to be Ready"
  wait_ready
  show kubectl -n "$DEMO_NS" get usvc,deploy,svc,jobs,secrets >&2
  upgrade
  show kubectl -n "$DEMO_NS" get usvc,deploy,rs,jobs >&2
  cat >&2 <<EOF

==> The demo is running. Explore it:
  export KUBECONFIG=$KUBECONFIG
  export PATH=$(dirname "$(command -v kubectl)"):\$PATH
  kubectl -n $DEMO_NS get usvc,all
  kubectl -n $DEMO_NS describe usvc/$SAMPLE          # conditions and events
  kubectl explain usvc.spec
  tail -f $OPERATOR_DIR/manager.log   # the operator's log
  hack/local-cluster.sh status

Clean up (stops every process the demo started, removes its state):
  make demo-down
EOF
}

# cmd_down stops the operator and the local cluster and removes their state.
cmd_down() {
  stop_operator
  rm -rf "$OPERATOR_DIR"
  "$ROOT/hack/local-cluster.sh" down
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  *) echo "usage: hack/demo.sh up|down" >&2; exit 2 ;;
esac
