"""The GPU settings journal: the original on disk before any change, kept across failed restores, one owner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llenergymeasure.errors import GpuSettingsError
from llenergymeasure.gpu.journal import JOURNAL_NAME, Journal
from llenergymeasure.gpu.settings import State

A = State("GPU-a", 0, 300_000)


def test_the_original_is_on_disk_before_the_change_and_released_after_restore(tmp_path: Path) -> None:
    owners = tmp_path / "owners"
    journal = Journal(tmp_path / "c1", owners)
    (tmp_path / "c1").mkdir()
    journal.before_change(0, A, "exp001_c1", "node1")
    on_disk = json.loads((tmp_path / "c1" / JOURNAL_NAME / "GPU-a.json").read_text())
    assert on_disk == {
        "uuid": "GPU-a",
        "index": 0,
        "original": {"uuid": "GPU-a", "index": 0, "power_limit_mw": 300_000},
        "phase": "applying",
        "unit": "exp001_c1",
        "host": "node1",
    }
    assert (owners / "GPU-a").read_text() == str((tmp_path / "c1").resolve())
    journal.mark("GPU-a", "applied")
    assert [r.phase for r in journal.open_records()] == ["applied"]
    journal.mark("GPU-a", "restored")
    assert journal.open_records() == []
    assert not (owners / "GPU-a").exists()


def test_an_open_record_keeps_the_first_original(tmp_path: Path) -> None:
    (tmp_path / "c1").mkdir()
    journal = Journal(tmp_path / "c1", tmp_path / "owners")
    journal.before_change(0, A, "exp001_c1", "node1")
    # exp001's restore failed: the GPU now holds 200 W, which must never become "the original".
    journal.before_change(0, State("GPU-a", 0, 200_000), "exp002_c1", "node1")
    (record,) = journal.open_records()
    assert (record.original.power_limit_mw, record.unit) == (300_000, "exp002_c1")
    journal.mark("GPU-a", "restored")
    journal.before_change(0, State("GPU-a", 0, 250_000), "exp003_c1", "node1")  # restored: a new original
    assert journal.open_records()[0].original.power_limit_mw == 250_000


def test_a_second_campaign_is_refused_while_the_first_holds_the_gpu(tmp_path: Path) -> None:
    owners = tmp_path / "owners"
    for name in ("c1", "c2"):
        (tmp_path / name).mkdir()
    first, second = Journal(tmp_path / "c1", owners), Journal(tmp_path / "c2", owners)
    first.before_change(0, A, "exp001_c1", "node1")
    with pytest.raises(GpuSettingsError) as err:
        second.before_change(0, A, "exp001_c1", "node1")
    held = (tmp_path / "c1").resolve()
    assert str(err.value) == (
        f"GPU GPU-a holds settings campaign {held} changed and has not put back; finish or resume that"
        f" campaign, or run `llem gpu restore {held}`, before changing it here"
    )
    first.mark("GPU-a", "restored")
    second.before_change(0, A, "exp001_c1", "node1")  # free again
    assert (owners / "GPU-a").read_text() == str((tmp_path / "c2").resolve())


def test_a_stale_owner_is_taken_over(tmp_path: Path) -> None:
    owners = tmp_path / "owners"
    owners.mkdir()
    (owners / "GPU-a").write_text(str(tmp_path / "gone"))  # its campaign folder was deleted
    (tmp_path / "c1").mkdir()
    Journal(tmp_path / "c1", owners).before_change(0, A, "exp001_c1", "node1")
    assert (owners / "GPU-a").read_text() == str((tmp_path / "c1").resolve())


def test_a_damaged_journal_is_an_error_never_a_guess(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_NAME).mkdir()
    (tmp_path / JOURNAL_NAME / "GPU-a.json").write_text('{"uuid": ')
    with pytest.raises(GpuSettingsError) as err:
        Journal(tmp_path, tmp_path / "owners").records()
    assert str(err.value).startswith(f"{tmp_path / JOURNAL_NAME / 'GPU-a.json'}: unreadable GPU settings journal (")
    assert Journal(tmp_path, tmp_path / "owners").holds("GPU-a")  # unreadable: never taken as free
