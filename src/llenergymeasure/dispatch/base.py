"""The executor interface: how the host runs one unit somewhere isolated and learns how it ended.

An executor reports only facts (exit code, timeout, launch failure); whether the unit succeeded
is decided by the host from the exit code *and* a valid result file.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from loguru import logger


@dataclass(frozen=True)
class UnitJob:
    """Everything an executor needs to run one unit; paths are on the host."""

    key: str
    backend: str
    service: str
    campaign_dir: Path
    config_file: Path
    stem: str
    config_hash: str
    cycle: int
    timeout_s: float
    idle_timeout_s: float
    log_file: Path
    campaign_id: str = ""
    run_id: str = ""  # the `up`/`resume` invocation running it; labels containers and processes
    env: dict[str, str] = field(default_factory=dict)
    warm: bool = False  # fork from a warm-start server (experiment.forkserver) instead of a fresh start
    slot: str = ""  # the GPU slot it runs on ("gpu0+1"); "" when the campaign runs without --gpus
    gpu_uuids: tuple[str, ...] = ()  # the slot's GPUs, the only ones the unit may see
    cancel: threading.Event | None = field(default=None, compare=False)  # set: stop the unit (Ctrl-C)
    n_gpus: int = 1  # the unit's slot size (tensor-parallel size)
    adopt: str | None = None  # handle of a job a dead run left running: wait on it, never start another

    def cancelled(self) -> bool:
        """Whether the orchestrator asked for this unit to be stopped."""
        return self.cancel is not None and self.cancel.is_set()


@dataclass(frozen=True)
class JobOutcome:
    """How a unit's process or container ended."""

    exit_code: int | None
    stopped: Literal["timeout", "idle", "launch", "interrupted"] | None = None
    message: str = ""
    scheduler_energy_j: float | None = None  # the scheduler's own energy figure (Slurm ConsumedEnergy)


class Executor(Protocol):
    """Runs units; ``on_started`` receives a handle (pid or container id) to record in the manifest.

    ``run`` may be called from several threads at once (one per GPU slot); it must return with
    ``stopped="interrupted"`` soon after ``job.cancel`` is set.
    """

    name: str

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Run ``job`` to completion (or until stopped) and report how it ended."""

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str], run_id: str) -> list[str]:
        """Stop what dead runs left for this campaign, never what run ``run_id`` started; returns what went.

        Called only while holding the campaign lock as run ``run_id``, so any other run is dead.
        """

    def close(self) -> None:
        """Stop the warm-start servers this executor started; called when a campaign run ends."""


class UnitLog:
    """A unit's log file, appended to as output arrives; a full disk stops the file, never the reader.

    The unit's output must keep being drained whatever happens to its log, or the unit blocks on a
    full pipe and the watchdog takes it for hung; the host log still gets every line.
    """

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self._file: BinaryIO | None = None
        try:
            self._file = open(path, "ab")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            logger.warning("cannot open the log of {} ({}); its output goes to the host log only", key, exc)

    def write(self, data: bytes) -> None:
        """Append ``data``; on a write error, warn once and stop writing the file."""
        if self._file is None:
            return
        try:
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            logger.warning("log of {} stopped ({}); its output goes to the host log only", self.key, exc)
            self.close()

    def close(self) -> None:
        """Close the file; errors (a final flush on a full disk) are ignored."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def __enter__(self) -> UnitLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Watchdog:
    """Decides when a unit has run too long in total, or gone quiet for too long. Pure timing."""

    def __init__(self, timeout_s: float, idle_timeout_s: float, now: float) -> None:
        self.timeout_s = timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.started = now
        self.last_output = now

    def poke(self, now: float) -> None:
        """Record that the unit printed something."""
        self.last_output = now

    def expired(self, now: float) -> Literal["timeout", "idle"] | None:
        """Why the unit must be stopped now, if it must."""
        if now - self.started > self.timeout_s:
            return "timeout"
        if now - self.last_output > self.idle_timeout_s:
            return "idle"
        return None


def describe_stop(outcome: JobOutcome, job: UnitJob) -> str:
    """Human text for a stopped unit."""
    if outcome.stopped == "timeout":
        return f"stopped after the unit timeout of {job.timeout_s:.0f} s"
    if outcome.stopped == "idle":
        return f"stopped: no output for {job.idle_timeout_s:.0f} s (hung?)"
    return outcome.message
