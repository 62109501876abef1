# shellcheck shell=bash
# The node part of `hack/local-cluster.sh --mode real-node`: one real node on
# this machine, with Debian's containerd and runc, the CNI bridge plugin,
# kubelet and kube-proxy. Sourced by hack/local-cluster.sh, which provides
# DIR, PKI, BIN, ROOT, the ports, log/die/start_proc/wait_until/running/
# pid_of/stop_component/gen_cert/write_kubeconfig/kubectl_admin.
#
# Network (docs/local-cluster.md has the reasoning):
# - Pods live on the cni0 bridge, NODE_POD_CIDR, gateway GATEWAY (a host
#   address that exists only on the bridge). They get no default route: only
#   the bridge subnet and a route to the Service CIDR via the gateway, and no
#   masquerade, so their traffic cannot leave the machine.
# - kube-apiserver binds 0.0.0.0 because it must answer host clients on
#   127.0.0.1 and pods on GATEWAY (the `kubernetes` Service's endpoint, which
#   cannot be a loopback address) and it takes only one bind address; the
#   LOCAL-CLUSTER-INPUT chain drops its port, and the bridge addresses,
#   for packets that come from any interface other than lo and cni0.
# - The kubelet serves on GATEWAY: the node's InternalIP, which kube-apiserver
#   dials for `kubectl logs`, cannot be a loopback address either.
# - kube-proxy (iptables mode) serves NodePorts on 127.0.0.1 only.

GATEWAY=10.244.0.1
NODE_POD_CIDR=10.244.0.0/24
BRIDGE=cni0
NODE_NAME="${LOCAL_CLUSTER_NODE_NAME:-real-node}"
KUBELET_PORT="${LOCAL_CLUSTER_KUBELET_PORT:-10250}"
KUBELET_HEALTHZ_PORT="${LOCAL_CLUSTER_KUBELET_HEALTHZ_PORT:-10248}"
PROXY_HEALTHZ_PORT="${LOCAL_CLUSTER_PROXY_HEALTHZ_PORT:-10256}"
PROXY_METRICS_PORT="${LOCAL_CLUSTER_PROXY_METRICS_PORT:-10249}"
PAUSE_IMAGE=localhost/userservice-dev/pause:local
CTRD="$DIR/containerd"
SOCK="$CTRD/containerd.sock"
GUARD_CHAIN=LOCAL-CLUSTER-INPUT
# Kernel settings that the kubelet, kube-proxy or the bridge plugin change;
# up saves them and down puts them back.
SYSCTLS=(net/ipv4/ip_forward net/ipv4/conf/all/route_localnet vm/overcommit_memory vm/panic_on_oom
  kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes)
# Host paths that the kubelet or containerd create whatever their configured
# directories (/var/lib/kubelet holds the device-plugin socket); down removes
# those that did not exist before up.
HOST_PATHS=(/var/log/containers /var/lib/cni /var/lib/kubelet /run/containerd)

# require_root fails unless the script runs as root.
require_root() {
  [ "$(id -u)" = 0 ] || die "--mode real-node must run as root (sudo hack/local-cluster.sh ...): it starts containerd, creates the $BRIDGE bridge and iptables rules"
}

