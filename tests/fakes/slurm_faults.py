"""Stand-ins for the Slurm commands that wrap the real ones and inject faults at the process boundary.

``install(bin_dir, rules)`` writes ``sbatch``, ``scontrol``, ``sacct``, ``squeue`` and ``scancel``
into ``bin_dir``; put it first on ``PATH`` and every call reaches the real command unless a rule
matches it first. A rule is ``(command, first_argument or "*", action, times)``:

- ``fail``: exit 1 with a controller error, without calling the real command;
- ``hang``: sleep 30 s first (longer than any ``command_timeout_s`` a test sets), then fail;
- ``kill-host``: SIGKILL the caller (the llem host) without calling the real command;
- ``kill-host-after``: call the real command, then SIGKILL the caller before it reads the answer;
- ``hang-after``: call the real command (its answer already written), then sleep 30 s (a timeout).

Each rule fires on the first ``times`` calls it matches; counts live in ``bin_dir/counts.json``
(under a lock), and every call is logged to ``bin_dir/calls.log``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

COMMANDS = ("sbatch", "scontrol", "sacct", "squeue", "scancel")

WRAPPER = """#!{python}
import fcntl, json, os, signal, subprocess, sys, time
REAL = {real!r}
HERE = {here!r}
RULES = {rules!r}
argv = sys.argv[1:]
first = argv[0] if argv else ""
with open(os.path.join(HERE, "counts.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    path = os.path.join(HERE, "counts.json")
    counts = json.load(open(path)) if os.path.exists(path) else {{}}
    action = None
    for i, (cmd, arg, act, times) in enumerate(RULES):
        if cmd == {name!r} and arg in ("*", first) and counts.get(str(i), 0) < times:
            counts[str(i)] = counts.get(str(i), 0) + 1
            action = act
            break
    json.dump(counts, open(path, "w"))
    with open(os.path.join(HERE, "calls.log"), "a") as log:
        log.write(" ".join([{name!r}, *argv]) + " -> " + str(action) + "\\n")
if action == "fail":
    sys.stderr.write("slurm_load_jobs error: Socket timed out on send/recv operation\\n")
    sys.exit(1)
if action == "hang":
    time.sleep(30)
    sys.exit(1)
if action == "kill-host":
    os.kill(os.getppid(), signal.SIGKILL)
    sys.exit(1)
proc = subprocess.run([REAL, *argv])
if action == "kill-host-after":
    os.kill(os.getppid(), signal.SIGKILL)
if action == "hang-after":
    time.sleep(30)
sys.exit(proc.returncode)
"""


def install(bin_dir: Path, rules: list[tuple[str, str, str, int]]) -> Path:
    """Write the stand-ins into ``bin_dir`` (made if missing); returns ``bin_dir``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in COMMANDS:
        real = shutil.which(name)
        assert real is not None, f"{name} is not installed"
        script = bin_dir / name
        script.write_text(WRAPPER.format(python=sys.executable, real=real, here=str(bin_dir), rules=rules, name=name))
        script.chmod(0o755)
    return bin_dir


def calls(bin_dir: Path) -> list[str]:
    """Every call the stand-ins saw, in order, with the action taken."""
    log = bin_dir / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def path_with(bin_dir: Path) -> str:
    """``PATH`` with the stand-ins first."""
    return os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])


def fired(bin_dir: Path) -> dict[str, int]:
    """How often each rule (by index) fired."""
    path = bin_dir / "counts.json"
    loaded: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
    return loaded
