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
# pytest-xdist workers (one per core, 4 at most; LLEM_TEST_WORKERS=0 runs in one process): the
# long tests go first (tests/conftest.py), the tests that share a costly fixture stay on one worker
# (xdist_group), and the workers share images and the tiny model (tests/shared.py).
.venv/bin/pytest -n "${LLEM_TEST_WORKERS:-auto}" --maxprocesses 4 --dist loadgroup "$@"
