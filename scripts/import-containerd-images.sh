#!/usr/bin/env bash
# Imports each sandbox image of sandbox-images.conf from dockerd into a containerd namespace, unpacked
# for containerd's default (overlayfs) snapshotter, unless that namespace already holds the same image
# (same config digest: docker's image id; only this script puts images there, always unpacked). Usage: import-containerd-images.sh SOCKET NAMESPACE [--quiet]
set -euo pipefail
cd "$(dirname "$0")/.."
SOCKET=$1 NAMESPACE=$2
QUIET=false
[[ "${3:-}" == "--quiet" ]] && QUIET=true
DOCKER=/usr/bin/docker
ctr_() { ctr --address "$SOCKET" --namespace "$NAMESPACE" "$@"; }

while read -r name _; do
  [[ -z $name || $name == \#* ]] && continue
  # containerd names images in full, as docker's reference normalisation does.
  [[ $name == */* ]] && full=$name || full=docker.io/library/$name
  docker_id=$("$DOCKER" image inspect --format '{{.Id}}' "$name")
  # The image's manifest names its config blob, whose digest is docker's image id.
  have_id=$(ctr_ content get "$(ctr_ images ls "name==$full" | awk 'NR==2 {print $3}')" 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])' 2>/dev/null || true)
  if [[ $have_id == "$docker_id" ]]; then
    $QUIET || echo "    containerd image $full present in namespace $NAMESPACE"
    continue
  fi
  echo "==> importing $name into containerd namespace $NAMESPACE"
  # ctr unpacks what it imports into the default snapshotter (overlayfs): sandboxes start from that.
  "$DOCKER" save "$name" | ctr_ images import - >/dev/null
done < scripts/sandbox-images.conf
