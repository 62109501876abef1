#!/usr/bin/env bash
# Runs a local Kubernetes cluster on loopback, built from the Go module proxy:
# etcd, kube-apiserver, kube-controller-manager and kube-scheduler are real.
# In kwok mode (default) the nodes are simulated by kwok, which takes pods to
# Running and Ready and Job pods to Completed without running any container.
# In real-node mode (as root) one real node runs the pods: containerd, runc,
# the CNI bridge cni0, kubelet and kube-proxy (hack/lib/real-node.sh,
# docs/local-cluster.md).
#
# Usage:
#   hack/local-cluster.sh up [--mode kwok|real-node] [--nodes N]
#   hack/local-cluster.sh down
#   hack/local-cluster.sh status
#   hack/local-cluster.sh restart <component>   (e.g. kube-apiserver)
#   hack/local-cluster.sh load-images TAR...    (real-node: import OCI tarballs)
#
# real-node mode runs as root; `down` then also restores the machine.
#
# `up` builds the missing binaries (hack/k8s-bins.sh, cached outside the
# repository), creates a PKI and a service-account key, starts every process
# that is not running yet, and prints `export KUBECONFIG=...` on stdout.
# Progress goes to stderr, one line per step. `up` is idempotent: run again, it
# starts only what is not running. `down` stops exactly the processes that `up`
# started, by their recorded pids, and deletes the state directory. In
# real-node mode it first removes every pod (containers, network namespaces,
# mounts), the containerd shims, kube-proxy's and the kubelet's iptables rules
# (kube-proxy --cleanup), the bridge, and restores the kernel settings that the
# node changed.
#
# Environment:
#   LOCAL_CLUSTER_DIR             state dir (default ${XDG_STATE_HOME:-$HOME/.local/state}/userservice-operator/local-cluster)
#   LOCAL_CLUSTER_MODE            kwok (default) or real-node
#   LOCAL_CLUSTER_NODES           number of simulated nodes (default 2)
#   LOCAL_CLUSTER_APISERVER_PORT  kube-apiserver port (default 16443)
#   LOCAL_CLUSTER_ETCD_PORT       etcd client port (default 12379; the peer port is this + 1)
#   LOCAL_CLUSTER_KCM_PORT        kube-controller-manager port (default 11257)
#   LOCAL_CLUSTER_SCHEDULER_PORT  kube-scheduler port (default 11259)
#   LOCAL_CLUSTER_PROFILING       true serves /debug/pprof/ on the control-plane components (default false)
#   LOCAL_CLUSTER_NODE_NAME       real-node: the node's name (default real-node)
#   LOCAL_CLUSTER_KUBELET_PORT, LOCAL_CLUSTER_KUBELET_HEALTHZ_PORT, LOCAL_CLUSTER_PROXY_HEALTHZ_PORT,
#   LOCAL_CLUSTER_PROXY_METRICS_PORT  real-node ports (defaults 10250, 10248, 10256, 10249)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="${LOCAL_CLUSTER_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/userservice-operator/local-cluster}"
MODE="${LOCAL_CLUSTER_MODE:-kwok}"
NODES="${LOCAL_CLUSTER_NODES:-2}"
APISERVER_PORT="${LOCAL_CLUSTER_APISERVER_PORT:-16443}"
ETCD_PORT="${LOCAL_CLUSTER_ETCD_PORT:-12379}"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
KCM_PORT="${LOCAL_CLUSTER_KCM_PORT:-11257}"
SCHEDULER_PORT="${LOCAL_CLUSTER_SCHEDULER_PORT:-11259}"
SERVICE_CIDR=10.96.0.0/16
POD_CIDR=10.244.0.0/16
KUBECONFIG_FILE="$DIR/kubeconfig"
PKI="$DIR/pki"
BIN=""

