"""What each write reaches the disk with: results and manifest transitions durable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from llenergymeasure import atomic
from llenergymeasure.atomic import write_atomic, write_json_atomic
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.store import MANIFEST_SYNC, ManifestStore
from llenergymeasure.results.reader import InvalidResultError, read_result


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every fsync as 'file' or 'dir'."""
    seen: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        seen.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    return seen


@pytest.mark.parametrize(("sync", "expected"), [("full", ["file", "dir"]), ("data", ["file"]), ("none", [])])
def test_sync_modes(tmp_path: Path, fsyncs: list[str], sync: atomic.Sync, expected: list[str]) -> None:
    write_atomic(tmp_path / "f", b"x", sync)
    assert fsyncs == expected
    assert (tmp_path / "f").read_bytes() == b"x"
    assert list(tmp_path.iterdir()) == [tmp_path / "f"]


def test_result_files_are_durable_by_default(tmp_path: Path, fsyncs: list[str]) -> None:
    write_json_atomic(tmp_path / "r.json", {"a": 1})
    write_atomic(tmp_path / "t.parquet", lambda p: p.write_bytes(b"PAR1"))  # how timeseries are written
    assert fsyncs == ["file", "dir", "file", "dir"]


def test_every_manifest_transition_is_durable(tmp_path: Path, fsyncs: list[str]) -> None:
    """A power cut must not leave an empty or torn manifest (issue 22, item 11): file and directory fsynced."""
    e = ManifestEntry(
        key="e_c1", exp_id="e", config_hash="0" * 16, backend="pytorch", service="pytorch", cycle=1, config_file="c"
    )
    store = ManifestStore(
        tmp_path / "manifest.json", CampaignManifest(campaign="c", design_hash="d" * 16, llem_version="0", entries=[e])
    )
    assert MANIFEST_SYNC == "full"
    assert store.save()
    assert fsyncs == ["file", "dir"]
    fsyncs.clear()
    assert store.persist()
    assert fsyncs == ["file", "dir"]


def test_a_write_cut_short_leaves_the_old_file_and_is_never_a_result(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")

    def dies_half_way(tmp: Path) -> None:
        tmp.write_text('{"schema_version": "1", "cy')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, dies_half_way)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # the temp file is gone too
    target.write_text('{"schema_version": "1", "cy')  # even a torn file under the real name is rejected
    with pytest.raises(InvalidResultError, match="not JSON"):
        read_result(target)
