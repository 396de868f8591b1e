"""Local executor: one ``llem-exp`` subprocess per unit; isolation by process.

Children die with the host (PR_SET_PDEATHSIG on Linux) and run in their own process group,
so a timeout or a crash never leaves a measuring process behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from loguru import logger

from llenergymeasure.dispatch.base import JobOutcome, UnitJob, Watchdog
from llenergymeasure.errors import ExecutorError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def exp_command(job: UnitJob, config_path: str, out_dir: str) -> list[str]:
    """Arguments of ``llem-exp`` for ``job`` (shared by the local and docker executors)."""
    return [
        config_path,
        "--out",
        out_dir,
        "--cycle",
        str(job.cycle),
        "--config-hash",
        job.config_hash,
        "--stem",
        job.stem,
    ]


class LocalExecutor:
    """Runs each unit as ``python -m llenergymeasure.experiment.entrypoint`` on this machine."""

    name = "local"

    def __init__(self, python: str = sys.executable, poll_s: float = 0.2) -> None:
        self.python = python
        self.poll_s = poll_s

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Start the child, stream its output to the log, enforce the watchdog."""
        argv = [
            self.python,
            "-m",
            "llenergymeasure.experiment.entrypoint",
            *exp_command(job, str(job.config_file), str(job.campaign_dir)),
        ]
        env = {**os.environ, **job.env, "PYTHONUNBUFFERED": "1"}
        try:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise ExecutorError(f"cannot start llem-exp with {self.python}: {exc}") from exc
        on_started(f"pid:{proc.pid}")
        dog = Watchdog(job.timeout_s, job.idle_timeout_s, time.monotonic())
        reader = threading.Thread(target=_pump, args=(proc, job, dog), daemon=True)
        reader.start()
        stopped = None
        try:
            while True:
                try:
                    code = proc.wait(timeout=self.poll_s)
                    break
                except subprocess.TimeoutExpired:
                    stopped = dog.expired(time.monotonic())
                    if stopped:
                        logger.warning("unit {} {}; stopping it", job.key, stopped)
                        code = _stop(proc)
                        break
        except BaseException:
            _stop(proc)
            raise
        finally:
            reader.join(timeout=5)
        return JobOutcome(exit_code=code, stopped=stopped)

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str]) -> list[str]:
        """Kill leftover ``llem-exp`` processes of this campaign named by recorded pids."""
        removed = []
        for handle in handles:
            if not handle.startswith("pid:"):
                continue
            pid = int(handle[4:])
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "llenergymeasure.experiment.entrypoint" in cmdline and str(campaign_dir) in cmdline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                    removed.append(handle)
                except ProcessLookupError:
                    pass
        return removed


def _pump(proc: subprocess.Popen[bytes], job: UnitJob, dog: Watchdog) -> None:
    """Copy the child's output into the unit log file and the host log, poking the watchdog."""
    assert proc.stdout is not None
    with open(job.log_file, "ab") as log:
        for line in iter(proc.stdout.readline, b""):
            dog.poke(time.monotonic())
            log.write(line)
            log.flush()
            logger.opt(raw=True).info(line.decode(errors="replace"))


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> int:
    """SIGTERM the child's group, then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()
