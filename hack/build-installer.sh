#!/usr/bin/env bash
# Writes a single-file installer (CRDs, RBAC, the operator) from config/default,
# with the operator image set to IMG.
#
# Usage: hack/build-installer.sh IMG OUT
#   IMG  operator image, such as ghcr.io/userservice-dev/userservice-operator:v0.1.0
#   OUT  output file, such as dist/install.yaml
# KUBECTL names the kubectl whose built-in kustomize renders the config
# (default: the one hack/k8s-bins.sh builds).
set -euo pipefail
cd "$(dirname "$0")/.."

img="${1:?usage: hack/build-installer.sh IMG OUT (IMG is the operator image, e.g. ghcr.io/userservice-dev/userservice-operator:v0.1.0)}"
out="${2:?usage: hack/build-installer.sh IMG OUT (OUT is the file to write, e.g. dist/install.yaml)}"
kubectl="${KUBECTL:-$(hack/k8s-bins.sh kubectl)/kubectl}"

# Split IMG into name and tag at the last colon after the last slash.
name="$img" tag="latest"
if [[ "${img##*/}" == *:* ]]; then name="${img%:*}" tag="${img##*:}"; fi

# An overlay in a temporary directory: kustomize takes only relative paths to bases.
overlay=$(mktemp -d)
trap 'rm -rf "$overlay"' EXIT
base=$(realpath --relative-to="$overlay" config/default)
cat > "$overlay/kustomization.yaml" <<EOK
resources:
- $base
images:
- name: ghcr.io/userservice-dev/userservice-operator
  newName: $name
  newTag: "$tag"
EOK
mkdir -p "$(dirname "$out")"
"$kubectl" kustomize "$overlay" > "$out.tmp"
mv "$out.tmp" "$out"
echo "Wrote $out with image $img" >&2
