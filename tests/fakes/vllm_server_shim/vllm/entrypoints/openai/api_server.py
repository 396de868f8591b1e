"""``python -m vllm.entrypoints.openai.api_server --port P ...``: the stand-in server on P, mode ``ok``.

Writes its pid to ``$LLEM_TEST_SERVER_PID`` when set, so a test can look for the process after its unit.
"""

from __future__ import annotations

import os
import sys

from aiohttp import web
from tests.fakes.openai_server import make_app

if __name__ == "__main__":
    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1])
    if pid_file := os.environ.get("LLEM_TEST_SERVER_PID"):
        with open(pid_file + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(pid_file + ".tmp", pid_file)
    web.run_app(make_app(os.environ.get("LLEM_TEST_SERVER_MODE", "ok")), host="127.0.0.1", port=port, print=None)
