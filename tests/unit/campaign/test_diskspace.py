"""A full disk stops a campaign before the next unit measures anything (issue 22, item 12)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from llenergymeasure.campaign.diskspace import UNIT_RESERVE_BYTES, needed_bytes, require_space, space_problem
from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.errors import CampaignError

MIB = 1 << 20


def statvfs_with(
    free_bytes: int, free_inodes: int = 1000, total_inodes: int = 10_000, block: int = 4096
) -> Callable[[str], os.statvfs_result]:
    """A statvfs reporting ``free_bytes`` available to unprivileged writers."""

    def statvfs(path: str) -> os.statvfs_result:
        blocks = free_bytes // block
        # f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail, f_flag, f_namemax
        return os.statvfs_result(
            (block, block, 10 * blocks + 1, blocks + 50, blocks, total_inodes, free_inodes, free_inodes, 0, 255)
        )

    return statvfs


def test_one_unit_needs_its_reserve_and_a_second_copy_of_the_manifest() -> None:
    assert needed_bytes(0) == UNIT_RESERVE_BYTES == 16 * MIB
    assert needed_bytes(3 * MIB) == 22 * MIB


def test_enough_room_is_no_problem(tmp_path: Path) -> None:
    assert space_problem(tmp_path, MIB, statvfs_with(18 * MIB)) is None


def test_too_little_room_names_the_folder_the_free_and_the_needed_space(tmp_path: Path) -> None:
    assert space_problem(tmp_path, MIB, statvfs_with(17 * MIB)) == (
        f"{tmp_path}: 17.0 MiB free, but one unit needs 18.0 MiB for its results and the manifest; "
        f"no further unit was started: free space there, then `llem campaign resume {tmp_path}`"
    )


def test_no_free_inodes_is_a_problem_too(tmp_path: Path) -> None:
    assert space_problem(tmp_path, 0, statvfs_with(100 * MIB, free_inodes=3)) == (
        f"{tmp_path}: 3 free inodes, but one unit needs 8 for its files; "
        f"no further unit was started: free some there, then `llem campaign resume {tmp_path}`"
    )
    assert space_problem(tmp_path, 0, statvfs_with(100 * MIB, free_inodes=0, total_inodes=0)) is None  # btrfs: no count


def test_a_filesystem_that_cannot_say_is_not_refused(tmp_path: Path) -> None:
    def refuses(path: str) -> os.statvfs_result:
        raise OSError(38, "Function not implemented")

    assert space_problem(tmp_path, 0, refuses) is None


def test_require_space_counts_the_campaign_manifest(tmp_path: Path) -> None:
    layout = CampaignLayout(tmp_path)
    layout.manifest.write_bytes(b"x" * MIB)
    require_space(layout, statvfs_with(18 * MIB))
    with pytest.raises(CampaignError, match=r"17\.9 MiB free, but one unit needs 18\.0 MiB"):
        require_space(layout, statvfs_with(18 * MIB - 100 * 1024))
