#!/usr/bin/env bash
# Builds each sandbox image listed in sandbox-images.conf that dockerd does not have yet, without any
# registry: debootstrap a minimal Debian with the listed packages from the machine's configured
# mirror, then `docker import` it. docker/sandbox-*.Dockerfile build the same images from a registry.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/offline-rootfs.sh
QUIET=false
[[ "${1:-}" == "--quiet" ]] && QUIET=true
DOCKER=/usr/bin/docker

# Work done once at build time instead of in every sandbox.
prepare_rootfs() {
  local rootfs=$1 packages=$2
  if [[ $packages == *python3-matplotlib* ]]; then
    # matplotlib builds a font cache on first import (~0.6 s under gVisor); the launcher copies this
    # one into the sandbox's writable MPLCONFIGDIR instead.
    echo "    pre-building the matplotlib font cache"
    chroot "$rootfs" env MPLCONFIGDIR=/usr/share/code-sandbox/matplotlib MPLBACKEND=Agg \
      python3 -c 'import matplotlib.pyplot' >/dev/null
  fi
}

build_image() {
  local name=$1 packages=$2
  local rootfs started
  rootfs=$(mktemp -d /var/tmp/code-sandbox-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' RETURN
  started=$(date +%s)
  echo "==> building sandbox image $name offline (debootstrap bookworm + $packages, about a minute)"
  bootstrap_rootfs "$rootfs" "$packages"
  prepare_rootfs "$rootfs" "$packages"
  strip_rootfs "$rootfs"
  echo "    importing into docker"
  tar -C "$rootfs" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8' \
    --change 'USER 65534:65534' \
    --change 'WORKDIR /work' \
    --change "LABEL code-sandbox.image=$name code-sandbox.packages=$packages" \
    - "$name" >/dev/null
  echo "    $name built in $(($(date +%s) - started)) s"
}

while read -r name packages; do
  [[ -z $name || $name == \#* ]] && continue
  if "$DOCKER" image inspect "$name" >/dev/null 2>&1; then
    $QUIET || echo "    sandbox image $name present"
  else
    build_image "$name" "$packages"
  fi
done < scripts/sandbox-images.conf
