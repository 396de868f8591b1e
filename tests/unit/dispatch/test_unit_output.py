"""Engine output goes to the unit's log file only; the terminal shows llem-exp's own lines (``--verbose``: all).

The unit is a real process (``tests/fakes/unit_process.py`` in ``engine`` mode) run by the local
executor where ``llem-exp`` would run: it prints llem-exp's loguru lines among vLLM-like lines, a
FutureWarning split across two writes, and (failing) a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from llenergymeasure import logs
from llenergymeasure.dispatch.base import UnitJob
from llenergymeasure.dispatch.local import ENTRYPOINT, LocalExecutor
from tests.fakes.unit_process import ENGINE_LINES, OWN_LINES

ROOT = Path(__file__).resolve().parents[3]
TRACEBACK = ["Traceback (most recent call last):\n", "RuntimeError: engine core died\n"]


@pytest.fixture
def fake_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An "interpreter" that runs the stand-in unit where ``llem-exp`` would run (cold)."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    script = tmp_path / "python"
    script.write_text(
        f'#!/bin/sh\ncase "$2" in\n  {ENTRYPOINT}) exec {sys.executable} -m tests.fakes.unit_process ;;\n'
        f'  *) exec {sys.executable} "$@" ;;\nesac\n'
    )
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def terminal() -> Iterator[list[str]]:
    """What the host shows of the units' output (a fresh echo: no warning seen before)."""
    shown: list[str] = []
    sink = logger.add(shown.append, format="{message}", level="DEBUG")
    logs._ECHO = logs.UnitEcho()
    yield shown
    logger.remove(sink)
    logs._ECHO = logs.UnitEcho()


def run_unit(tmp_path: Path, python: str, code: int) -> tuple[int | None, str]:
    (tmp_path / "logs").mkdir(exist_ok=True)
    job = UnitJob(
        key="exp001_c1",
        backend="vllm",
        service="vllm",
        campaign_dir=tmp_path,
        config_file=tmp_path / "configs" / "exp001.yaml",
        stem="s",
        config_hash="0" * 16,
        cycle=1,
        timeout_s=60,
        idle_timeout_s=60,
        log_file=tmp_path / "logs" / "s.log",
        env={"LLEM_TEST_UNIT": f"engine {code}"},
    )
    outcome = LocalExecutor(python=python, poll_s=0.05).run(job, lambda _: None)
    return outcome.exit_code, job.log_file.read_text()


def test_the_terminal_shows_only_llems_own_lines_and_the_log_keeps_everything(
    tmp_path: Path, fake_python: str, terminal: list[str]
) -> None:
    code, log = run_unit(tmp_path, fake_python, 0)
    assert code == 0
    assert "".join(terminal) == "".join(OWN_LINES)
    assert log == "".join([OWN_LINES[0], *ENGINE_LINES, OWN_LINES[1], "res/c_1/s_c1.json\n"])


def test_a_failing_units_traceback_stays_in_its_log(tmp_path: Path, fake_python: str, terminal: list[str]) -> None:
    code, log = run_unit(tmp_path, fake_python, 3)
    assert code == 3
    assert "".join(terminal) == "".join(OWN_LINES)
    assert "".join(TRACEBACK) in log


def test_verbose_streams_the_engine_output_too(tmp_path: Path, fake_python: str, terminal: list[str]) -> None:
    logs.stream_engine_output(True)
    try:
        run_unit(tmp_path, fake_python, 3)
    finally:
        logs.stream_engine_output(False)
    assert "".join(terminal) == "".join([OWN_LINES[0], *ENGINE_LINES, OWN_LINES[1], *TRACEBACK])
