"""Is there room for one more unit? Asked before each unit is dispatched, so a full disk stops the run cleanly.

Without it every remaining unit still measures for its full duration and only then fails to write
its result. A unit writes its result JSON, its power timeseries and maybe an error file or a
server log into the campaign folder, and each of its transitions rewrites the manifest through a
temp file beside it (the old and the new copy exist at once). ``UNIT_RESERVE_BYTES`` covers the
unit's own files with a wide margin (a 10-minute window on 8 GPUs at 100 ms is about 1 MB of
parquet; a result with 10k per-request timings about 1 MB of JSON); twice the manifest covers its
replacement. Free space is what an unprivileged writer may use (``f_bavail``), and a filesystem
that reports inodes must have a few left.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.errors import CampaignError

UNIT_RESERVE_BYTES = 16 << 20  # one unit's result, timeseries, error file and logs, with margin
UNIT_INODES = 8  # result, timeseries, error file, server log, and their temp files
StatVfs = Callable[[str], os.statvfs_result]


def mib(n_bytes: int) -> str:
    """``n_bytes`` as MiB with one decimal: ``16.0 MiB``."""
    return f"{n_bytes / (1 << 20):.1f} MiB"


def needed_bytes(manifest_bytes: int, reserve_bytes: int = UNIT_RESERVE_BYTES) -> int:
    """Space one more unit needs: its own files plus a second copy of the manifest while it is replaced."""
    return reserve_bytes + 2 * manifest_bytes


def space_problem(
    folder: Path, manifest_bytes: int, statvfs: StatVfs = os.statvfs, reserve_bytes: int = UNIT_RESERVE_BYTES
) -> str | None:
    """The one line saying why ``folder`` cannot take one more unit; None when it can (or cannot be asked)."""
    try:
        st = statvfs(str(folder))
    except OSError:
        return None  # a filesystem that cannot say: the writes themselves will tell
    need = needed_bytes(manifest_bytes, reserve_bytes)
    free = st.f_bavail * st.f_frsize
    if free < need:
        return (
            f"{folder}: {mib(free)} free, but one unit needs {mib(need)} for its results and the manifest; "
            f"no further unit was started: free space there, then `llem campaign resume {folder}`"
        )
    if st.f_files > 0 and st.f_favail < UNIT_INODES:
        return (
            f"{folder}: {st.f_favail} free inodes, but one unit needs {UNIT_INODES} for its files; "
            f"no further unit was started: free some there, then `llem campaign resume {folder}`"
        )
    return None


def require_space(layout: CampaignLayout, statvfs: StatVfs = os.statvfs) -> None:
    """Raise ``CampaignError`` with ``space_problem``'s line when the campaign folder has no room for a unit."""
    try:
        manifest_bytes = layout.manifest.stat().st_size
    except OSError:
        manifest_bytes = 0
    problem = space_problem(layout.root, manifest_bytes, statvfs)
    if problem:
        raise CampaignError(problem)
