"""The engine's OpenAI-compatible server as a child process: start, wait for health, stop.

Started with an argument list (never a shell string) in a session of its own, so stopping it
stops its workers too; its output goes to a log file in the campaign's ``logs/``. Nothing starts
in the constructor.

The server dies with its unit: ``llem-exp`` stops it in a ``finally`` (SIGTERM unwinds to there),
and a unit killed outright (SIGKILL, OOM) takes the server with it through the kernel's
parent-death signal (Linux ``PR_SET_PDEATHSIG``), set in the child before it runs the engine.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from llenergymeasure.errors import ServerError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (the server binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when this process dies (Linux; None elsewhere).

    The kernel sends it when the *thread* that started the child ends, so the server is started from
    the unit's main thread. A parent that died before the call would never signal: the child checks
    and exits at once. ``prctl`` is looked up here, before the fork, so the child only calls it.
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def log_tail(path: Path, lines: int = 5) -> str:
    """The last lines of the server log, for error messages."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


class ServerProcess:
    """One server process; ``base_url`` is where it answers once healthy."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        base_url: str,
        env: dict[str, str] | None = None,
        health_path: str = "/health",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.base_url = base_url.rstrip("/")
        self.env = env
        self.health_path = health_path
        self.clock = clock
        self.sleep = sleep
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch the server, its output appended to the log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )

    def check_alive(self) -> None:
        """Raise ``ServerError`` with the log's last lines if the server has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise ServerError(
                f"server exited with status {self.proc.returncode} (log {self.log_path}): {log_tail(self.log_path)}"
            )

    def healthy(self) -> bool:
        """Whether ``GET /health`` answers 200 now."""
        try:
            with urllib.request.urlopen(self.base_url + self.health_path, timeout=2.0) as resp:
                return int(resp.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, timeout_s: float, poll_s: float = 0.5) -> float:
        """Poll health until it answers, the process dies, or ``timeout_s`` passes; seconds it took."""
        t0 = self.clock()
        while True:
            self.check_alive()
            if self.healthy():
                return self.clock() - t0
            if self.clock() - t0 >= timeout_s:
                raise ServerError(
                    f"server not healthy after {timeout_s:g} s (scenario.startup_timeout_s; log {self.log_path}): "
                    f"{log_tail(self.log_path)}"
                )
            self.sleep(poll_s)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM the server's process group, SIGKILL after ``timeout_s``; its exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait()
        # Workers left in the group after the leader exited would hold the accelerator.
        self._signal(proc, signal.SIGKILL)
        return proc.returncode

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
