#!/usr/bin/env bash
# Create .venv and install llenergymeasure with the PyTorch backend (and dev tools with --dev).
# torch is pinned first so pip takes the CPU build where one is provided instead of a multi-GB
# CUDA build; override with TORCH_SPEC="torch==X" (or TORCH_SPEC=skip to keep an installed one).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="pytorch,report,workloads"
[ "${1:-}" = "--dev" ] && extras="pytorch,report,workloads,dev"
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
spec=${TORCH_SPEC:-torch==2.13.0}
if [ "$spec" != skip ] && ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q "$spec"
fi
.venv/bin/python -m pip install -q -e ".[$extras]"
echo "environment ready: .venv ($(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
