# Sourced by the offline image builders (no container registry here): a minimal Debian bookworm
# root filesystem from the machine's own Debian mirror, the only package source it can reach.

# The mirror this machine's apt uses; SETUP_DEBIAN_MIRROR overrides it.
debian_mirror() {
  if [[ -n "${SETUP_DEBIAN_MIRROR:-}" ]]; then echo "$SETUP_DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  [[ -z $uri ]] && uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# bootstrap_rootfs DIR PACKAGES: debootstrap minbase + PACKAGES (comma-separated) into DIR, showing
# debootstrap's phase lines as progress (not its one-line-per-package chatter).
bootstrap_rootfs() {
  local rootfs=$1 packages=$2
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$(debian_mirror)" 2>&1 \
    | grep --line-buffered -E '^(I|E|W):' \
    | grep --line-buffered -vE '^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [a-z0-9]' \
    | sed -u 's/^/    /'
  [[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "debootstrap failed" >&2; return 1; }
}

# strip_rootfs DIR: drop what no container needs (package caches, logs, docs).
strip_rootfs() {
  local rootfs=$1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
}
