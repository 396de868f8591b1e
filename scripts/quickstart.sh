#!/usr/bin/env bash
# Set up and run the quickstart campaign: a tiny model built locally, on the CPU, no downloads.
# Uses Docker containers when the engine and images are there, otherwise local subprocesses.
# `llem campaign up` ends by printing the next commands with the real campaign directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
status=0
# --again: a rerun of the demo runs anew (and says the design already completed) instead of refusing.
.venv/bin/llem campaign up campaigns/quickstart.yaml --again "$@" || status=$?
cat <<'HINT'
llem is installed in .venv/bin: run the commands above as .venv/bin/llem ..., or put llem on
your PATH for this shell with:  source .venv/bin/activate
HINT
exit "$status"
