"""The campaign lock against a real second process: refusal naming the holder, no stale lock after SIGKILL."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llenergymeasure.campaign.lock import LOCK_NAME, CampaignLock
from llenergymeasure.errors import CampaignBusyError, CampaignError

HOLD = """
import sys, time
from pathlib import Path
from llenergymeasure.campaign.lock import CampaignLock
lock = CampaignLock.acquire(Path(sys.argv[1]), "run-of-holder")
print("locked", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_the_holder_is_recorded_while_held_and_the_file_removed_on_release(tmp_path: Path) -> None:
    lock = CampaignLock.acquire(tmp_path, "r1")
    recorded = json.loads((tmp_path / LOCK_NAME).read_text())
    assert recorded == {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": lock.holder.started_at,
        "run_id": "r1",
    }
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
    lock.release()  # twice is harmless
    CampaignLock.acquire(tmp_path).release()  # and it can be taken again


def test_a_second_process_is_refused_at_once_naming_the_holder(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    recorded = json.loads((tmp_path / LOCK_NAME).read_text())
    start = time.monotonic()
    with pytest.raises(CampaignBusyError) as err:
        CampaignLock.acquire(tmp_path)
    # Never waits for the holder, which sleeps 600 s: a generous bound, so a loaded machine cannot fail it.
    assert time.monotonic() - start < 10
    assert str(err.value) == (
        f"{tmp_path}: campaign is being run by pid {holder.pid} on host {socket.gethostname()} "
        f"since {recorded['started_at']} (run run-of-holder); wait for it to finish or stop it"
    )
    assert err.value.exit_code == 3


def test_a_sigkilled_holder_leaves_no_stale_lock(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the file stays, the kernel lock does not
    with CampaignLock.acquire(tmp_path, "r2") as lock:
        assert json.loads((tmp_path / LOCK_NAME).read_text())["run_id"] == "r2"
        assert lock.run_id == "r2"
    assert not (tmp_path / LOCK_NAME).exists()


def test_run_ids_are_fresh_per_acquisition(tmp_path: Path) -> None:
    ids = set()
    for _ in range(3):
        with CampaignLock.acquire(tmp_path) as lock:
            ids.add(lock.run_id)
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            errno.ENOLCK,
            "cannot lock the campaign: this filesystem does not support file locks (No locks available); keep "
            "campaigns on one that does (a local disk, or NFS with locking; see --results-dir); nothing was started",
        ),
        (errno.EIO, "cannot lock the campaign (Input/output error); nothing was started"),
    ],
)
def test_a_filesystem_without_locks_is_one_line_naming_the_lock_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, expected: str
) -> None:
    def refuse(fd: int, operation: int) -> None:  # what flock(2) answers on NFS without lockd
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", refuse)
    with pytest.raises(CampaignError) as err:
        CampaignLock.acquire(tmp_path)
    assert str(err.value) == f"{tmp_path / LOCK_NAME}: {expected}"
