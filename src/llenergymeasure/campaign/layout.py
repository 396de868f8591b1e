"""Where things live in a campaign directory. One place, so host and container agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from llenergymeasure.errors import CampaignError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class CampaignLayout:
    """``results/{name}_{timestamp}/`` with manifest, flat results, unit configs and logs."""

    root: Path

    @property
    def manifest(self) -> Path:
        """The checkpoint file."""
        return self.root / MANIFEST_NAME

    @property
    def configs(self) -> Path:
        """Unit config files, one per experiment, read by ``llem-exp``."""
        return self.root / "configs"

    @property
    def logs(self) -> Path:
        """Captured stdout/stderr of each unit."""
        return self.root / "logs"

    @property
    def campaign_snapshot(self) -> Path:
        """The resolved campaign as it was planned."""
        return self.root / "campaign.resolved.json"

    def result(self, stem: str) -> Path:
        """Result JSON of a unit."""
        return self.root / f"{stem}.json"

    def error(self, stem: str) -> Path:
        """Error file a failed unit leaves instead of a result."""
        return self.root / f"{stem}.error.json"

    def remove_stale_temp_files(self) -> int:
        """Delete temp files of writes cut short (``write_atomic``'s ``.NAME.*.tmp``): results, manifest.

        Only the lock holder may call this, after orphans are stopped: no one else is writing then.
        A temp file is never read as a result either way (results are ``*.json``).
        """
        stale = [p for p in self.root.glob(".*.tmp") if p.is_file()]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)


def create_campaign_dir(results_root: Path, name: str, now: datetime | None = None) -> CampaignLayout:
    """Make a fresh, uniquely named campaign directory; failure is fatal and reported at once."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    try:
        results_root.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            root = results_root / (f"{name}_{stamp}" if n == 0 else f"{name}_{stamp}_{n}")
            try:
                root.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 1000 campaigns of one name in one second
            raise CampaignError(f"{results_root}: too many campaigns named {name} this second")
        layout = CampaignLayout(root)
        layout.configs.mkdir()
        layout.logs.mkdir()
    except OSError as exc:
        raise CampaignError(
            f"{results_root}: cannot create campaign directory ({exc.strerror or exc}); choose a writable --results-dir"
        ) from None
    return layout


def latest_campaign_dir(results_root: Path) -> Path:
    """The campaign whose manifest changed last: the one a crashed `up` was running."""
    candidates = [p.parent for p in results_root.glob(f"*/{MANIFEST_NAME}")]
    if not candidates:
        raise CampaignError(f"{results_root}: no campaign directory with a {MANIFEST_NAME}; pass DIR explicitly")
    return max(candidates, key=lambda p: (p / MANIFEST_NAME).stat().st_mtime_ns)
