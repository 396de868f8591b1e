"""The durable record of every GPU setting a campaign changed, so it can always be put back.

Before llem changes a GPU's power limit or clocks, the GPU's original state is written here, in the
campaign folder, and fsynced: a host killed at any point after that leaves a journal from which
``llem campaign resume``, the next ``up`` or ``llem gpu restore DIR`` puts the GPU back. The order is
journal, then set; mark applied; restore, then mark restored. A kill between "journal" and "set"
leaves an entry for a GPU that was never changed, and restoring it sets what it already has.

An entry keeps the state from before the campaign's FIRST change to that GPU: a unit whose restore
failed leaves its entry open, and the next unit must not record the changed value as the original.

Two campaigns never fight over one GPU: each GPU UUID has an owner file in a host-wide folder
(``$LLEM_STATE_DIR/gpu-owners``, default ``~/.local/state/llenergymeasure``), created exclusively and
naming the owning campaign folder. A second campaign is refused while the owner's journal still has
that GPU open; an owner whose journal has it restored (or is gone) is stale and is taken over.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from llenergymeasure.atomic import write_atomic
from llenergymeasure.errors import GpuSettingsError
from llenergymeasure.gpu.settings import State

JOURNAL_NAME = "gpu-journal"  # a folder: one file per GPU UUID, so units on other nodes never race on one file
Phase = Literal["applying", "applied", "restored"]


def state_dir() -> Path:
    """The host-wide folder of GPU owner files (``LLEM_STATE_DIR`` overrides; tests set it)."""
    base = os.environ.get("LLEM_STATE_DIR")
    return Path(base) if base else Path.home() / ".local" / "state" / "llenergymeasure"


@dataclass(frozen=True)
class Record:
    """One GPU this campaign changed: its state before the change, where the change stands, by which unit."""

    uuid: str
    index: int
    original: State
    phase: Phase
    unit: str
    host: str

    @property
    def open(self) -> bool:
        """Whether the GPU may still hold this campaign's settings (restore not confirmed)."""
        return self.phase != "restored"


def _record(raw: dict[str, Any]) -> Record:
    phase = raw["phase"]
    if phase not in ("applying", "applied", "restored"):
        raise ValueError(f"unknown phase {phase!r}")
    return Record(
        str(raw["uuid"]), int(raw["index"]), State.from_dict(raw["original"]), phase, str(raw["unit"]), str(raw["host"])
    )


class Journal:
    """The journal of one campaign folder; every change to it is on disk (fsynced) before the call returns."""

    def __init__(self, campaign_dir: Path, owners: Path | None = None) -> None:
        self.campaign_dir = Path(campaign_dir)
        self.path = self.campaign_dir / JOURNAL_NAME
        self.owners = owners if owners is not None else state_dir() / "gpu-owners"

    def _file(self, uuid: str) -> Path:
        return self.path / f"{uuid}.json"

    def _read(self, path: Path) -> Record:
        try:
            return _record(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GpuSettingsError(
                f"{path}: unreadable GPU settings journal ({exc}); the GPU it names may still hold changed settings:"
                " check it with nvidia-smi -q -d POWER,CLOCK and reset it with nvidia-smi -pl / -rgc / -rmc"
            ) from None

    def records(self) -> dict[str, Record]:
        """Every GPU this campaign ever changed, by UUID; a damaged entry is an error, never guessed at."""
        if not self.path.is_dir():
            return {}
        out = {}
        for path in sorted(self.path.glob("*.json")):
            record = self._read(path)
            out[record.uuid] = record
        return out

    def open_records(self) -> list[Record]:
        """GPUs whose restore is not confirmed: what ``restore`` puts back."""
        return [r for r in self.records().values() if r.open]

    def _write(self, record: Record) -> None:
        self.path.mkdir(exist_ok=True)
        write_atomic(self._file(record.uuid), json.dumps(asdict(record), indent=1, sort_keys=True).encode())

    def before_change(self, index: int, original: State, unit: str, host: str) -> Record:
        """Claim the GPU for this campaign and journal its original state, before anything is set.

        An open record (a change not yet confirmed restored) keeps its original: the GPU may hold
        this campaign's settings, not its own.
        """
        self._claim(original.uuid)
        path = self._file(original.uuid)
        kept = self._read(path) if path.exists() else None
        base = kept.original if kept is not None and kept.open else original
        record = Record(original.uuid, index, base, "applying", unit, host)
        self._write(record)
        return record

    def mark(self, uuid: str, phase: Phase) -> None:
        """Record that the GPU's settings were applied, or put back; a restored GPU is released to others."""
        current = self._read(self._file(uuid))
        self._write(Record(current.uuid, current.index, current.original, phase, current.unit, current.host))
        if phase == "restored":
            self._release(uuid)

    def _owner_file(self, uuid: str) -> Path:
        return self.owners / uuid

    def _claim(self, uuid: str) -> None:
        """Take the GPU's owner file, or find it ours; refuse another campaign that still holds the GPU."""
        self.owners.mkdir(parents=True, exist_ok=True)
        path = self._owner_file(uuid)
        mine = str(self.campaign_dir.resolve())
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = path.read_text(encoding="utf-8").strip() if path.exists() else ""
                if holder == mine:
                    return
                if holder and Journal(Path(holder), self.owners).holds(uuid):
                    raise GpuSettingsError(
                        f"GPU {uuid} holds settings campaign {holder} changed and has not put back; finish or"
                        f" resume that campaign, or run `llem gpu restore {holder}`, before changing it here"
                    ) from None
                path.unlink(missing_ok=True)  # a stale owner: its journal has the GPU restored, or is gone
                continue
            try:
                os.write(fd, mine.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            return
        raise GpuSettingsError(f"GPU {uuid}: could not take its owner file {path}")

    def holds(self, uuid: str) -> bool:
        """Whether this campaign's journal has the GPU open (an unreadable entry counts as holding it)."""
        path = self._file(uuid)
        if not path.exists():
            return False
        try:
            return self._read(path).open
        except GpuSettingsError:
            return True

    def _release(self, uuid: str) -> None:
        path = self._owner_file(uuid)
        try:
            if path.read_text(encoding="utf-8").strip() == str(self.campaign_dir.resolve()):
                path.unlink()
        except FileNotFoundError:
            pass
