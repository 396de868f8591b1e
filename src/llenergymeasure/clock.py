"""Wall-clock timestamps shared by the host (manifest) and the container (result files)."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> str:
    """ISO-8601 UTC timestamp with seconds precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
