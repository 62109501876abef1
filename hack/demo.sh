#!/usr/bin/env bash
# The README's demos: a local cluster, the operator installed with its Helm
# chart, and a UserService taken to Ready and then through an image upgrade.
#
# Usage: hack/demo.sh up [--mode kwok|real-node] | down
#
# kwok (make demo, default): the nodes are simulated by kwok, so pods run no
# container. The operator runs as a local process (bin/manager),
# authenticated with a token of the chart's ServiceAccount: the chart's RBAC
# is exactly what it gets. The chart's in-cluster Deployment is scaled to 0.
#
# real-node (make demo-real, as root): one real node runs every pod from the
# images of make images and make images-e2e: the operator's, with its real
# ServiceAccount token, and the user service's, on a PostgreSQL listening on
# the node's bridge. The demo ends with a user created with curl through the
# Service's NodePort on 127.0.0.1, with a JWT signed by the generated secret,
# and read back before and after the upgrade to v0.1.1 (the test-only v2
# image: one more migration).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LOCAL_CLUSTER_DIR="${LOCAL_CLUSTER_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/userservice-operator/local-cluster}"
OPERATOR_DIR="${DEMO_DIR:-${LOCAL_CLUSTER_DIR%/}-demo}"
DEMO_NS=demo
HEALTH_PORT="${DEMO_HEALTH_PORT:-18081}"
HELM="${HELM:-$ROOT/bin/helm}"
SAMPLES="$ROOT/config/samples"
UPGRADE_IMAGE="${DEMO_UPGRADE_IMAGE:-ghcr.io/userservice-dev/user-service:v0.1.1}"
MODE=kwok
# The database URL of the sample's Secret; kwok pods never dial it.
DB_URL="postgres://users:demo-password@postgres.$DEMO_NS.svc:5432/users?sslmode=disable"

step_no=0
step() { step_no=$((step_no + 1)); printf '\n==> [demo %d] %s\n' "$step_no" "$*" >&2; }
die() { printf '[demo] error: %s\n' "$*" >&2; exit 1; }
# show prints a command, then runs it, so the user sees what to type next time.
show() { printf '$ %s\n' "$*" >&2; "$@"; }

# shellcheck source=hack/lib/local-operator.sh
source "$ROOT/hack/lib/local-operator.sh"
# The real node's addresses (GATEWAY, NODE_POD_CIDR) for PostgreSQL.
DIR="$LOCAL_CLUSTER_DIR"
# shellcheck source=hack/lib/real-node.sh
source "$ROOT/hack/lib/real-node.sh"

