#!/usr/bin/env bash
# Set up everything and run the whole test suite (lint, types, tests).
# Docker tests need an engine (and Compose v2), the vLLM tests .venv-vllm, the Slurm tests a one-node
# cluster, the report test a headless chromium: this script installs (and starts) them where it can (root + apt for Docker);
# elsewhere they are skipped with a reason, except under CI=true, where they must run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
if ! bash scripts/setup-vllm.sh; then
  if [ "${CI:-}" = "true" ]; then echo "CI=true and no vLLM venv" >&2; exit 1; fi
  echo "no vLLM venv: vllm tests will be skipped"
fi
if ! bash scripts/ensure-docker.sh || ! bash scripts/ensure-compose.sh; then
  if [ "${CI:-}" = "true" ]; then echo "CI=true and no Docker engine or Compose v2" >&2; exit 1; fi
  echo "no Docker engine or Compose v2: docker tests will be skipped"
fi
if ! bash scripts/ensure-slurm.sh; then
  if [ "${CI:-}" = "true" ]; then echo "CI=true and no Slurm cluster" >&2; exit 1; fi
  echo "no Slurm cluster: slurm tests will be skipped"
fi
if ! bash scripts/ensure-chromium.sh; then
  if [ "${CI:-}" = "true" ]; then echo "CI=true and no chromium" >&2; exit 1; fi
  echo "no chromium: the headless report check will be skipped"
fi
bash scripts/lint.sh
.venv/bin/pytest "$@"
