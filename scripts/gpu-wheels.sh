#!/usr/bin/env bash
# Download, into .whl/, the wheels scripts/gpu-check.sh needs on a GPU machine that has torch,
# transformers, nvidia-ml-py, pyarrow, numpy, click, pyyaml and rich but no network: the project's
# other runtime packages, at the versions this project's .venv uses (CPython 3.12, x86-64 Linux).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[[ -x "$py" ]] || { echo "error: no .venv; run 'bash scripts/setup.sh' first" >&2; exit 1; }
pins=()
for pkg in pydantic pydantic_core annotated-types typing-inspection typing_extensions loguru docker; do
  pins+=("$pkg==$("$py" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$pkg")")
done
mkdir -p .whl
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${pins[@]}"
ls .whl
