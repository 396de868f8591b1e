"""Stand-in for ``llem-exp`` that a test fork server runs in its children: each mode is one behaviour."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    mode, *rest = argv
    if mode == "echo":  # what a unit sees of its client: args, cwd, env, both streams
        print(f"args={rest} cwd={os.getcwd()} var={os.environ.get('LLEM_TEST_VAR')} pid={os.getpid()}")
        sys.stderr.write("on stderr\n")
        return int(rest[0]) if rest else 0
    if mode == "sleep":  # a long unit that says who it is
        Path(rest[0]).write_text(str(os.getpid()))
        print("sleeping", flush=True)
        time.sleep(600)
        return 0
    if mode == "exit":
        sys.exit(int(rest[0]))
    if mode == "raise":
        raise RuntimeError("boom in the unit")
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return 99
