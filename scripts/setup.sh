#!/usr/bin/env bash
# Host setup for code-sandbox, idempotent, as root on Debian 12: installs what is missing, registers
# gVisor in dockerd, starts dockerd when it is not running, builds the sandbox images offline when
# absent, installs node modules and builds the service. Run again at any time; it only does what is
# missing. `--quiet` prints only what it changes (used before `npm test`).
set -euo pipefail

cd "$(dirname "$0")/.."
QUIET=false
[[ "${1:-}" == "--quiet" ]] && QUIET=true

step() { echo "==> $*"; }
info() { $QUIET || echo "    $*"; }
die() { echo "setup: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts dockerd)"

DOCKER=/usr/bin/docker   # the client from docker.io, matching the engine it installs
# python3-requests: the RAGFlow-compatibility test drives /run from Python, as RAGFlow does.
# protobuf-compiler(-grpc), python3-grpcio, python3-protobuf: the generated Python client example.
# docker-compose (1.29): the compose stack and its test. pyflakes3: `npm run lint` checks the Python
# launcher with it. nginx (1.22): the session-routing proxy config (deploy/nginx/) and its test.
# python3-venv, python3-pip, python3-setuptools, python3-pytest: the Python client (clients/python) is
# pip-installed into a venv with Debian's setuptools and tested with Debian's pytest, all offline.
# python3-wheel (with python3-setuptools): test/integration/packages.test.ts builds the wheels its
# loopback package index serves.
# linux-libc-dev: the kernel's syscall numbers (asm/unistd_64.h), by which the seccomp test calls
# every syscall the profile lists.
APT_PACKAGES=(docker.io runsc debootstrap python3-requests
  protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf docker-compose pyflakes3 nginx
  python3-venv python3-pip python3-setuptools python3-wheel python3-pytest linux-libc-dev)

# --- Debian packages ---------------------------------------------------------------------------
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  step "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  info "Debian packages present: ${APT_PACKAGES[*]}"
fi

# --- node modules ----------------------------------------------------------------------------
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  step "installing node modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  info "node modules up to date"
fi

# --- dockerd with the runsc runtime ------------------------------------------------------------
daemon_change=$(node scripts/configure-docker-daemon.mjs /etc/docker/daemon.json /usr/bin/runsc)
[[ $daemon_change == changed* ]] && step "registered runsc, runsc-seccomp and experimental (checkpoints) in /etc/docker/daemon.json"

docker_up() { "$DOCKER" info >/dev/null 2>&1; }
# Our own containerd (below) listens on the standard socket, as on a Kubernetes node. dockerd decides
# at start whether to run a containerd of its own by whether that socket file exists, not by whether
# anything answers on it: after a crash or a killed machine, a socket left behind makes dockerd wait
# for a containerd that is gone and give up ("failed to dial /run/containerd/containerd.sock").
CONTAINERD_SOCKET=/run/containerd/containerd.sock
CONTAINERD_NAMESPACE=code-sandbox
containerd_up() { ctr --address "$CONTAINERD_SOCKET" version >/dev/null 2>&1; }
start_dockerd() {
  if [[ -S $CONTAINERD_SOCKET ]] && ! containerd_up; then
    info "removing a containerd socket nobody answers on ($CONTAINERD_SOCKET), left by a killed containerd"
    rm -f "$CONTAINERD_SOCKET" "$CONTAINERD_SOCKET.ttrpc"
  fi
  setsid nohup /usr/sbin/dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
}
if docker_up; then
  if [[ $daemon_change == changed ]]; then
    step "reloading dockerd configuration"
    kill -HUP "$(pidof dockerd)"
    sleep 1
  elif [[ $daemon_change == changed-restart ]]; then
    # "experimental" (checkpoint/restore, for pausing sessions) is read only at start: a SIGHUP would
    # leave it off. Restarting dockerd stops its running containers.
    step "restarting dockerd (\"experimental\" is read only when it starts)"
    old_pid=$(pidof dockerd)
    kill -TERM "$old_pid"
    for _ in $(seq 1 60); do
      kill -0 "$old_pid" 2>/dev/null || break
      sleep 1
    done
    start_dockerd
    for _ in $(seq 1 60); do
      docker_up && break
      sleep 1
    done
    docker_up || die "dockerd did not come back within 60 s; see /var/log/dockerd.log"
  fi
  info "dockerd running"
else
  step "starting dockerd (log: /var/log/dockerd.log)"
  # No systemd on these machines: run it detached so it outlives this script.
  start_dockerd
  for _ in $(seq 1 60); do
    docker_up && break
    sleep 1
  done
  docker_up || die "dockerd did not come up within 60 s; see /var/log/dockerd.log"
fi
"$DOCKER" info --format '{{json .Runtimes}}' | grep -q '"runsc"' \
  || die "dockerd does not list the runsc runtime; check /etc/docker/daemon.json and /var/log/dockerd.log"

# --- images (offline) --------------------------------------------------------------------------
bash scripts/build-sandbox-images.sh "$($QUIET && echo --quiet || true)"
# The base of the service's own image (docker/service.Dockerfile), for docker-compose without a registry.
bash scripts/build-service-base-image.sh "$($QUIET && echo --quiet || true)"

# --- containerd, for SANDBOX_BACKEND=containerd -----------------------------------------------------
# A containerd of its own (as on a Kubernetes node), next to the one dockerd runs for itself (that one
# is dockerd's: never touched). Sandbox images live in a namespace of ours, imported from dockerd's.
containerd_change=$(node scripts/configure-containerd.mjs)
[[ $containerd_change == changed ]] && step "wrote the containerd runsc wrappers and /etc/code-sandbox/containerd.toml"
if ! containerd_up; then
  step "starting containerd (log: /var/log/containerd.log)"
  setsid nohup /usr/bin/containerd --config /etc/code-sandbox/containerd.toml >>/var/log/containerd.log 2>&1 </dev/null &
  for _ in $(seq 1 30); do
    containerd_up && break
    sleep 1
  done
  containerd_up || die "containerd did not come up within 30 s; see /var/log/containerd.log"
else
  info "containerd running"
fi
bash scripts/import-containerd-images.sh "$CONTAINERD_SOCKET" "$CONTAINERD_NAMESPACE" "$($QUIET && echo --quiet || true)"

# --- the service -----------------------------------------------------------------------------
if ! $QUIET; then
  step "building the service (tsc)"
  npm run --silent build
fi
$QUIET || step "setup complete"
