"""Manifest persistence: atomic replace after every transition, cheap even for 10k units.

Each entry's JSON is cached in blocks; a transition re-serializes one entry and re-joins one
block, and the blocks go to the file as separate writes, so no step copies the whole manifest
in memory. At 10k units a transition costs about one file write of the manifest's size.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from loguru import logger
from pydantic import ValidationError

from llenergymeasure.atomic import write_atomic
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry, utcnow
from llenergymeasure.errors import ManifestError

BLOCK = 128  # entries per cached block
SEP = b",\n  "


class ManifestStore:
    """The in-memory manifest of a running campaign and its file on disk."""

    def __init__(self, path: Path, manifest: CampaignManifest) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self._index = {e.key: i for i, e in enumerate(manifest.entries)}
        self._entry_json = [_encode(e) for e in manifest.entries]
        self._blocks = [self._join_block(b) for b in range(self._n_blocks())]
        self._counts = Counter(e.status for e in manifest.entries)

    @classmethod
    def load(cls, path: Path) -> ManifestStore:
        """Read a manifest; a torn or foreign file is an error and is never overwritten."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestError(f"{path}: no manifest here; is this a campaign directory?") from None
        except (OSError, ValueError) as exc:
            raise ManifestError(f"{path}: manifest unreadable ({exc}); left untouched") from None
        if isinstance(raw, dict):
            raw.pop("counters", None)
        try:
            manifest = CampaignManifest.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ManifestError(f"{path}: manifest invalid at {loc}: {err['msg']}; left untouched") from None
        return cls(path, manifest)

    def remove_stale_temp_files(self) -> int:
        """Delete temp files of manifest writes cut short by a crash; only the campaign's owner may call this."""
        stale = list(self.path.parent.glob(f".{self.path.name}.*.tmp"))
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def entry(self, key: str) -> ManifestEntry:
        """Current state of unit ``key``."""
        return self.manifest.entries[self._index[key]]

    def put(self, entry: ManifestEntry) -> None:
        """Replace one entry and persist; a failed write is logged and the campaign goes on."""
        i = self._index[entry.key]
        self._counts[self.manifest.entries[i].status] -= 1
        self._counts[entry.status] += 1
        self.manifest.entries[i] = entry
        self._entry_json[i] = _encode(entry)
        self._blocks[i // BLOCK] = self._join_block(i // BLOCK)
        self.save()

    def save(self) -> bool:
        """Write the manifest atomically; returns False (after a warning) if the disk refused."""
        self.manifest.updated_at = utcnow()
        try:
            write_atomic(self.path, self.chunks())
        except OSError as exc:
            logger.warning("manifest write failed ({}); continuing, state is kept in memory", exc)
            return False
        return True

    def _n_blocks(self) -> int:
        return (len(self._entry_json) + BLOCK - 1) // BLOCK

    def _join_block(self, b: int) -> bytes:
        return SEP.join(self._entry_json[b * BLOCK : (b + 1) * BLOCK])

    def chunks(self) -> list[bytes]:
        """The manifest as a list of byte strings whose concatenation is the JSON document."""
        header = self.manifest.model_dump(mode="json", exclude={"entries"})
        counts = {s: self._counts.get(s, 0) for s in ("completed", "failed", "pending", "running", "skipped")}
        header["counters"] = {"total": len(self._entry_json), **counts}
        head = json.dumps(header, indent=1)[:-2].encode()  # drop the closing "\n}"
        parts = [head, b',\n "entries": [\n  ']
        for b, block in enumerate(self._blocks):
            parts.extend((SEP, block) if b else (block,))
        parts.append(b"\n ]\n}\n")
        return parts

    def render(self) -> bytes:
        """The manifest as one JSON document."""
        return b"".join(self.chunks())


def _encode(entry: ManifestEntry) -> bytes:
    """One entry as compact JSON; unset (None) fields are left out and come back as their defaults."""
    return entry.model_dump_json(exclude_none=True).encode()
