"""The executor interface: how the host runs one unit somewhere isolated and learns how it ended.

An executor reports only facts (exit code, timeout, launch failure); whether the unit succeeded
is decided by the host from the exit code *and* a valid result file.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from loguru import logger

from llenergymeasure.logs import echo_unit_output

Stopped = Literal["timeout", "idle", "launch", "interrupted"]


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
    stopped: Stopped | None = None
    message: str = ""
    scheduler_energy_j: float | None = None  # the scheduler's own energy figure (Slurm ConsumedEnergy)


@dataclass(frozen=True)
class Stray:
    """A job of this campaign that the scheduler runs or holds but the manifest never recorded.

    Left by a host that died between submitting a job and recording its id: ``held`` (it never
    started; cancelled) or released by hand (adopted by its unit when that unit is not done).
    """

    key: str
    handle: str
    held: bool


class RecordError(Exception):
    """``on_started`` could not make the handle durable: the executor must stop the unit and not run it."""


class Executor:
    """Runs units; every capability the orchestrator uses is declared here, with its default.

    ``run`` may be called from several threads at once (one per GPU slot or lane); it must return
    with ``stopped="interrupted"`` soon after ``job.cancel`` is set. ``on_started`` records a handle
    (``pid:…``, ``container:…``, ``slurm:…``) in the manifest and raises ``RecordError`` when it
    cannot; an executor whose units outlive the host must then stop the unit before it runs.
    Only the executor reads its own handles (``job_id``, ``live``).
    """

    name: str = "executor"
    max_in_flight: int = 1  # > 1: a scheduler places units itself; the host only bounds how many are queued
    on_nodes: bool = False  # units run on machines the host cannot reach (Slurm): they set gpu.* themselves

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Run ``job`` to completion (or until stopped) and report how it ended."""
        raise NotImplementedError

    def visible_gpus(self) -> tuple[str, ...] | None:
        """The GPUs a unit without a slot sees, as ``CUDA_VISIBLE_DEVICES`` entries; None: every GPU.

        Default: this host's ``CUDA_VISIBLE_DEVICES``, which a local unit inherits. The host sets
        ``gpu.*`` on exactly the GPUs the unit then uses (``gpu.guard.unit_gpu_indices``).
        """
        from llenergymeasure.energy.scope import parse_visible

        return parse_visible(os.environ.get("CUDA_VISIBLE_DEVICES"))

    def live(self, handles: Sequence[str]) -> set[str]:
        """Which ``handles`` still run somewhere a new run can wait on (a scheduler's jobs); default none."""
        return set()

    def job_id(self, handle: str) -> str | None:
        """The scheduler's job id a handle names, kept in the manifest after the unit ends; default none."""
        return None

    def strays(self, campaign_dir: Path, recorded: set[str]) -> list[Stray]:
        """Jobs of this campaign the scheduler knows that no manifest entry records (``recorded``: job ids)."""
        return []

    def cancel(self, handles: Sequence[str]) -> None:
        """Stop the jobs ``handles`` name (strays); default nothing to stop."""

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str], run_id: str) -> list[str]:
        """Stop what dead runs left for this campaign, never what run ``run_id`` started; returns what went.

        Called only while holding the campaign lock as run ``run_id``, so any other run is dead.
        """
        return []

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
    """Decides when a unit has run too long in total, or gone quiet for too long. Pure timing.

    Started at ``now``, or (``now=None``) only when ``start`` is called: a queued Slurm job's
    clock runs from when it starts running, not from its submission.
    """

    def __init__(self, timeout_s: float, idle_timeout_s: float, now: float | None) -> None:
        self.timeout_s = timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.started = now
        self.last_output = now

    def start(self, now: float) -> None:
        """Start the clocks, unless they already run."""
        if self.started is None:
            self.started = self.last_output = now

    def poke(self, now: float) -> None:
        """Record that the unit printed something."""
        if self.started is not None:
            self.last_output = now

    def expired(self, now: float) -> Literal["timeout", "idle"] | None:
        """Why the unit must be stopped now, if it must."""
        if self.started is None or self.last_output is None:
            return None
        if now - self.started > self.timeout_s:
            return "timeout"
        if now - self.last_output > self.idle_timeout_s:
            return "idle"
        return None


def supervise(
    job: UnitJob,
    dog: Watchdog,
    poll: Callable[[], JobOutcome | None],
    stop: Callable[[], int],
    wait: Callable[[float], None],
    poll_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> JobOutcome:
    """The one supervision loop of every executor: poll until the unit ends, or stop it when it must.

    ``poll`` says how the unit ended, or None while it runs; ``stop`` stops it and returns its exit
    code; ``wait`` waits up to ``poll_s`` (it may return early, e.g. when a process exits).
    """
    while True:
        ended = poll()
        if ended is not None:
            return ended
        stopped = "interrupted" if job.cancelled() else dog.expired(clock())
        if stopped:
            logger.warning("unit {} {}; stopping it", job.key, stopped)
            return JobOutcome(exit_code=stop(), stopped=stopped)
        wait(poll_s)


def pump(open_stream: Callable[[], Iterable[bytes]], job: UnitJob, dog: Watchdog) -> threading.Thread:
    """Start copying a unit's output into its log, and its own lines to the host log, poking ``dog``.

    Returns the thread. Every byte goes to the log file as it arrives; the host sees whole lines
    (a container's stream may split one), filtered by ``logs.UnitEcho``. A stream that breaks (a
    container removed under it) ends the copy; the supervision loop reports the outcome.
    """

    def copy() -> None:
        partial = b""
        try:
            with UnitLog(job.log_file, job.key) as log:
                for chunk in open_stream():
                    dog.poke(time.monotonic())
                    log.write(chunk)
                    whole, _, partial = (partial + chunk).rpartition(b"\n")
                    if whole:
                        echo_unit_output(whole + b"\n")
        except Exception as exc:
            logger.debug("output of {} ended: {}", job.key, exc)
        if partial:
            echo_unit_output(partial + b"\n")

    thread = threading.Thread(target=copy, name=f"llem-pump-{job.key}", daemon=True)
    thread.start()
    return thread


def describe_stop(outcome: JobOutcome, job: UnitJob) -> str:
    """Human text for a stopped unit."""
    if outcome.stopped == "timeout":
        return f"stopped after the unit timeout of {job.timeout_s:.0f} s"
    if outcome.stopped == "idle":
        return f"stopped: no output for {job.idle_timeout_s:.0f} s (hung?)"
    return outcome.message