# ensure_node_packages installs containerd, runc, the CNI plugins, iptables
# and the tools the node needs (nft, ip, curl) with apt-get when missing.
ensure_node_packages() {
  local pkgs=()
  command -v containerd >/dev/null || pkgs+=(containerd)
  command -v runc >/dev/null || pkgs+=(runc)
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] || pkgs+=(containernetworking-plugins)
  command -v iptables >/dev/null || pkgs+=(iptables)
  command -v nft >/dev/null || pkgs+=(nftables)
  command -v ip >/dev/null || pkgs+=(iproute2)
  command -v curl >/dev/null || pkgs+=(curl)
  [ ${#pkgs[@]} -eq 0 ] && return 0
  log "installing ${pkgs[*]} with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
}

# pki_real-node issues the node's certificates and kubeconfigs: the kubelet's
# client (Node authorizer: system:node:<name> in system:nodes) and serving
# certificates, kube-proxy's client, and kube-apiserver's client for kubelets.
pki_real-node() {
  gen_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  gen_cert kubelet-serving "/CN=$NODE_NAME" "IP:$GATEWAY,DNS:$NODE_NAME"
  gen_cert kube-proxy "/CN=system:kube-proxy"
  gen_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  chmod 600 "$PKI"/*.key
  write_kubeconfig "$DIR/kubelet.kubeconfig" kubelet
  write_kubeconfig "$DIR/kube-proxy.kubeconfig" kube-proxy
}

# apiserver_args_real-node prints kube-apiserver's node-related flags.
apiserver_args_real-node() {
  printf '%s\n' --bind-address 0.0.0.0 --advertise-address "$GATEWAY" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --enable-admission-plugins NodeRestriction
}

# nodes_prepare_real-node checks root and the packages, saves the kernel
# settings, and creates the bridge and the input guard, before any
# control-plane process starts.
nodes_prepare_real-node() {
  ensure_node_packages
  [ ${#SOCK} -lt 100 ] || die "containerd's socket $SOCK is ${#SOCK} bytes, over the 107-byte unix socket limit with its suffixes; set LOCAL_CLUSTER_DIR to a shorter path"
  save_host_state
  bridge_up
  guard_up
}

# save_host_state records, once, the kernel settings of SYSCTLS, which of
# HOST_PATHS and of the pods' cgroups (k8s.io in each hierarchy) exist, and
# the nftables tables (iptables-nft creates its tables on first use), for down.
save_host_state() {
  [ -f "$DIR/host.saved" ] && return 0
  local s p
  {
    for s in "${SYSCTLS[@]}"; do [ -r "/proc/sys/$s" ] && echo "sysctl $s $(cat "/proc/sys/$s")"; done
    for p in "${HOST_PATHS[@]}" /sys/fs/cgroup/*/k8s.io; do [ -e "$p" ] && echo "path $p"; done
    nft list tables 2>/dev/null | sed 's/^table /nft /'
  } >"$DIR/host.saved.tmp"
  mv "$DIR/host.saved.tmp" "$DIR/host.saved"
}

# bridge_up creates the cni0 bridge with the gateway address, so that the
# kubelet can use it as node IP before the first pod exists.
bridge_up() {
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    [ -f "$DIR/bridge" ] || die "a $BRIDGE link exists that this cluster did not create (another real-node cluster, or a CNI setup); remove it or run that cluster's down"
    return 0
  fi
  log "creating bridge $BRIDGE with $GATEWAY/${NODE_POD_CIDR#*/}"
  touch "$DIR/bridge"
  ip link add "$BRIDGE" type bridge
  ip addr add "$GATEWAY/${NODE_POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# guard_up installs LOCAL-CLUSTER-INPUT: packets that come from another
# interface than lo or cni0 may reach neither the bridge's addresses nor
# kube-apiserver's port (kube-apiserver binds 0.0.0.0).
guard_up() {
  iptables -w -N "$GUARD_CHAIN" 2>/dev/null || iptables -w -F "$GUARD_CHAIN"
  iptables -w -A "$GUARD_CHAIN" -i lo -j RETURN
  iptables -w -A "$GUARD_CHAIN" -i "$BRIDGE" -j RETURN
  iptables -w -A "$GUARD_CHAIN" -d "$NODE_POD_CIDR" -j DROP
  iptables -w -A "$GUARD_CHAIN" -p tcp --dport "$APISERVER_PORT" -j DROP
  iptables -w -C INPUT -j "$GUARD_CHAIN" 2>/dev/null || iptables -w -I INPUT -j "$GUARD_CHAIN"
}

# write_containerd_config writes containerd's config (version 2): root,
# state, socket, runc state and CNI config all under $CTRD.
write_containerd_config() {
  mkdir -p "$CTRD" "$DIR/cni/net.d" "$DIR/cni/ipam"
  cat >"$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$SOCK"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine's root lacks CAP_SYS_RESOURCE: without this every sandbox fails.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CTRD/runc"
EOF
  # No default route and no masquerade: pods reach the bridge subnet (other
  # pods, PostgreSQL and kube-apiserver on the gateway) and, via the gateway,
  # Service IPs; nothing else.
  cat >"$DIR/cni/net.d/10-local-cluster.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "local-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$GATEWAY"}]],
        "routes": [{"dst": "$SERVICE_CIDR", "gw": "$GATEWAY"}]
      }
    }
  ]
}
EOF
}

# ctr_k8s runs ctr against this cluster's containerd, in the CRI namespace.
ctr_k8s() { ctr -a "$SOCK" -n k8s.io "$@"; }

