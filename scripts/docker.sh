#!/usr/bin/env bash
# Makes a Docker engine and the base images the repository's Dockerfiles start from available,
# for the tests and the demo. Safe to re-run: each step is skipped when already done.
#
# - Engine: a running one is used as it is; otherwise Debian's docker.io is installed (when
#   dockerd is missing and apt-get is there) and dockerd is started in the background, its pid in
#   $MLOPS_DOCKERD_PIDFILE (stop it with `kill "$(cat "$MLOPS_DOCKERD_PIDFILE")"`).
# - Base images: `docker pull` when a registry answers; otherwise an equivalent image is made from
#   Debian packages (debootstrap of the same release, Python 3.11, `python` and `pip` on PATH as in
#   the official images, the host's extra CA certificates trusted) and tagged with the names the
#   Dockerfiles use. The certificates are copied at set-up time, never committed.
#
# Prints `docker: ready` on success; exits non-zero with one sentence naming what failed.
set -euo pipefail

pidfile=${MLOPS_DOCKERD_PIDFILE:-/var/run/mlops-bot-dockerd.pid}
log=${MLOPS_DOCKERD_LOG:-/var/log/mlops-bot-dockerd.log}
# The names the Dockerfiles of this repository and its tests start from.
base_images=(python:3.11-slim python:3.11.10-slim-bookworm python:3.11-slim-bookworm)
standin=mlops-bot-base/python:3.11-bookworm

say() { printf 'docker.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

engine_answers() { timeout 20 docker info >/dev/null 2>&1; }

install_engine() {
  command -v dockerd >/dev/null && return 0
  command -v apt-get >/dev/null || fail "no dockerd and no apt-get: install Docker, then re-run"
  say "installing Debian's docker.io"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    docker.io iptables >/dev/null
}

start_engine() {
  local driver
  for driver in overlay2 vfs; do
    say "starting dockerd (storage driver $driver, log $log)"
    as_root setsid dockerd --storage-driver="$driver" --pidfile="$pidfile" >>"$log" 2>&1 </dev/null &
    for _ in $(seq 60); do
      engine_answers && return 0
      sleep 0.5
    done
    [ -f "$pidfile" ] && as_root kill "$(cat "$pidfile")" 2>/dev/null || true
    sleep 2
  done
  tail -n 20 "$log" >&2 || true
  fail "dockerd did not start (its log is $log)"
}

debian_mirror() {
  # The mirror apt already uses on this machine, so the image's packages come from the same place.
  local uri
  uri=$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
        2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

build_standin() {
  command -v debootstrap >/dev/null || {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
      debootstrap >/dev/null
  }
  local root
  root=$(mktemp -d /var/tmp/mlops-bot-base.XXXXXX)
  say "making $standin from Debian bookworm packages (no registry answered)"
  as_root debootstrap --variant=minbase bookworm "$root" "$(debian_mirror)" >/dev/null \
    || fail "debootstrap of Debian bookworm failed"
  # An intercepting proxy's certificate must be trusted before anything inside fetches over TLS.
  as_root mkdir -p "$root/usr/local/share/ca-certificates"
  for crt in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$crt" ] && as_root cp "$crt" "$root/usr/local/share/ca-certificates/"
  done
  as_root cp /etc/resolv.conf "$root/etc/resolv.conf"
  as_root chroot "$root" /bin/sh -ec '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip \
      ca-certificates netbase tzdata >/dev/null
    update-ca-certificates >/dev/null 2>&1 || true
    rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
    for name in python python3; do ln -sf /usr/bin/python3 /usr/local/bin/$name; done
    for name in pip pip3; do ln -sf /usr/bin/pip3 /usr/local/bin/$name; done
    apt-get clean; rm -rf /var/lib/apt/lists/*
    : > /etc/resolv.conf'
  as_root tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$standin" >/dev/null || fail "docker import of $standin failed"
  as_root rm -rf "$root"
}

ensure_base_images() {
  local image missing=()
  for image in "${base_images[@]}"; do
    docker image inspect "$image" >/dev/null 2>&1 || missing+=("$image")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  for image in "${missing[@]}"; do
    if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
      continue
    fi
    docker image inspect "$standin" >/dev/null 2>&1 || build_standin
    docker tag "$standin" "$image"
  done
}

command -v docker >/dev/null || install_engine
engine_answers || { install_engine; start_engine; }
ensure_base_images
echo "docker: ready"
