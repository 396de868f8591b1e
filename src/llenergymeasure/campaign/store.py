"""Manifest persistence: atomic replace after every transition, cheap even for 10k units.

On disk the fields fixed per experiment (config hash and summary, backend, service, config file)
are stored once under ``experiments`` and each entry keeps only its unit's state (its key, too, is
derived from ``exp_id`` and ``cycle``); loading joins them back, so code sees full
``ManifestEntry`` objects. That keeps a 10k-unit manifest about half
the size, and a transition's cost is the write of the file. Each entry's JSON is cached in blocks:
a transition re-serializes one entry and re-joins one block, and the whole document goes to the
kernel in one ``writev`` without being copied in memory.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import ValidationError

from llenergymeasure.atomic import Sync, fsync_path, write_atomic
from llenergymeasure.campaign.manifest import (
    EXPERIMENT_FIELDS,
    CampaignManifest,
    ManifestEntry,
    Status,
    unit_key,
)
from llenergymeasure.clock import utcnow
from llenergymeasure.errors import ManifestError

BLOCK = 128  # entries per cached block
# Every transition is durable (fsync of the file and its directory, about 7 ms at 10k units): a
# power cut then leaves the last transition, never an empty or torn file. One that still finds
# one (a filesystem that lies about fsync) is rebuilt by `resume` (campaign/rebuild.py).
MANIFEST_SYNC: Sync = "full"
SEP = b",\n  "
STATUSES: tuple[Status, ...] = ("completed", "failed", "pending", "running", "skipped")


class ManifestStore:
    """The in-memory manifest of a running campaign and its file on disk."""

    def __init__(self, path: Path, manifest: CampaignManifest, sync: Sync = MANIFEST_SYNC) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.sync = sync
        self._index = {e.key: i for i, e in enumerate(manifest.entries)}
        self._experiments: dict[str, dict[str, Any]] = {}
        for e in manifest.entries:
            fields = _experiment_fields(e)
            if self._experiments.setdefault(e.exp_id, fields) != fields:
                raise ManifestError(f"unit {e.key}: experiment fields differ from other cycles of {e.exp_id}")
        self._experiments_json = _encode_experiments(self._experiments)
        self._entry_json = [_encode(e) for e in manifest.entries]
        self._blocks = [self._join_block(b) for b in range(self._n_blocks())]
        self._counts = Counter(e.status for e in manifest.entries)
        self._lock = threading.Lock()  # units on several GPU slots report their handles from worker threads

    @classmethod
    def load(cls, path: Path) -> ManifestStore:
        """Read a manifest; a torn or foreign file is an error and is never overwritten."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestError(f"{path}: no manifest here; is this a campaign directory?") from None
        except (OSError, ValueError) as exc:
            raise ManifestError(f"{path}: manifest unreadable ({exc}); left untouched") from None
        try:
            manifest = CampaignManifest.model_validate(joined_document(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ManifestError(f"{path}: manifest invalid at {loc}: {err['msg']}; left untouched") from None
        except _JoinError as exc:
            raise ManifestError(f"{path}: manifest invalid at {exc}; left untouched") from None
        return cls(path, manifest)

    def entry(self, key: str) -> ManifestEntry:
        """Current state of unit ``key``."""
        return self.manifest.entries[self._index[key]]

    def put(self, entry: ManifestEntry, durable: bool = False) -> None:
        """Replace one entry and persist; a failed write is logged and the campaign goes on.

        Serialised: one transition is applied and written before the next, whichever thread calls.
        ``durable``: the transition must be on disk before something outside happens (a Slurm job
        released); it is fsynced whatever ``sync`` says, and a failed write raises ManifestError.
        """
        i = self._index[entry.key]
        if _experiment_fields(entry) != self._experiments[entry.exp_id]:
            raise ManifestError(f"unit {entry.key}: a transition may not change the experiment's fields")
        with self._lock:
            self._counts[self.manifest.entries[i].status] -= 1
            self._counts[entry.status] += 1
            self.manifest.entries[i] = entry
            self._entry_json[i] = _encode(entry)
            self._blocks[i // BLOCK] = self._join_block(i // BLOCK)
            if not self.save("full" if durable else None) and durable:
                raise ManifestError(f"{self.path}: could not record unit {entry.key} ({entry.handle})")

    def save(self, sync: Sync | None = None) -> bool:
        """Write the manifest atomically (``sync``: default ``self.sync``); False (after a warning) if refused."""
        self.manifest.updated_at = utcnow()
        try:
            write_atomic(self.path, self.chunks(), sync or self.sync)
        except OSError as exc:
            logger.warning("manifest write failed ({}); continuing, state is kept in memory", exc)
            return False
        return True

    def persist(self) -> bool:
        """Make the manifest as last written durable (fsync file and directory); False if the disk refused.

        Called when a run ends; with ``MANIFEST_SYNC`` "full" every transition is durable already.
        """
        try:
            fsync_path(self.path)
        except OSError as exc:
            logger.warning("manifest sync failed ({}); a power cut could lose recent transitions", exc)
            return False
        return True

    def _n_blocks(self) -> int:
        return (len(self._entry_json) + BLOCK - 1) // BLOCK

    def _join_block(self, b: int) -> bytes:
        return SEP.join(self._entry_json[b * BLOCK : (b + 1) * BLOCK])

    def chunks(self) -> list[bytes]:
        """The manifest as a list of byte strings whose concatenation is the JSON document."""
        header = self.manifest.model_dump(mode="json", exclude={"entries"})
        header["counters"] = {"total": len(self._entry_json), **{s: self._counts.get(s, 0) for s in STATUSES}}
        head = json.dumps(header, indent=1)[:-2].encode()  # drop the closing "\n}"
        parts = [head, b',\n "experiments": ', self._experiments_json, b',\n "entries": [\n  ']
        for b, block in enumerate(self._blocks):
            parts.extend((SEP, block) if b else (block,))
        parts.append(b"\n ]\n}\n")
        return parts

    def render(self) -> bytes:
        """The manifest as one JSON document."""
        return b"".join(self.chunks())


class _JoinError(Exception):
    """An entry that names no known experiment; the message is its location."""


def _experiment_fields(entry: ManifestEntry) -> dict[str, Any]:
    return {f: getattr(entry, f) for f in EXPERIMENT_FIELDS}


def _encode_experiments(experiments: dict[str, dict[str, Any]]) -> bytes:
    lines = [f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in experiments.items()]
    return ("{\n" + ",\n".join(lines) + "\n }").encode() if lines else b"{}"


def _encode(entry: ManifestEntry) -> bytes:
    """One entry's own state as compact JSON; unset (None) fields are left out and read back as defaults."""
    derived = entry.key == unit_key(entry.exp_id, entry.cycle)  # stored only where it differs
    exclude = {*EXPERIMENT_FIELDS, "key"} if derived else set(EXPERIMENT_FIELDS)
    return entry.model_dump_json(exclude_none=True, exclude=exclude).encode()


def joined_document(raw: Any) -> Any:
    """The on-disk document as ``CampaignManifest`` input: experiment fields copied into each entry.

    Schema 1 files (full entries, no ``experiments``) pass through unchanged, so campaigns started
    by an older llem still resume; derived ``counters`` are dropped.
    """
    if not isinstance(raw, dict):
        return raw
    raw = {k: v for k, v in raw.items() if k != "counters"}
    experiments = raw.pop("experiments", None)
    entries = raw.get("entries")
    if not isinstance(experiments, dict) or not isinstance(entries, list):
        return raw
    joined = []
    for n, e in enumerate(entries):
        if not isinstance(e, dict):
            joined.append(e)
            continue
        fixed = experiments.get(e.get("exp_id"))
        if not isinstance(fixed, dict):
            raise _JoinError(f"entries.{n}.exp_id: no experiment {e.get('exp_id')!r} under 'experiments'")
        key = unit_key(str(e.get("exp_id")), e["cycle"]) if isinstance(e.get("cycle"), int) else None
        joined.append({"key": key, **fixed, **e} if key else {**fixed, **e})
    raw["entries"] = joined
    return raw
