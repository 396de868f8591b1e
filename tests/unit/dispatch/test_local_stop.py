"""The local executor stops a unit that runs too long or goes quiet, and leaves none of its processes.

The unit is a real process (``tests/fakes/unit_process.py``) that starts a grandchild in its own
process group and then hangs, chatty or silent; an interpreter stand-in puts it where the executor
would start ``llem-exp``, cold (a fresh interpreter) or warm (forked by a real fork server).
Timeouts are one second against units that would otherwise run for ten minutes, so which limit
fired does not depend on the machine's speed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from llenergymeasure.dispatch.base import JobOutcome, UnitJob, describe_stop
from llenergymeasure.dispatch.local import ENTRYPOINT, LocalExecutor
from llenergymeasure.dispatch.processes import stop_group
from llenergymeasure.experiment.forkserver import MODULE as FORKSERVER

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def fake_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An "interpreter" that runs the stand-in unit where ``llem-exp`` would run, cold or warm."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    script = tmp_path / "python"
    script.write_text(
        "#!/bin/sh\n"
        'case "$2 $3" in\n'
        f'  "{ENTRYPOINT} "*) exec {sys.executable} -m tests.fakes.unit_process ;;\n'
        f'  "{FORKSERVER} serve") exec {sys.executable} "$@" --preload json'
        " --target tests.fakes.unit_process:from_env ;;\n"
        f'  *) exec {sys.executable} "$@" ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return str(script)


def job(tmp_path: Path, unit: str, timeout_s: float, idle_timeout_s: float, warm: bool) -> UnitJob:
    (tmp_path / "logs").mkdir(exist_ok=True)
    return UnitJob(
        key="exp001_c1",
        backend="pytorch",
        service="pytorch",
        campaign_dir=tmp_path,
        config_file=tmp_path / "configs" / "exp001.yaml",
        stem="s",
        config_hash="0" * 16,
        cycle=1,
        timeout_s=timeout_s,
        idle_timeout_s=idle_timeout_s,
        log_file=tmp_path / "logs" / "exp001_c1.log",
        # A run id of this test's own: after a unit ends the executor SIGKILLs every process of this host
        # with its run id and unit key (kill_unit_processes), and the other xdist worker may be running
        # another case of this test, with the same key, at that moment.
        run_id=f"run-{uuid.uuid4().hex[:12]}",
        env={"LLEM_TEST_UNIT": unit},
        warm=warm,
    )


def live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (a zombie has ended; only its exit status is left)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def group_ends(pgid: int, timeout_s: float = 10.0) -> list[int]:
    """Wait until group ``pgid`` has no live process; returns the ones still alive at the deadline."""
    deadline = time.monotonic() + timeout_s
    while (alive := live_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize(
    ("mode", "timeout_s", "idle_timeout_s", "stopped", "text"),
    [
        ("chatty", 1.0, 600.0, "timeout", "stopped after the unit timeout of 1 s"),
        ("quiet", 600.0, 1.0, "idle", "stopped: no output for 1 s (hung?)"),
    ],
)
def test_a_hanging_unit_is_stopped_with_its_reason_and_its_whole_group(
    tmp_path: Path,
    fake_python: str,
    warm: bool,
    mode: str,
    timeout_s: float,
    idle_timeout_s: float,
    stopped: str,
    text: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This test's own temporary folder, for this process and the units it starts: another xdist
    # worker's fork servers come and go in the shared one while this test runs.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    pids = tmp_path / "pids"
    fork_dirs_before = set(Path(tempfile.gettempdir()).glob("llem-fork-*"))
    unit = job(tmp_path, f"{mode} {pids}", timeout_s, idle_timeout_s, warm)
    executor = LocalExecutor(python=fake_python, poll_s=0.05)
    handles: list[str] = []
    try:
        outcome = executor.run(unit, handles.append)
    finally:
        executor.close()
    assert outcome == JobOutcome(exit_code=-signal.SIGTERM, stopped=stopped)  # type: ignore[arg-type]
    assert describe_stop(outcome, unit) == text
    pid, pgid, grandchild = (int(x) for x in pids.read_text().split())
    assert pgid == pid  # the unit leads its own group, so one signal reaches all of it
    if not warm:
        assert handles == [f"pid:{pid}@{socket.gethostname()}"]  # a pid names a process on one host
    else:
        (handle,) = handles
        assert handle != f"pid:{pid}@{socket.gethostname()}"  # the warm client stands in for the forked unit
    assert group_ends(pgid) == []
    assert grandchild not in live_members(pgid)
    lines = unit.log_file.read_text().splitlines()
    assert lines[0] == "working"
    assert set(lines[1:]) == ({"still working"} if mode == "chatty" else set())
    assert set(Path(tempfile.gettempdir()).glob("llem-fork-*")) == fork_dirs_before  # the warm server cleaned up


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_unit_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.unit_process"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "LLEM_TEST_UNIT": f"stubborn {pids}"},
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not pids.exists():
            assert time.monotonic() < deadline, "the unit never started"
            time.sleep(0.02)
        pid, pgid, _ = (int(x) for x in pids.read_text().split())
        assert pid == pgid == proc.pid
        assert stop_group(proc, grace_s=0.3) == -signal.SIGKILL
        assert group_ends(pgid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its grandchild too, should the test fail
        proc.wait()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has ended: only its exit status is left)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def still_alive(pids: list[int], timeout_s: float = 5.0) -> list[int]:
    """Wait until none of ``pids`` runs; returns the ones still running at the deadline (SIGKILL lands async)."""
    deadline = time.monotonic() + timeout_s
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_a_unit_that_exits_leaves_no_process_behind_in_its_group_its_own_session_or_forked(
    tmp_path: Path, fake_python: str, warm: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    pids_file = tmp_path / "pids"
    unit = job(tmp_path, f"leave {pids_file}", 600.0, 600.0, warm)
    executor = LocalExecutor(python=fake_python, poll_s=0.05)
    try:
        outcome = executor.run(unit, lambda _: None)
        pid, pgid, in_group, own_session, forked = (int(x) for x in pids_file.read_text().split())
        left = still_alive([in_group, own_session, forked])
    finally:
        executor.close()
        for stray in [int(x) for x in pids_file.read_text().split()[2:]] if pids_file.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stray, signal.SIGKILL)  # should the test fail: only what this test started
    assert outcome == JobOutcome(exit_code=0)
    assert pgid == pid  # the forked copy and the in-group program share it; the setsid one does not
    assert left == []
    assert unit.log_file.read_text().splitlines() == ["left three processes"]