# start_containerd starts containerd with its own config and imports the
# pause image (built by `make image-pause` when missing).
start_containerd() {
  if running containerd; then
    log "containerd already running (pid $(pid_of containerd))"
  else
    log "step 6/6: starting containerd (socket $SOCK), kubelet and kube-proxy as node $NODE_NAME"
    write_containerd_config
    start_proc containerd containerd --config "$CTRD/config.toml"
    wait_until containerd 30 ctr -a "$SOCK" version
  fi
  if ! ctr_k8s images check "name==$PAUSE_IMAGE" 2>/dev/null | grep -q complete; then
    [ -f "$ROOT/dist/pause.oci.tar" ] || make -C "$ROOT" --no-print-directory image-pause PAUSE_IMG="$PAUSE_IMAGE" >&2
    load_images "$ROOT/dist/pause.oci.tar"
  fi
}

# load_images imports OCI image tarballs into the node's containerd.
load_images() {
  local tar
  for tar in "$@"; do
    [ -f "$tar" ] || die "image tarball $tar not found (run 'make images')"
    log "importing $tar into containerd"
    ctr_k8s images import "$tar" >&2
  done
}

# start_kubelet writes the KubeletConfiguration and starts the kubelet.
start_kubelet() {
  running kubelet && { log "kubelet already running (pid $(pid_of kubelet))"; return 0; }
  local k="$DIR/kubelet"
  mkdir -p "$k"
  cat >"$k/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GATEWAY
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
podCIDR: $NODE_POD_CIDR
resolvConf: ""
podLogsDir: $k/pod-logs
volumePluginDir: $k/volume-plugins
serializeImagePulls: false
# A shared disk: never evict pods or collect images because of others' files.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
EOF
  start_proc kubelet "$BIN/kubelet" --config "$k/config.yaml" --kubeconfig "$DIR/kubelet.kubeconfig" \
    --root-dir "$k/root" --hostname-override "$NODE_NAME" --node-ip "$GATEWAY"
  wait_until kubelet 60 curl -fsS "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
}

# start_kube_proxy starts kube-proxy in iptables mode, NodePorts on 127.0.0.1.
start_kube_proxy() {
  running kube-proxy && { log "kube-proxy already running (pid $(pid_of kube-proxy))"; return 0; }
  cat >"$DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
nodePortAddresses: [127.0.0.1/32]
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
# 0 leaves the machine's conntrack settings as they are.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start_proc kube-proxy "$BIN/kube-proxy" --config "$DIR/kube-proxy.yaml"
  wait_until kube-proxy 30 curl -fsS "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
}

# kubernetes_endpoints points the `kubernetes` Service at kube-apiserver on
# the gateway (the endpoint reconciler is off: it refuses a loopback
# advertise address, and pods could not reach one).
kubernetes_endpoints() {
  # kubectl warns that v1 Endpoints is deprecated: older clients still read it.
  kubectl_admin apply -f - 2> >(grep -v 'Endpoints is deprecated' >&2) >/dev/null <<EOF
apiVersion: v1
kind: Endpoints
metadata:
  name: kubernetes
  namespace: default
  labels: {endpointslice.kubernetes.io/skip-mirror: "true"}
subsets:
- addresses: [{ip: $GATEWAY}]
  ports: [{name: https, port: $APISERVER_PORT, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes}
addressType: IPv4
endpoints:
- addresses: [$GATEWAY]
  conditions: {ready: true}
ports:
- {name: https, port: $APISERVER_PORT, protocol: TCP}
EOF
}

# nodes_up_real-node starts containerd, the kubelet and kube-proxy, and waits
# for the node to be Ready and schedulable.
nodes_up_real-node() {
  wait_until kube-apiserver 60 kubectl_admin get service kubernetes
  kubernetes_endpoints
  start_containerd
  start_kubelet
  start_kube_proxy
  wait_until kubelet 120 kubectl_admin wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
  wait_until kubelet 60 nodes_untainted
}

# shim_pids prints the pids of the containerd shims of this cluster's
# containerd (they name its socket on their command line).
shim_pids() {
  local f pid cmd
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
    case "$cmd" in *containerd-shim*"$SOCK"*) echo "$pid" ;; esac
  done
}

