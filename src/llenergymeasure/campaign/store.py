"""Manifest persistence: atomic replace after every transition, cheap even for 10k units.

Each entry's JSON is cached and only the changed entry is re-serialized, so a transition costs
one small dump plus one file write instead of re-encoding the whole campaign.
"""

from __future__ import annotations

import json
from pathlib import Path

from loguru import logger
from pydantic import ValidationError

from llenergymeasure.atomic import write_atomic
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry, utcnow
from llenergymeasure.errors import ManifestError


class ManifestStore:
    """The in-memory manifest of a running campaign and its file on disk."""

    def __init__(self, path: Path, manifest: CampaignManifest) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self._index = {e.key: i for i, e in enumerate(manifest.entries)}
        self._entry_json = [e.model_dump_json() for e in manifest.entries]

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
        self.manifest.entries[i] = entry
        self._entry_json[i] = entry.model_dump_json()
        self.save()

    def save(self) -> bool:
        """Write the manifest atomically; returns False (after a warning) if the disk refused."""
        self.manifest.updated_at = utcnow()
        try:
            write_atomic(self.path, self.render())
        except OSError as exc:
            logger.warning("manifest write failed ({}); continuing, state is kept in memory", exc)
            return False
        return True

    def render(self) -> bytes:
        """The manifest as JSON bytes, assembled from the cached entry encodings."""
        header = self.manifest.model_dump(mode="json", exclude={"entries"})
        header["counters"] = self.manifest.counters().model_dump()
        head = json.dumps(header, indent=1)[:-2]  # drop the closing "\n}"
        body = ",\n  ".join(self._entry_json)
        return f'{head},\n "entries": [\n  {body}\n ]\n}}\n'.encode()
