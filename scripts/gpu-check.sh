#!/usr/bin/env bash
# GPU validation kit: on a machine with an NVIDIA GPU and no network, build a random model of
# Llama-3.2-1B's shape, run a short offline campaign on it and add the figures to docs/gpu.md.
#
#   bash scripts/gpu-check.sh [--out docs/gpu.md] [--work DIR] [--cycles N] [--min-window-s S]
#
# Python: $PYTHON, else .venv/bin/python when it exists, else python3. The project itself is taken
# from src/ (no install needed). Packages the machine lacks (pydantic, loguru, ...) can be carried
# in as wheels: `bash scripts/gpu-wheels.sh` on a machine with network fills .whl/, which this
# script installs into a private folder first (LLEM_WHEELS names another folder).
set -euo pipefail
cd "$(dirname "$0")/.."

py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x .venv/bin/python ]]; then py=.venv/bin/python; else py=python3; fi
fi
wheels="${LLEM_WHEELS:-.whl}"
extra=""
if compgen -G "$wheels/*.whl" > /dev/null; then
  extra="$(mktemp -d /tmp/llem-gpucheck-site.XXXXXX)"
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$extra" "$wheels"/*.whl
fi
export PYTHONPATH="$PWD/src${extra:+:$extra}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$py" -m llenergymeasure.gpucheck "$@"
