"""The executor interface: how the host runs one unit somewhere isolated and learns how it ended.

An executor reports only facts (exit code, timeout, launch failure); whether the unit succeeded
is decided by the host from the exit code *and* a valid result file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol


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
    env: dict[str, str] = field(default_factory=dict)
    warm: bool = False  # fork from a warm-start server (experiment.forkserver) instead of a fresh start


@dataclass(frozen=True)
class JobOutcome:
    """How a unit's process or container ended."""

    exit_code: int | None
    stopped: Literal["timeout", "idle", "launch", "interrupted"] | None = None
    message: str = ""


class Executor(Protocol):
    """Runs units; ``on_started`` receives a handle (pid or container id) to record in the manifest."""

    name: str

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Run ``job`` to completion (or until stopped) and report how it ended."""

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str]) -> list[str]:
        """Stop what a crashed host left running for this campaign; returns what was removed."""

    def close(self) -> None:
        """Stop the warm-start servers this executor started; called when a campaign run ends."""


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
