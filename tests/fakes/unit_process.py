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
    if mode == "engine":  # llem-exp's own lines among an engine's (vLLM's format), a warning and a traceback
        return engine(int(rest[0]) if rest else 0)
    if mode == "leave":  # exits 0 at once, leaving three processes that would outlive it
        return leave(Path(rest[0]))
    if mode == "exit":
        sys.exit(int(rest[0]))
    if mode == "raise":
        raise RuntimeError("boom in the unit")
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return 99


ENGINE_LINES = (
    "INFO 11-30 12:00:01 [config.py:1234] This model supports multiple tasks: {'generate'}.\n",
    "WARNING 11-30 12:00:02 [cpu.py:98] Environment variable VLLM_CPU_KVCACHE_SPACE (GiB) is not set.\n",
    "/venv/lib/python3.12/site-packages/torch/x.py:7: FutureWarning: `x` is deprecated\n",
    "  warnings.warn(\n",
)
OWN_LINES = (
    "12:00:00 INFO    [s] loading m on vllm at bf16\n",
    "12:00:03 WARNING [s] energy unavailable: NVML could not start\n",
)


def engine(code: int) -> int:
    """Print like a vLLM unit: llem-exp's loguru lines on stderr, the engine's around them; exit ``code``."""
    sys.stderr.write(OWN_LINES[0])
    for line in ENGINE_LINES[:2]:
        sys.stderr.write(line)
    sys.stderr.write(ENGINE_LINES[2][:30])  # a line in two writes, as a container's stream may split it
    sys.stderr.flush()
    sys.stderr.write(ENGINE_LINES[2][30:] + ENGINE_LINES[3])
    sys.stderr.write(OWN_LINES[1])
    if code:
        sys.stderr.write("Traceback (most recent call last):\nRuntimeError: engine core died\n")
    print("res/c_1/s_c1.json", flush=True)
    return code


def leave(pids: Path) -> int:
    """Start what a unit may leave behind, write ``PID PGID IN_GROUP OWN_SESSION FORKED`` to ``pids``, exit 0.

    ``IN_GROUP``: a program in the unit's process group. ``OWN_SESSION``: one in a session of its
    own (``setsid``, as an engine server starts), out of the group's reach. ``FORKED``: a copy of
    this process that never exec'd (a fork-started worker), in the unit's group; its command line
    and environment block are the unit's own (under a fork server: the server's). None holds the
    unit's output open, so its end is seen at once.
    """
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    null = subprocess.DEVNULL
    in_group = subprocess.Popen(sleeper, stdin=null, stdout=null, stderr=null)
    own_session = subprocess.Popen(sleeper, stdin=null, stdout=null, stderr=null, start_new_session=True)
    forked = os.fork()
    if forked == 0:  # pragma: no cover - the forked copy
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        time.sleep(600)
        os._exit(0)
    Path(f"{pids}.tmp").write_text(f"{os.getpid()} {os.getpgrp()} {in_group.pid} {own_session.pid} {forked}")
    os.replace(f"{pids}.tmp", pids)
    print("left three processes", flush=True)
    return 0


def from_env(argv: list[str]) -> int:
    """The mode and its arguments from ``LLEM_TEST_UNIT``; ``argv`` (the executor's) is ignored."""
    return main(os.environ["LLEM_TEST_UNIT"].split())


if __name__ == "__main__":
    sys.exit(from_env(sys.argv[1:]))