# create_sample creates the demo namespace, the database Secret that the
# sample references, and the sample UserService; it sets SAMPLE to its name.
create_sample() {
  step "Creating namespace $DEMO_NS, the database Secret and config/samples"
  local sample secret key
  sample=$(ls "$SAMPLES"/*userservice*.yaml | head -n 1)
  [ -f "$sample" ] || die "no UserService sample in $SAMPLES"
  secret=$(kubectl create --dry-run=client -f "$sample" -o jsonpath='{.spec.database.urlSecretRef.name}')
  key=$(kubectl create --dry-run=client -f "$sample" -o jsonpath='{.spec.database.urlSecretRef.key}')
  restricted_namespace "$DEMO_NS"
  kubectl -n "$DEMO_NS" create secret generic "$secret" --from-literal="${key:-url}=$DB_URL" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  show kubectl -n "$DEMO_NS" apply -f "$sample" >&2
  SAMPLE=$(kubectl create --dry-run=client -f "$sample" -o jsonpath='{.metadata.name}')
}

# restricted_namespace creates namespace $1 enforcing restricted Pod Security.
restricted_namespace() {
  kubectl create namespace "$1" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl label namespace "$1" pod-security.kubernetes.io/enforce=restricted --overwrite >/dev/null
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

# operator_up_kwok installs the chart and runs the operator as a local process.
operator_up_kwok() {
  [ -x "$ROOT/bin/manager" ] || die "bin/manager is missing; run 'make build'"
  step "Installing the operator with Helm (charts/userservice-operator)"
  install_chart
  step "Running the operator locally as ServiceAccount $OPERATOR_NS/$SERVICE_ACCOUNT"
  local args
  mapfile -t args < <(chart_operator_args)
  start_operator "$HEALTH_PORT" --leader-elect=false --metrics-bind-address=0 "${args[@]}"
}

# operator_up_real-node imports the images into the node and installs the
# chart: the operator runs as a pod of dist/manager.oci.tar.
operator_up_real-node() {
  step "Importing the images of make images and make images-e2e into the node's containerd"
  local tar
  for tar in dist/manager.oci.tar dist/user-service.oci.tar bin/e2e-images/v2/user-service.oci.tar; do
    [ -f "$ROOT/$tar" ] || die "$tar is missing; run 'make images images-e2e'"
  done
  show hack/local-cluster.sh load-images dist/manager.oci.tar dist/user-service.oci.tar \
    bin/e2e-images/v2/user-service.oci.tar >&2
  step "Installing the operator with Helm: it runs as a pod, from its image, with its ServiceAccount's token"
  restricted_namespace "$OPERATOR_NS"
  helm_install --wait --timeout 3m
  show kubectl -n "$OPERATOR_NS" get pods -o wide >&2
}

# database_real-node starts PostgreSQL on the node's bridge gateway (the
# pods' only way out of their subnet) with a role and a database for the
# demo, and sets DB_URL.
database_real-node() {
  step "Starting PostgreSQL on the bridge gateway $GATEWAY, with role and database users"
  local dir port password
  dir=$(mktemp -d "${TMPDIR:-/tmp}/userservice-operator-demo-pg.XXXXXX")
  echo "$dir" >"$OPERATOR_DIR/pg-dir"
  show hack/pg-cluster.sh start "$dir" --listen "$GATEWAY" --allow "$NODE_POD_CIDR" >/dev/null
  port=$(cat "$dir/port")
  password=$(openssl rand -hex 16)
  runuser -u postgres -- psql -q -h "$dir" -p "$port" -d postgres \
    -c "CREATE ROLE users LOGIN PASSWORD '$password'" -c "CREATE DATABASE users OWNER users"
  DB_URL="postgres://users:$password@$GATEWAY:$port/users?sslmode=disable"
}

# serve_real-node makes the Service a NodePort, creates a user with curl
# through it and reads the user back; it sets BASE and USER_ID.
serve_real-node() {
  step "Exposing usvc/$SAMPLE on a NodePort, which kube-proxy serves on 127.0.0.1"
  show kubectl -n "$DEMO_NS" patch "usvc/$SAMPLE" --type merge -p '{"spec":{"service":{"type":"NodePort"}}}' >&2
  local np="" i token secret
  for ((i = 0; i < 60; i++)); do
    np=$(kubectl -n "$DEMO_NS" get "svc/$SAMPLE" -o jsonpath='{.spec.ports[0].nodePort}' 2>/dev/null || true)
    [ -z "$np" ] || break
    sleep 0.5
  done
  [ -n "$np" ] || die "svc/$SAMPLE got no NodePort"
  BASE="http://127.0.0.1:$np"
  for ((i = 0; i < 60; i++)); do curl -fsS -m 2 "$BASE/health" >/dev/null 2>&1 && break; sleep 0.5; done
  step "Creating a user with curl through the NodePort, with a JWT signed by the generated Secret $SAMPLE-jwt"
  secret=$(kubectl -n "$DEMO_NS" get "secret/$SAMPLE-jwt" -o jsonpath='{.data.jwt-secret}' | base64 -d)
  token=$(JWT_SECRET="$secret" "$ROOT/hack/jwt.sh" demo)
  printf '$ TOKEN=$(JWT_SECRET=$(kubectl -n %s get secret/%s-jwt -o jsonpath={.data.jwt-secret} | base64 -d) hack/jwt.sh demo)\n' "$DEMO_NS" "$SAMPLE" >&2
  printf '$ curl -sS -X POST %s/api/v1/users -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d %s\n' \
    "$BASE" "'{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}'" >&2
  local created
  created=$(curl -sS -m 10 -X POST "$BASE/api/v1/users" -H "Authorization: Bearer $token" \
    -H "Content-Type: application/json" -d '{"name":"Ada Lovelace","email":"ada@example.com"}')
  echo "$created" >&2
  USER_ID=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$created")
  [ -n "$USER_ID" ] || die "the POST did not create a user: $created"
  read_back
}

# read_back reads the demo's user back through the NodePort.
read_back() {
  show curl -sS -m 10 "$BASE/api/v1/users/$USER_ID" >&2
  echo >&2
}

# explore prints what to do next.
explore() {
  cat >&2 <<EOF

==> The demo is running ($MODE mode). Explore it:
  export KUBECONFIG=$KUBECONFIG
  export PATH=$(dirname "$(command -v kubectl)"):\$PATH
  kubectl -n $DEMO_NS get usvc,all
  kubectl -n $DEMO_NS describe usvc/$SAMPLE          # conditions and events
  kubectl explain usvc.spec
  hack/local-cluster.sh status
EOF
  if [ "$MODE" = kwok ]; then
    echo "  tail -f $OPERATOR_DIR/manager.log   # the operator's log" >&2
  else
    echo "  kubectl -n $OPERATOR_NS logs deploy/userservice-operator   # the operator's log" >&2
    echo "  curl $BASE/api/v1/users              # the Service, through its NodePort" >&2
  fi
  cat >&2 <<EOF

Clean up (stops every process the demo started, removes its state):
  make demo-down
EOF
}

# cmd_up runs the whole demo.
cmd_up() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --mode) MODE=${2:-}; shift 2 ;;
      --mode=*) MODE=${1#*=}; shift ;;
      *) die "unknown flag $1: usage: hack/demo.sh up [--mode kwok|real-node]" ;;
    esac
  done
  case "$MODE" in kwok|real-node) ;; *) die "--mode $MODE is not known: use kwok or real-node" ;; esac
  local start=$SECONDS
  step "Starting the local cluster (hack/local-cluster.sh up --mode $MODE)"
  local exports
  exports=$("$ROOT/hack/local-cluster.sh" up --mode "$MODE")
  eval "$exports"
  export KUBECONFIG
  PATH="$("$ROOT/hack/k8s-bins.sh" kubectl 2>/dev/null):$PATH"
  mkdir -p "$OPERATOR_DIR" && chmod 700 "$OPERATOR_DIR"
  cd "$ROOT"
  "operator_up_$MODE"
  if [ "$MODE" = real-node ]; then database_real-node; fi
  create_sample
  step "Waiting for usvc/$SAMPLE to be Ready"
  wait_ready
  show kubectl -n "$DEMO_NS" get usvc,deploy,svc,jobs,secrets >&2
  if [ "$MODE" = real-node ]; then serve_real-node; fi
  upgrade
  show kubectl -n "$DEMO_NS" get usvc,deploy,rs,jobs >&2
  if [ "$MODE" = real-node ]; then
    show kubectl -n "$DEMO_NS" logs "job/$(kubectl -n "$DEMO_NS" get "usvc/$SAMPLE" -o jsonpath='{.status.migrationJob}')" >&2
    show kubectl -n "$DEMO_NS" get pods -o wide >&2
    step "Reading the user back from the upgraded pods"
    read_back
  fi
  explore
  echo "[demo] done in $((SECONDS - start))s" >&2
}

# cmd_down stops the operator, PostgreSQL and the local cluster and removes
# their state.
cmd_down() {
  stop_operator
  if [ -f "$OPERATOR_DIR/pg-dir" ]; then
    "$ROOT/hack/pg-cluster.sh" destroy "$(cat "$OPERATOR_DIR/pg-dir")"
  fi
  rm -rf "$OPERATOR_DIR"
  "$ROOT/hack/local-cluster.sh" down
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  *) echo "usage: hack/demo.sh up [--mode kwok|real-node] | down" >&2; exit 2 ;;
esac
