#!/usr/bin/env bash
# Make a Docker engine reachable: install Debian's docker.io (+ debootstrap, docker-compose v1)
# when missing and start dockerd in the background. Needs root and apt; says why when it can't.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1 \
   || ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-docker: not root or no apt-get; cannot install Docker here" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io debootstrap docker-compose >/tmp/llem-apt.log 2>&1 \
    || { tail -n 20 /tmp/llem-apt.log >&2; exit 1; }
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  nohup dockerd >/tmp/llem-dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { echo "docker engine ready"; exit 0; }
  sleep 1
done
echo "ensure-docker: dockerd did not come up; see /tmp/llem-dockerd.log" >&2
tail -n 20 /tmp/llem-dockerd.log >&2 || true
exit 1
