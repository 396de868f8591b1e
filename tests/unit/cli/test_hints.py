"""Suggested commands carry the real campaign folder (Ctrl-C under --results-dir); llem's flags go anywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from llenergymeasure import logs
from llenergymeasure.campaign import api
from llenergymeasure.campaign.events import Event
from llenergymeasure.cli.main import main

ONE = "name: one\nmodel: m\nbackend: pytorch\n"


@pytest.fixture(autouse=True)
def levels(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The levels ``logs.configure`` was asked for; the real one (replacing every loguru handler) is left out."""
    asked: list[str] = []
    monkeypatch.setattr(logs, "configure", lambda level="INFO", unit="": asked.append(level))
    return asked


def interrupt_up(root: Path | None) -> Callable[..., None]:
    """``api.up`` stand-in: the campaign folder created (unless ``root`` is None), then Ctrl-C."""

    def up(*args: object, **_: object) -> None:
        on_event = args[4]
        assert callable(on_event)
        if root is not None:
            on_event(Event("created", message=str(root)))
        raise KeyboardInterrupt

    return up


def run_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: Path | None, *extra: str) -> object:
    """``llem campaign up one.yaml --results-dir elsewhere ...`` interrupted; its exit code."""
    (tmp_path / "one.yaml").write_text(ONE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(api, "up", interrupt_up(root))
    args = ["campaign", "up", "one.yaml", "--results-dir", "elsewhere", "--executor", "local", "--no-preflight"]
    with pytest.raises(SystemExit) as ended:
        main([*args, *extra])
    return ended.value.code


def test_ctrl_c_names_the_campaign_folder_under_results_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_up(tmp_path, monkeypatch, Path("elsewhere/one_2026"))
    assert code == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: interrupted; `llem campaign resume elsewhere/one_2026` finishes what is left"
    )


def test_ctrl_c_before_the_folder_exists_offers_nothing_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_up(tmp_path, monkeypatch, None)
    assert code == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: interrupted before the campaign folder was created; nothing to resume"
    )


def test_debug_and_verbose_are_accepted_after_the_subcommand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], levels: list[str]
) -> None:
    try:
        code = run_up(tmp_path, monkeypatch, Path("elsewhere/one_2026"), "--debug", "--verbose")
        assert logs._ECHO.verbose
    finally:
        logs.stream_engine_output(False)
    assert code == 130
    assert levels == ["INFO", "DEBUG"]  # the group's default, then the subcommand's --debug
    assert "no such option" not in capsys.readouterr().err
