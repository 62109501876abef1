#!/usr/bin/env bash
# Builds Kubernetes control-plane binaries from the Go module proxy, because
# setup-envtest and kind cannot download prebuilt ones on machines without
# general internet access. Binaries are cached outside the repository, where
# setup-envtest keeps its own, and are built only when missing.
#
# Usage: hack/k8s-bins.sh [binary...]
#   binaries: kube-apiserver etcd kube-controller-manager kube-scheduler
#             kubelet kube-proxy kubectl kwok crictl (default: kube-apiserver etcd)
# Prints the cache directory (usable as KUBEBUILDER_ASSETS) on stdout.
# Progress goes to stderr: while a build runs, the packages compiled so far
# and the elapsed time, every 30 s. A cold build of every binary took 1048 s
# (17.5 min) on 2 shared cores.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
CRICTL_VERSION="${CRICTL_VERSION:-1.37.0}"
ASSETS_DIR="${K8S_ASSETS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest/k8s/${K8S_VERSION}-linux-amd64}"

log() { printf '[k8s-bins] %s\n' "$*" >&2; }

# PROGRESS_EVERY is how often (seconds) go_build reports its progress.
PROGRESS_EVERY="${K8S_BINS_PROGRESS_EVERY:-30}"

# go_build runs `go <args> -v` (build or install) for the binary named $1,
# out of $2 packages (0: unknown), and reports on stderr every
# PROGRESS_EVERY seconds how many packages it compiled so far and how long it
# has run. `-v` names each package as it is compiled (cached ones are not
# named); every other line (compiler errors) is passed on as it is.
go_build() {
  local what=$1 total=$2 n=0 line rc start=$SECONDS last=$SECONDS of=""
  shift 2
  [ "$total" -gt 0 ] && of=" of $total"
  go "$1" -v "${@:2}" 2>&1 | {
    while :; do
      if IFS= read -r -t "$PROGRESS_EVERY" line; then
        if [[ "$line" =~ ^[[:alnum:]._~/-]+$ ]]; then n=$((n + 1)); else printf '%s\n' "$line" >&2; fi
      else
        rc=$?
        [ $rc -gt 128 ] || break # end of output; above 128 is the timeout
      fi
      if [ $((SECONDS - last)) -ge "$PROGRESS_EVERY" ]; then
        log "$what: compiled $n$of packages (cached ones are not counted), $((SECONDS - start))s"
        last=$SECONDS
      fi
    done
    log "$what: compiled $n packages in $((SECONDS - start))s"
  }
}

# package_count prints how many packages building the packages "$@" involves.
package_count() { go list -deps "$@" | wc -l; }

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(kube-apiserver etcd)

mkdir -p "$ASSETS_DIR"
missing_k8s=()
need_etcd=false
need_kwok=false
need_crictl=false
for b in "${wanted[@]}"; do
  [ -x "$ASSETS_DIR/$b" ] && continue
  case "$b" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl) missing_k8s+=("$b") ;;
    etcd) need_etcd=true ;;
    kwok) need_kwok=true ;;
    crictl) need_crictl=true ;;
    *) log "unknown binary $b: choose from kube-apiserver etcd kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kwok crictl"; exit 2 ;;
  esac
done

# One lock per cache dir, so that parallel callers do not build twice.
exec 9>"$ASSETS_DIR/.lock"
flock 9

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build_k8s() {
  local todo=()
  for b in "$@"; do [ -x "$ASSETS_DIR/$b" ] || todo+=("$b"); done
  [ ${#todo[@]} -gt 0 ] || return 0
  log "building ${todo[*]} v${K8S_VERSION} from the Go module proxy (a cold build of every binary took 17.5 min on 2 shared cores)"
  local m="$work/k8s"
  mkdir -p "$m" && cd "$m"
  go mod init example.com/k8sbin >/dev/null 2>&1
  go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" > dl.json
  local gomod
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' dl.json)
  {
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    # Staging modules are required at v0.0.0 and replaced in-tree upstream.
    grep -oE '^[[:space:]]*k8s.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk -v v="v0.${K8S_VERSION#1.}" '{print "replace " $1 " => " $1 " " v}'
  } >> go.mod
  {
    echo '//go:build tools'
    echo 'package tools'
    echo 'import ('
    for b in "${todo[@]}"; do echo "  _ \"k8s.io/kubernetes/cmd/$b\""; done
    echo ')'
  } > tools.go
  log "downloading the modules"
  go mod tidy >&2
  local pkgs=()
  for b in "${todo[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  go_build "${todo[*]}" "$(package_count "${pkgs[@]}")" build -o "$m/out/" "${pkgs[@]}"
  for b in "${todo[@]}"; do mv "$m/out/$b" "$ASSETS_DIR/$b"; done
  cd - >/dev/null
}

build_etcd() {
  log "building etcd v${ETCD_VERSION} from the Go module proxy"
  local m="$work/etcd"
  mkdir -p "$m" && cd "$m"
  go mod init example.com/etcdbin >/dev/null 2>&1
  cat >> go.mod <<EOM
require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
replace (
  go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v${ETCD_VERSION}
  go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 v${ETCD_VERSION}
  go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 v${ETCD_VERSION}
  go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 v${ETCD_VERSION}
)
EOM
  printf '//go:build tools\npackage tools\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go mod tidy >&2
  go_build etcd "$(package_count go.etcd.io/etcd/server/v3)" build -o "$m/etcd" go.etcd.io/etcd/server/v3
  mv "$m/etcd" "$ASSETS_DIR/etcd"
  cd - >/dev/null
}

build_kwok() {
  log "building kwok v${KWOK_VERSION} from the Go module proxy"
  GOBIN="$work/kwokbin" go_build kwok 0 install "sigs.k8s.io/kwok/cmd/kwok@v${KWOK_VERSION}"
  mv "$work/kwokbin/kwok" "$ASSETS_DIR/kwok"
}

# build_crictl builds crictl, the CRI client the real-node cluster's `down`
# uses to stop and remove pod sandboxes (with their network) through containerd.
build_crictl() {
  log "building crictl v${CRICTL_VERSION} from the Go module proxy"
  GOBIN="$work/crictlbin" go_build crictl 0 install "sigs.k8s.io/cri-tools/cmd/crictl@v${CRICTL_VERSION}"
  mv "$work/crictlbin/crictl" "$ASSETS_DIR/crictl"
}

start=$SECONDS
# if-statements, not `cond && build`: set -e is off in the body of a function
# that is part of an && list, so a failed build would go unnoticed.
if [ "$need_etcd" = true ]; then build_etcd; fi
if [ ${#missing_k8s[@]} -gt 0 ]; then build_k8s "${missing_k8s[@]}"; fi
if [ "$need_kwok" = true ]; then build_kwok; fi
if [ "$need_crictl" = true ]; then build_crictl; fi
if [ $((SECONDS - start)) -gt 0 ]; then log "done in $((SECONDS - start))s: $ASSETS_DIR"; fi
echo "$ASSETS_DIR"
