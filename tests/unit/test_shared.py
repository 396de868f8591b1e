"""The test session's shared locks (tests/shared.py), which pytest-xdist workers build images under."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared import ROOT_ENV, once_per_session, session_lock

TRY_LOCK = """
import fcntl, sys
with open(sys.argv[1], "w") as fh:
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("held")
    else:
        print("free")
"""


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    return tmp_path


def other_process_sees(lock_file: Path) -> str:
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(lock_file)], capture_output=True, text=True).stdout


def test_the_lock_holds_against_other_processes_nests_within_one_and_is_released(root: Path) -> None:
    seen = []
    with session_lock("build"):
        seen.append(other_process_sees(root / "build.lock"))
        with session_lock("build"):  # a helper taking it again in the same process must not deadlock
            seen.append(other_process_sees(root / "build.lock"))
        seen.append(other_process_sees(root / "build.lock"))  # still held by the outer level
    seen.append(other_process_sees(root / "build.lock"))
    assert seen == ["held\n", "held\n", "held\n", "free\n"]


def test_once_per_session_makes_once_and_a_failed_make_is_tried_again(root: Path) -> None:
    calls: list[str] = []

    def failing() -> str:
        calls.append("failing")
        raise RuntimeError("build failed")

    def make(tag: str) -> str:
        calls.append(tag)
        return tag

    with pytest.raises(RuntimeError, match="build failed"):
        once_per_session("image", failing)
    assert once_per_session("image", lambda: make("tag:1")) == "tag:1"
    assert once_per_session("image", lambda: make("tag:2")) == "tag:1"
    assert calls == ["failing", "tag:1"]


def test_outside_a_session_nothing_is_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with session_lock("build"):
        assert [once_per_session("image", lambda: "a"), once_per_session("image", lambda: "b")] == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
