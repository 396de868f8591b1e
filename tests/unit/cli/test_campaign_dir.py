"""Which campaign a command acts on when DIR is omitted or names a folder of campaigns, and what it says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llenergymeasure.campaign.layout import MANIFEST_NAME
from llenergymeasure.cli.campaign_dir import resolve_campaign_dir
from llenergymeasure.errors import CampaignError


def campaigns(root: Path, *names: str) -> list[Path]:
    """Campaign folders under ``root`` whose manifests changed in the order given (the last most recently)."""
    out = []
    for i, name in enumerate(names):
        d = root / name
        d.mkdir(parents=True)
        (d / MANIFEST_NAME).write_text("{}")
        os.utime(d / MANIFEST_NAME, ns=(10**18 + i * 10**9, 10**18 + i * 10**9))
        out.append(d)
    return out


def test_a_campaign_dir_is_taken_as_given_and_nothing_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = campaigns(tmp_path / "res", "a_1", "b_2")
    assert resolve_campaign_dir(old, tmp_path / "elsewhere") == old
    assert capsys.readouterr().err == ""


def test_without_dir_the_latest_under_results_dir_is_named_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "res"
    _, new, _ = campaigns(root, "a_1", "b_2", "c_3")
    os.utime(new / MANIFEST_NAME)  # touched now: the one a crashed `up` was running
    assert resolve_campaign_dir(None, root, verb="resuming") == new
    assert capsys.readouterr().err == (
        f"resuming {new} (the most recent of 3 campaign(s) in {root}; pass its DIR for another)\n"
    )


def test_a_folder_of_campaigns_means_its_latest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "res"
    _, new = campaigns(root, "a_1", "b_2")
    assert resolve_campaign_dir(root, tmp_path / "unused") == new
    assert capsys.readouterr().err == (
        f"reading {new} (the most recent of 2 campaign(s) in {root}; pass its DIR for another)\n"
    )


def test_a_folder_that_is_neither_is_passed_on_for_the_command_to_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain").mkdir()
    assert resolve_campaign_dir(tmp_path / "plain", tmp_path) == tmp_path / "plain"
    assert capsys.readouterr().err == ""


def test_no_campaign_under_results_dir_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "res").mkdir()
    with pytest.raises(CampaignError) as err:
        resolve_campaign_dir(None, tmp_path / "res")
    assert str(err.value) == f"{tmp_path / 'res'}: no campaign directory with a manifest.json; pass DIR explicitly"
