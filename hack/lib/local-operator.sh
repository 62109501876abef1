# shellcheck shell=bash
# Functions shared by hack/demo.sh and hack/bench/operator-scale.sh: install
# the operator's Helm chart on the local cluster and run the operator as a
# local process authenticated with a token of the chart's ServiceAccount, so
# that the chart's RBAC is exactly what it gets.
#
# The caller sets ROOT, KUBECONFIG (admin), PATH (with kubectl), OPERATOR_DIR
# (a private state dir) and HELM (the Helm CLI).

RELEASE="${RELEASE:-userservice-operator}"
OPERATOR_NS="${OPERATOR_NS:-userservice-system}"

# lo_die prints an error and exits.
lo_die() { printf '[local-operator] error: %s\n' "$*" >&2; exit 1; }

# helm_install installs charts/userservice-operator with Helm, with the
# extra Helm arguments "$@".
helm_install() {
  [ -x "$HELM" ] || lo_die "helm not found at $HELM; run 'make helm' or set HELM"
  printf '$ helm upgrade --install %s charts/userservice-operator --namespace %s --create-namespace %s\n' "$RELEASE" "$OPERATOR_NS" "$*" >&2
  "$HELM" upgrade --install "$RELEASE" "$ROOT/charts/userservice-operator" \
    --namespace "$OPERATOR_NS" --create-namespace "$@" >&2
}

# install_chart installs the chart, scales its Deployment to 0 (kwok pods
# run nothing) and sets SERVICE_ACCOUNT.
install_chart() {
  helm_install
  local deploy
  deploy=$(kubectl -n "$OPERATOR_NS" get deploy -l "app.kubernetes.io/instance=$RELEASE" -o name | head -n 1)
  [ -n "$deploy" ] || lo_die "the chart created no Deployment in $OPERATOR_NS"
  echo "[local-operator] kwok pods run nothing: scaling $deploy to 0; the operator runs as a local process instead" >&2
  kubectl -n "$OPERATOR_NS" scale "$deploy" --replicas 0 >/dev/null
  SERVICE_ACCOUNT=$(kubectl -n "$OPERATOR_NS" get "$deploy" -o jsonpath='{.spec.template.spec.serviceAccountName}')
  [ -n "$SERVICE_ACCOUNT" ] || lo_die "$deploy names no serviceAccountName"
}

# operator_kubeconfig writes $OPERATOR_DIR/operator.kubeconfig with a token
# of the chart's ServiceAccount.
operator_kubeconfig() {
  mkdir -p "$OPERATOR_DIR" && chmod 700 "$OPERATOR_DIR"
  local token server ca kc="$OPERATOR_DIR/operator.kubeconfig"
  token=$(kubectl -n "$OPERATOR_NS" create token "$SERVICE_ACCOUNT" --duration 24h)
  server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
  cat >"$kc" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$server", certificate-authority: "$ca"}
users:
- name: operator
  user: {token: "$token"}
contexts:
- name: local
  context: {cluster: local, user: operator}
current-context: local
EOF
  chmod 600 "$kc"
}

# operator_pid prints the pid of the operator started by start_operator
# while it still runs.
operator_pid() {
  local f="$OPERATOR_DIR/manager.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1 | grep -q '/manager$' || return 1
  echo "$pid"
}

# start_operator runs bin/manager with the ServiceAccount kubeconfig, health
# probes on 127.0.0.1:$1 and the extra flags "${@:2}", and waits for /readyz.
start_operator() {
  local health_port=$1; shift
  stop_operator
  operator_kubeconfig
  KUBECONFIG="$OPERATOR_DIR/operator.kubeconfig" setsid "$ROOT/bin/manager" \
    --health-probe-bind-address "127.0.0.1:$health_port" "$@" \
    >"$OPERATOR_DIR/manager.log" 2>&1 </dev/null &
  echo $! >"$OPERATOR_DIR/manager.pid"
  local deadline=$((SECONDS + 60))
  until kubectl --server "http://127.0.0.1:$health_port" get --raw /readyz >/dev/null 2>&1; do
    operator_pid >/dev/null || lo_die "the operator exited; see $OPERATOR_DIR/manager.log:
$(tail -n 20 "$OPERATOR_DIR/manager.log")"
    [ $SECONDS -lt $deadline ] || lo_die "the operator is not ready after 60s; see $OPERATOR_DIR/manager.log"
    sleep 1
  done
  echo "[local-operator] operator running as $OPERATOR_NS/$SERVICE_ACCOUNT (pid $(operator_pid)), log: $OPERATOR_DIR/manager.log" >&2
}

# stop_operator stops the operator by its recorded pid.
stop_operator() {
  local pid i
  pid=$(operator_pid) || return 0
  echo "[local-operator] stopping the operator (pid $pid)" >&2
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$OPERATOR_DIR/manager.pid"
}

# chart_operator_args prints, one per line, the operator flags that the
# chart's Deployment sets (image, namespaces, concurrency), leaving out the
# ones a local process sets itself (bind addresses, leader election) and the
# metrics certificate, which the pod mounts from a Secret.
chart_operator_args() {
  kubectl -n "$OPERATOR_NS" get deploy -l "app.kubernetes.io/instance=$RELEASE" \
    -o jsonpath='{range .items[0].spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}' |
    grep -vE '^--(metrics-bind-address|health-probe-bind-address|leader-elect|metrics-secure|metrics-cert-path)' || true
}
