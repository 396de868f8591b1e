"""The host's processes: the one seam every command and child goes through, and how they are stopped.

Every subprocess the host starts (a unit, a warm-start server, ``sbatch``, ``scontrol``, ``sacct``,
``squeue``, ``sinfo``, ``scancel``) goes through a ``Commands`` object, always as an argument list,
never a shell string. Tests replace what runs at the process boundary, by putting stand-in commands
on ``PATH``; nothing of llem is patched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from llenergymeasure.experiment.forkserver import MODULE, die_with_parent

RUN_ENV = "LLEM_RUN_ID"  # in the environment of every process a run starts, for orphan cleanup


@dataclass(frozen=True)
class Answer:
    """What a short command said; ``timed_out``: it did not answer within its time and was killed."""

    returncode: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Exit status 0 within the time allowed."""
        return self.returncode == 0 and not self.timed_out


class Commands:
    """Runs the host's commands: short ones to an ``Answer``, long-lived children as ``Popen``."""

    def run(self, argv: Sequence[str], timeout_s: float = 60.0, env: Mapping[str, str] | None = None) -> Answer:
        """Run ``argv`` to its end; a missing program raises OSError, a timeout is an answer, not an error."""
        try:
            proc = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
            return Answer(-9, out, f"{argv[0]}: no answer within {timeout_s:g} s", timed_out=True)
        return Answer(proc.returncode, proc.stdout, proc.stderr)

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        stdout: int,
        parent_death: int = signal.SIGKILL,
    ) -> subprocess.Popen[bytes]:
        """Start a child in its own session (its group is killed as one); it gets ``parent_death`` if the host dies."""
        pdeath, parent = parent_death, os.getpid()

        def on_fork() -> None:
            die_with_parent(pdeath, parent)

        return subprocess.Popen(
            list(argv),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,
            preexec_fn=on_fork if sys.platform == "linux" else None,
        )


COMMANDS = Commands()


def serve_command(python: str, sock_path: str, backend: str) -> list[str]:
    """Argument list that starts a warm-start server for ``backend`` listening on ``sock_path``."""
    return [python, "-m", MODULE, "serve", sock_path, "--backend", backend]


def client_command(python: str, sock_path: str, exp_args: Sequence[str]) -> list[str]:
    """Argument list of a client that runs ``llem-exp EXP_ARGS`` through the server on ``sock_path``."""
    return [python, "-m", MODULE, "run", sock_path, "--", *exp_args]


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal every process of group ``pgid``; False if none was left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> int:
    """SIGTERM the child's group, SIGKILL after ``grace_s``; then kill whatever of the group is left.

    The group outlives its leader when a unit's children (an engine server, a tokenizer pool) ignore
    the leader's end: after the leader's exit status is in, the group gets a SIGKILL too.
    """
    code: int | None = None
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        if not kill_group(proc.pid, sig):
            break
        try:
            code = proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    if code is None:
        code = proc.wait()
    kill_group(proc.pid)
    return code


def run_of(pid: int) -> str | None:
    """The ``LLEM_RUN_ID`` a process was started with, if it can be read."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{RUN_ENV}=".encode()
    found = [v[len(prefix) :].decode(errors="replace") for v in environ if v.startswith(prefix)]
    return found[0] if found else None
