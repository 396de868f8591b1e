#!/usr/bin/env bash
# The one lint command, locally and in CI: ruff (lint + format) and mypy --strict.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