# remove_pods stops and removes every pod sandbox through the CRI, which
# kills the containers and tears down their network (CNI DEL) and mounts;
# containers that are still left are then deleted with runc.
remove_pods() {
  if running containerd; then
    log "removing every pod sandbox (crictl rmp --all --force)"
    printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n' "$SOCK" "$SOCK" >"$DIR/crictl.yaml"
    "$BIN/crictl" --config "$DIR/crictl.yaml" rmp --all --force >&2 || log "crictl rmp failed; deleting containers with runc"
  fi
  local id root
  for root in "$CTRD"/runc/*; do
    [ -d "$root" ] || continue
    for id in $(runc --root "$root" list -q 2>/dev/null); do
      log "deleting container $id with runc"
      runc --root "$root" delete --force "$id" >&2 || true
    done
  done
}

# stop_shims stops the shims that are still running, by pid.
stop_shims() {
  local pid i
  for pid in $(shim_pids); do
    log "stopping containerd shim (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# iptables_cleanup removes every KUBE-* and CNI-* chain and this cluster's
# guard chain, with the rules that jump to them, from iptables and ip6tables.
iptables_cleanup() {
  local ipt table line chain
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$ipt-save" -t "$table" >/dev/null 2>&1 || continue
      while read -r line; do
        eval "$ipt -w -t $table ${line/#-A /-D }" 2>/dev/null || true
      done < <("$ipt-save" -t "$table" | grep -E "^-A [A-Z]+ .*-j (KUBE-|CNI-|$GUARD_CHAIN)" | grep -vE '^-A (KUBE-|CNI-)')
      for chain in $("$ipt-save" -t "$table" | sed -n "s/^:\(KUBE-[^ ]*\|CNI-[^ ]*\|$GUARD_CHAIN\) .*/\1/p"); do
        "$ipt" -w -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt-save" -t "$table" | sed -n "s/^:\(KUBE-[^ ]*\|CNI-[^ ]*\|$GUARD_CHAIN\) .*/\1/p"); do
        "$ipt" -w -t "$table" -X "$chain" 2>/dev/null || log "could not delete $ipt chain $table/$chain"
      done
    done
  done
}

# unmount_all unmounts every mount under the state dir, deepest first.
unmount_all() {
  local m
  for m in $(awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
}

# restore_host_state puts the saved kernel settings back and removes the
# host paths that did not exist before up.
restore_host_state() {
  [ -f "$DIR/host.saved" ] || return 0
  local kind key value p
  while read -r kind key value; do
    if [ "$kind" = sysctl ]; then
      echo "$value" >"/proc/sys/$key" 2>/dev/null || log "could not restore $key to $value"
    fi
  done <"$DIR/host.saved"
  for p in /sys/fs/cgroup/*/k8s.io; do
    # Empty cgroups are removed with rmdir, deepest first.
    grep -qx "path $p" "$DIR/host.saved" || find "$p" -depth -type d -exec rmdir {} + 2>/dev/null || log "could not remove cgroup $p"
  done
  restore_nft_tables
  for p in "${HOST_PATHS[@]}"; do
    if ! grep -qx "path $p" "$DIR/host.saved"; then
      rm -rf "$p"
    elif [ "$p" = /var/log/containers ]; then
      # It was there before: remove only what points into this cluster.
      find "$p" -maxdepth 1 -type l -lname "$DIR/*" -delete 2>/dev/null || true
    elif [ "$p" = /var/lib/cni ]; then
      rm -f "$p"/results/local-cluster-* 2>/dev/null || true
    fi
  done
}

# restore_nft_tables deletes the nftables tables that did not exist before
# up and hold no rule any more (those iptables-nft created for the cluster).
restore_nft_tables() {
  command -v nft >/dev/null || return 0
  local family table
  while read -r _ family table; do
    grep -qx "nft $family $table" "$DIR/host.saved" && continue
    if [ -z "$(nft list table "$family" "$table" 2>/dev/null | grep -vE '^\s*(table|chain|type|policy|}|$)')" ]; then
      nft delete table "$family" "$table" 2>/dev/null || log "could not delete nftables table $family $table"
    fi
  done < <(nft list tables 2>/dev/null)
}

# nodes_down_real-node stops the node and restores the machine: kubelet,
# pods (containers, network namespaces, mounts), shims, containerd,
# kube-proxy and its rules, the bridge, the kernel settings.
nodes_down_real-node() {
  require_root
  BIN=$("$ROOT/hack/k8s-bins.sh" kube-proxy crictl)
  stop_component kubelet
  remove_pods
  stop_shims
  stop_component containerd
  stop_component kube-proxy
  "$BIN/kube-proxy" --cleanup >>"$DIR/logs/kube-proxy-cleanup.log" 2>&1 || log "kube-proxy --cleanup failed; see $DIR/logs/kube-proxy-cleanup.log"
  iptables_cleanup
  unmount_all
  if [ -f "$DIR/bridge" ] && ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "deleting bridge $BRIDGE"
    ip link delete "$BRIDGE"
  fi
  restore_host_state
}
