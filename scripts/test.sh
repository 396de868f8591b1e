#!/usr/bin/env bash
# Set up everything and run the whole test suite (lint, types, tests).
# Docker tests need an engine and the report test a headless chromium: this script installs
# (and starts) them where it can (root + apt);
# elsewhere they are skipped with a reason, except under CI=true, where they must run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
if ! bash scripts/ensure-docker.sh; then
  if [ "${CI:-}" = "true" ]; then echo "CI=true and no Docker engine" >&2; exit 1; fi
  echo "no Docker engine: docker tests will be skipped"
fi
if ! bash scripts/ensure-chromium.sh; then
  if [ "${CI:-}" = "true" ]; then echo "CI=true and no chromium" >&2; exit 1; fi
  echo "no chromium: the headless report check will be skipped"
fi
bash scripts/lint.sh
.venv/bin/pytest "$@"
