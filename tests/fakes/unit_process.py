"""Stand-in for ``llem-exp`` that a test fork server runs in its children: each mode is one behaviour.

``from_env`` reads the mode from ``LLEM_TEST_UNIT`` instead of the arguments, so the same stand-in
can take ``llem-exp``'s place under the local executor, cold (``python -m tests.fakes.unit_process``)
or warm (as the fork server's target), whatever arguments the executor passes.
"""

from __future__ import annotations

import os
import signal
import subprocess
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
    if mode in ("chatty", "quiet", "stubborn"):  # hangs with a grandchild in its process group
        if mode == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the grandchild too
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(rest[0] + ".tmp").write_text(f"{os.getpid()} {os.getpgrp()} {grandchild.pid}")
        os.replace(rest[0] + ".tmp", rest[0])
        print("working", flush=True)
        while True:  # chatty: a line every 50 ms, forever; quiet and stubborn: nothing more
            time.sleep(0.05)
            if mode == "chatty":
                print("still working", flush=True)
    if mode == "exit":
        sys.exit(int(rest[0]))
    if mode == "raise":
        raise RuntimeError("boom in the unit")
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return 99


def from_env(argv: list[str]) -> int:
    """The mode and its arguments from ``LLEM_TEST_UNIT``; ``argv`` (the executor's) is ignored."""
    return main(os.environ["LLEM_TEST_UNIT"].split())


if __name__ == "__main__":
    sys.exit(from_env(sys.argv[1:]))
