#!/usr/bin/env bash
# Install Debian's chromium (headless rendering of `llem report` in the tests) when missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: not root or no apt-get; cannot install chromium here" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/tmp/llem-apt-chromium.log 2>&1 || { tail -n 20 /tmp/llem-apt-chromium.log >&2; exit 1; }