# Control-plane components in start order; the node components of the mode
# follow them (see nodes_components).
CONTROL_PLANE=(etcd kube-apiserver kube-controller-manager kube-scheduler)

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { printf '[local-cluster] error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=hack/lib/real-node.sh
source "$ROOT/hack/lib/real-node.sh"

# usage prints the command synopsis.
usage() {
  sed -n '/^# Usage:/,/^# real-node mode runs as root/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

# port_open succeeds when something listens on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of prints the recorded pid of component $1 when that process still runs
# the component's binary, and fails otherwise (so a reused pid is never trusted).
pid_of() {
  local f="$DIR/pids/$1.pid" pid argv0
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)
  [ "${argv0##*/}" = "$1" ] || return 1
  echo "$pid"
}

# running succeeds when component $1 runs under its recorded pid.
running() { pid_of "$1" >/dev/null; }

# require_port fails with a clear message when port $1 (set by variable $2) is taken.
require_port() {
  if port_open "$1"; then
    die "port $1 ($2) is already in use by another process; set $2 to a free port, or run 'hack/local-cluster.sh down' if it is an earlier local cluster"
  fi
}

# start_proc starts component $1 as a detached process running "${@:2}",
# logging to logs/$1.log, and records its pid.
start_proc() {
  local name=$1; shift
  mkdir -p "$DIR/pids" "$DIR/logs"
  setsid "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/pids/$name.pid"
  # Until setsid has exec'd the binary, /proc shows another argv[0].
  local i
  for ((i = 0; i < 50; i++)); do
    running "$name" && return 0
    sleep 0.1
  done
  die "$name did not start; see $DIR/logs/$name.log:
$(tail -n 20 "$DIR/logs/$name.log" 2>/dev/null)"
}

# wait_until runs "${@:3}" every half second until it succeeds, for at most $2
# seconds, and fails naming component $1 and its log otherwise.
wait_until() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      die "$name exited; last lines of $DIR/logs/$name.log:
$(tail -n 20 "$DIR/logs/$name.log" 2>/dev/null)"
    fi
    [ $SECONDS -lt $deadline ] || die "$name not ready after ${timeout}s; see $DIR/logs/$name.log"
    sleep 0.5
  done
}

# kubectl_admin runs kubectl with the admin kubeconfig.
kubectl_admin() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# build_bins builds the missing binaries and sets BIN to their directory.
build_bins() {
  local bins=(kube-apiserver etcd kube-controller-manager kube-scheduler kubectl)
  case "$MODE" in
    kwok) bins+=(kwok) ;;
    real-node) bins+=(kubelet kube-proxy crictl) ;;
  esac
  log "step 1/6: binaries (${bins[*]}); a cold cache takes minutes, progress follows"
  BIN=$("$ROOT/hack/k8s-bins.sh" "${bins[@]}")
}

