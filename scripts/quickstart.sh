#!/usr/bin/env bash
# Set up and run the quickstart campaign: a tiny model built locally, on the CPU, no downloads.
# Uses Docker containers when the engine and images are there, otherwise local subprocesses.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/llem campaign up campaigns/quickstart.yaml "$@"
