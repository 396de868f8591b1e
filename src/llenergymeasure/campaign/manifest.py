"""The campaign manifest: one entry per experiment+cycle, the checkpoint that makes resume exact.

Pure data and transitions; persistence lives in ``campaign.store``. Only the host writes it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llenergymeasure.clock import utcnow
from llenergymeasure.errors import ManifestError

MANIFEST_SCHEMA_VERSION = 2  # 2: per-experiment fields stored once under "experiments"
# Fields fixed per experiment: written once per experiment on disk, joined into every entry on load.
EXPERIMENT_FIELDS = ("config_hash", "config_summary", "backend", "service", "config_file", "n_gpus")
Status = Literal["pending", "running", "completed", "failed", "skipped"]

# Allowed moves; anything else is a bug in the orchestrator, not a user error.
_TRANSITIONS: dict[str, set[str]] = {
    "pending": {"running", "skipped"},
    "running": {"completed", "failed", "pending"},  # running → pending: crash recovery
    "failed": {"pending"},  # retry
    "completed": set(),
    "skipped": set(),
}


def unit_key(exp_id: str, cycle: int) -> str:
    """Stable unique id of one experiment in one cycle within a campaign."""
    return f"{exp_id}_c{cycle}"


class ManifestEntry(BaseModel):
    """State of one unit. ``handle`` names the process, container or Slurm job running it, for orphan cleanup.

    ``slot`` and ``gpus`` (UUIDs) say where the latest attempt ran when the campaign runs on GPU
    slots; ``n_gpus`` is the experiment's slot size (its tensor-parallel size).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    key: str
    exp_id: str
    config_hash: str
    config_summary: dict[str, Any] = Field(default_factory=dict)
    backend: str
    service: str
    cycle: int
    status: Status = "pending"
    result_file: str | None = None
    config_file: str
    n_gpus: int = 1
    started_at: str | None = None
    completed_at: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    retry_count: int = 0
    handle: str | None = None
    slot: str | None = None
    gpus: list[str] | None = None
    job_id: str | None = None  # the Slurm job of the latest attempt; kept when the unit ends
    scheduler_energy_j: float | None = None  # Slurm's ConsumedEnergy for the job, beside the unit's own figure


class Counters(BaseModel):
    """Derived counts, written for humans and scripts; never read back as truth."""

    total: int
    completed: int
    failed: int
    pending: int
    running: int
    skipped: int


class CampaignManifest(BaseModel):
    """Everything needed to resume a campaign, with no reference to the process that wrote it."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = MANIFEST_SCHEMA_VERSION
    campaign: str
    design_hash: str
    llem_version: str
    campaign_file: str | None = None
    executor: str = "local"
    gpus: str | None = Field(
        None, description="The --gpus the campaign runs on (all, 0,1,...); None: one unit at a time."
    )
    created_at: str = Field(default_factory=utcnow)
    updated_at: str = Field(default_factory=utcnow)
    entries: list[ManifestEntry]

    def counters(self) -> Counters:
        """Count entries by status."""
        by: dict[str, int] = {s: 0 for s in ("pending", "running", "completed", "failed", "skipped")}
        for e in self.entries:
            by[e.status] += 1
        return Counters(total=len(self.entries), **by)

    def entry(self, key: str) -> ManifestEntry:
        """The entry of unit ``key``."""
        for e in self.entries:
            if e.key == key:
                return e
        raise ManifestError(f"manifest has no unit {key!r}")


def transition(entry: ManifestEntry, status: Status, **changes: Any) -> ManifestEntry:
    """A copy of ``entry`` moved to ``status`` with ``changes``; illegal moves raise."""
    if status not in _TRANSITIONS[entry.status]:
        raise ManifestError(f"unit {entry.key}: illegal transition {entry.status} -> {status}")
    return entry.model_copy(update={"status": status, **changes})


def start(entry: ManifestEntry, slot: str | None = None, gpus: list[str] | None = None) -> ManifestEntry:
    """Pending → running on ``slot`` (its GPU UUIDs ``gpus``); clears the previous attempt's outcome."""
    return transition(
        entry,
        "running",
        started_at=utcnow(),
        completed_at=None,
        error_type=None,
        error_message=None,
        handle=None,
        slot=slot,
        gpus=gpus,
    )


def complete(entry: ManifestEntry, result_file: str) -> ManifestEntry:
    """Running → completed with its result file."""
    return transition(entry, "completed", result_file=result_file, completed_at=utcnow(), handle=None)


def fail(entry: ManifestEntry, error_type: str, error_message: str) -> ManifestEntry:
    """Running → failed, with the reason kept for status and retries."""
    return transition(
        entry,
        "failed",
        error_type=error_type,
        error_message=error_message[:2000],
        completed_at=utcnow(),
        handle=None,
    )


def requeue(entry: ManifestEntry) -> ManifestEntry:
    """Running (orphaned by a crash) or failed (retry) → pending; a retry counts against the limit."""
    retries = entry.retry_count + (1 if entry.status == "failed" else 0)
    return transition(entry, "pending", retry_count=retries, handle=None)


def adopt(entry: ManifestEntry, result_file: str, finished_at: str) -> ManifestEntry:
    """Any unfinished state → completed, because the unit's valid result file is on disk.

    The result files are the ground truth and the manifest their index: a unit that wrote its
    result before a crash (or before a manifest write the disk refused) is done and never re-run.
    """
    if entry.status in ("completed", "skipped"):
        raise ManifestError(f"unit {entry.key}: cannot adopt a result for a {entry.status} unit")
    return entry.model_copy(
        update={
            "status": "completed",
            "result_file": result_file,
            "completed_at": finished_at,
            "error_type": None,
            "error_message": None,
            "handle": None,
        }
    )


def disown(entry: ManifestEntry, error_type: str, error_message: str) -> ManifestEntry:
    """Any unskipped state → failed, because the result file under its name measured another config.

    Never done: a result whose config does not hash to the unit's identity (another llem version's
    defaults, an edited unit config) is a failed attempt with its reason, retried like any other.
    """
    if entry.status == "skipped":
        raise ManifestError(f"unit {entry.key}: cannot fail a skipped unit")
    update = {"status": "failed", "error_type": error_type, "error_message": error_message[:2000], "handle": None}
    return entry.model_copy(update={**update, "completed_at": entry.completed_at or utcnow()})


def reopen(entry: ManifestEntry) -> ManifestEntry:
    """Completed → pending, because its result file is gone or invalid: re-running is the only way to get it."""
    if entry.status != "completed":
        raise ManifestError(f"unit {entry.key}: only a completed unit can be reopened, not a {entry.status} one")
    return entry.model_copy(update={"status": "pending", "completed_at": None, "handle": None})