# gen_cert writes $PKI/$1.{key,crt} signed by the cluster CA, with subject $2
# and, when $3 is set, subjectAltName $3 (server certificate).
gen_cert() {
  local name=$1 subj=$2 san=${3:-}
  [ -f "$PKI/$name.crt" ] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  if [ -n "$san" ]; then
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$san" >"$ext"
  else
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

# write_kubeconfig writes a kubeconfig $1 for the client certificate $2.
write_kubeconfig() {
  local file=$1 cert=$2
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $cert
  user:
    client-certificate: $PKI/$cert.crt
    client-key: $PKI/$cert.key
contexts:
- name: local
  context: {cluster: local, user: $cert}
current-context: local
EOF
  chmod 600 "$file"
}

# make_pki creates the CA, the server and client certificates, the
# service-account key pair and the kubeconfigs, keeping any that exist.
make_pki() {
  log "step 2/6: PKI, service-account key and kubeconfigs in $DIR"
  mkdir -p "$PKI" && chmod 700 "$DIR" "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=local-cluster-ca" -days 365 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  local sans="IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # Pods reach kube-apiserver on the bridge gateway (the `kubernetes` endpoint).
  [ "$MODE" = real-node ] && sans+=",IP:$GATEWAY"
  gen_cert kube-apiserver "/CN=kube-apiserver" "$sans"
  gen_cert etcd "/CN=etcd" "IP:127.0.0.1,DNS:localhost"
  gen_cert apiserver-etcd-client "/CN=kube-apiserver-etcd-client"
  gen_cert admin "/O=system:masters/CN=local-cluster-admin"
  gen_cert kube-controller-manager "/CN=system:kube-controller-manager"
  gen_cert kube-scheduler "/CN=system:kube-scheduler"
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  chmod 600 "$PKI"/*.key
  write_kubeconfig "$KUBECONFIG_FILE" admin
  write_kubeconfig "$DIR/kube-controller-manager.kubeconfig" kube-controller-manager
  write_kubeconfig "$DIR/kube-scheduler.kubeconfig" kube-scheduler
  "pki_$MODE"
}

# pki_kwok issues kwok's certificate: kwok acts as every simulated kubelet,
# so it needs broad rights.
pki_kwok() {
  gen_cert kwok "/O=system:masters/CN=kwok-controller"
  chmod 600 "$PKI"/*.key
  write_kubeconfig "$DIR/kwok.kubeconfig" kwok
}

# apiserver_args_kwok prints kube-apiserver's node-related flags: loopback only.
apiserver_args_kwok() {
  printf '%s\n' --bind-address 127.0.0.1 --advertise-address 127.0.0.1
}

# start_etcd starts a single-member etcd with TLS on loopback.
start_etcd() {
  running etcd && { log "etcd already running (pid $(pid_of etcd))"; return 0; }
  require_port "$ETCD_PORT" LOCAL_CLUSTER_ETCD_PORT
  require_port "$ETCD_PEER_PORT" "LOCAL_CLUSTER_ETCD_PORT (+1, peer port)"
  log "step 3/6: starting etcd on 127.0.0.1:$ETCD_PORT"
  # --unsafe-no-fsync: a throw-away cluster, and the disk is shared.
  start_proc etcd "$BIN/etcd" --name local --data-dir "$DIR/etcd" \
    --listen-client-urls "https://127.0.0.1:$ETCD_PORT" --advertise-client-urls "https://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" \
    --cert-file "$PKI/etcd.crt" --key-file "$PKI/etcd.key" --trusted-ca-file "$PKI/ca.crt" --client-cert-auth \
    --unsafe-no-fsync --log-level warn
  wait_until etcd 30 port_open "$ETCD_PORT"
}

# start_apiserver starts kube-apiserver with client-certificate and
# service-account authentication and RBAC authorization.
start_apiserver() {
  running kube-apiserver && { log "kube-apiserver already running (pid $(pid_of kube-apiserver))"; return 0; }
  require_port "$APISERVER_PORT" LOCAL_CLUSTER_APISERVER_PORT
  log "step 4/6: starting kube-apiserver on https://127.0.0.1:$APISERVER_PORT"
  local mode_args
  mapfile -t mode_args < <("apiserver_args_$MODE")
  start_proc kube-apiserver "$BIN/kube-apiserver" "${mode_args[@]}" --secure-port "$APISERVER_PORT" \
    --endpoint-reconciler-type none \
    --etcd-servers "https://127.0.0.1:$ETCD_PORT" --etcd-cafile "$PKI/ca.crt" \
    --etcd-certfile "$PKI/apiserver-etcd-client.crt" --etcd-keyfile "$PKI/apiserver-etcd-client.key" \
    --tls-cert-file "$PKI/kube-apiserver.crt" --tls-private-key-file "$PKI/kube-apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC \
    --allow-privileged=false --profiling="${LOCAL_CLUSTER_PROFILING:-false}" \
    --cert-dir "$DIR/kube-apiserver-certs"
  wait_until kube-apiserver 90 kubectl_admin get --raw /readyz
}

# start_controller_manager starts kube-controller-manager with every
# controller but node IPAM (no pod CIDRs here), node lifecycle included:
# it removes the not-ready taint from new nodes.
start_controller_manager() {
  running kube-controller-manager && { log "kube-controller-manager already running (pid $(pid_of kube-controller-manager))"; return 0; }
  require_port "$KCM_PORT" LOCAL_CLUSTER_KCM_PORT
  log "step 5/6: starting kube-controller-manager and kube-scheduler"
  local kc="$DIR/kube-controller-manager.kubeconfig"
  start_proc kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --cert-dir "$DIR/kube-controller-manager-certs" \
    --controllers '*,-node-ipam-controller' \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --kube-api-qps 100 --kube-api-burst 200 \
    --leader-elect=false --profiling="${LOCAL_CLUSTER_PROFILING:-false}"
  wait_until kube-controller-manager 60 kubectl_admin --server "https://127.0.0.1:$KCM_PORT" --insecure-skip-tls-verify get --raw /healthz
}

# start_scheduler starts kube-scheduler.
start_scheduler() {
  running kube-scheduler && { log "kube-scheduler already running (pid $(pid_of kube-scheduler))"; return 0; }
  require_port "$SCHEDULER_PORT" LOCAL_CLUSTER_SCHEDULER_PORT
  local kc="$DIR/kube-scheduler.kubeconfig"
  start_proc kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --cert-dir "$DIR/kube-scheduler-certs" \
    --leader-elect=false --profiling="${LOCAL_CLUSTER_PROFILING:-false}"
  wait_until kube-scheduler 60 kubectl_admin --server "https://127.0.0.1:$SCHEDULER_PORT" --insecure-skip-tls-verify get --raw /healthz
}

# nodes_components prints the node components of the mode, in start order.
nodes_components() {
  case "$MODE" in
    kwok) echo kwok ;;
    real-node) echo containerd kubelet kube-proxy ;;
  esac
}

# nodes_up_kwok starts kwok with the stages in hack/kwok/stages and creates
# the Node objects it simulates, then waits for them to be Ready.
nodes_up_kwok() {
  if running kwok; then
    log "kwok already running (pid $(pid_of kwok))"
  else
    log "step 6/6: starting kwok and $NODES simulated node(s)"
    local cfg=() f
    for f in "$ROOT"/hack/kwok/stages/*.yaml; do cfg+=(--config "$f"); done
    start_proc kwok "$BIN/kwok" --kubeconfig "$DIR/kwok.kubeconfig" "${cfg[@]}" \
      --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
      --node-lease-duration-seconds 40 --cidr "$POD_CIDR" --node-ip 127.0.0.1
  fi
  local i
  for ((i = 0; i < NODES; i++)); do
    kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node.kubernetes.io/instance-type: kwok
    type: kwok
status:
  allocatable: {cpu: "1000", memory: 1Ti, pods: "10000"}
  capacity: {cpu: "1000", memory: 1Ti, pods: "10000"}
EOF
  done
  wait_until kwok 60 kubectl_admin wait --for=condition=Ready node --all --timeout=1s
  # The node-lifecycle controller removes the not-ready taint once the node is Ready.
  wait_until kwok 60 nodes_untainted
}

# nodes_untainted succeeds when no node carries a NoSchedule or NoExecute taint.
nodes_untainted() {
  [ -z "$(kubectl_admin get nodes -o jsonpath='{range .items[*]}{.spec.taints[*].key}{end}')" ]
}

# nodes_prepare_kwok has nothing to prepare: kwok needs nothing from the machine.
nodes_prepare_kwok() { :; }

# nodes_down_kwok stops kwok.
nodes_down_kwok() { stop_component kwok; }

# cmd_up brings every component up, skipping those already running.
cmd_up() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --mode) MODE=$2; shift 2 ;;
      --mode=*) MODE=${1#*=}; shift ;;
      --nodes) NODES=$2; shift 2 ;;
      --nodes=*) NODES=${1#*=}; shift ;;
      *) usage; die "unknown flag $1 for up" ;;
    esac
  done
  case "$MODE" in kwok|real-node) ;; *) die "--mode $MODE is not known: use kwok or real-node" ;; esac
  [[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "--nodes (LOCAL_CLUSTER_NODES) must be a positive integer, got '$NODES'"
  if [ -f "$DIR/mode" ] && [ "$(cat "$DIR/mode")" != "$MODE" ]; then
    die "a $(cat "$DIR/mode") cluster exists in $DIR; run 'hack/local-cluster.sh down' first"
  fi
  command -v openssl >/dev/null || die "openssl is required (apt-get install openssl)"
  [ "$MODE" = real-node ] && require_root
  local start=$SECONDS
  build_bins
  mkdir -p "$DIR" && echo "$MODE" >"$DIR/mode"
  make_pki
  "nodes_prepare_$MODE"
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  "nodes_up_$MODE"
  log "cluster ready in $((SECONDS - start))s ($MODE mode); logs in $DIR/logs"
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
}

# all_components prints every component that may have a pid file, in start order.
all_components() {
  printf '%s\n' "${CONTROL_PLANE[@]}"
  MODE=kwok nodes_components
  MODE=real-node nodes_components
}

# stop_component stops component $1 by its recorded pid: SIGTERM, then
# SIGKILL after 15 s.
stop_component() {
  local name=$1 pid i
  pid=$(pid_of "$name") || { rm -f "$DIR/pids/$name.pid"; return 0; }
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop after 15s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/pids/$name.pid"
}

# cmd_down stops the nodes, then every other component in reverse start
# order, and removes the state dir.
cmd_down() {
  [ -d "$DIR" ] || { log "no local cluster in $DIR"; return 0; }
  MODE=$(cat "$DIR/mode" 2>/dev/null || echo kwok)
  "nodes_down_$MODE"
  local comps c
  mapfile -t comps < <(all_components | tac)
  for c in "${comps[@]}"; do stop_component "$c"; done
  local left
  left=$(awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo)
  [ -z "$left" ] || die "mounts are left under $DIR, which is kept; unmount them and run down again:
$left"
  rm -rf "$DIR"
  log "local cluster stopped and $DIR removed"
}

# cmd_load_images imports OCI image tarballs into the real node's containerd.
cmd_load_images() {
  [ "$(cat "$DIR/mode" 2>/dev/null)" = real-node ] || die "load-images needs a running --mode real-node cluster in $DIR"
  [ $# -gt 0 ] || die "load-images needs at least one OCI tarball, such as dist/user-service.oci.tar"
  running containerd || die "containerd of the cluster in $DIR is not running; run 'hack/local-cluster.sh up --mode real-node'"
  load_images "$@"
}

# cmd_status prints one line per component and the kubeconfig path; it fails
# when a recorded component is not running.
cmd_status() {
  [ -d "$DIR/pids" ] || { echo "no local cluster in $DIR"; return 1; }
  local c pid rc=0
  while read -r c; do
    [ -f "$DIR/pids/$c.pid" ] || continue
    if pid=$(pid_of "$c"); then
      printf '%-24s running  pid %-8s log %s\n' "$c" "$pid" "$DIR/logs/$c.log"
    else
      printf '%-24s STOPPED  (recorded pid %s) log %s\n' "$c" "$(cat "$DIR/pids/$c.pid")" "$DIR/logs/$c.log"
      rc=1
    fi
  done < <(all_components)
  echo "mode: $(cat "$DIR/mode" 2>/dev/null || echo unknown)"
  [ "$(cat "$DIR/mode" 2>/dev/null)" = real-node ] && echo "containerd socket: $SOCK (ctr -a $SOCK -n k8s.io ...)"
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
  return $rc
}

# cmd_restart stops component $1 and runs up again, which starts it anew.
cmd_restart() {
  local name=${1:-}
  all_components | grep -qx -- "$name" || die "restart needs a component name: $(all_components | tr '\n' ' ')"
  [ -f "$DIR/mode" ] || die "no local cluster in $DIR; run 'hack/local-cluster.sh up' first"
  MODE=$(cat "$DIR/mode")
  stop_component "$name"
  cmd_up --mode "$MODE" >/dev/null
}

main() {
  local verb=${1:-}
  [ $# -gt 0 ] && shift
  case "$verb" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    restart) cmd_restart "$@" ;;
    load-images) cmd_load_images "$@" ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
