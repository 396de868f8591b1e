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


# Issue 22, item 13: records left by a dead holder, node-local locks, --break-lock.

RECORD = {"pid": 999999999, "host": "node7", "started_at": "2026-11-30T01:02:03Z", "run_id": "deadbeef0001"}


def test_a_record_left_by_a_dead_holder_is_named_before_it_is_overwritten(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text(json.dumps(RECORD) + "\n")
    with CampaignLock.acquire(tmp_path, "r3", mounts="") as lock:
        assert lock.previous == "pid 999999999 on host node7 since 2026-11-30T01:02:03Z (run deadbeef0001)"
        assert json.loads((tmp_path / LOCK_NAME).read_text())["run_id"] == "r3"
    (tmp_path / LOCK_NAME).write_text("garbage")
    with CampaignLock.acquire(tmp_path, "r4", mounts="") as lock:
        assert lock.previous == "an unreadable record ('garbage')"
    with CampaignLock.acquire(tmp_path, "r5", mounts="") as lock:
        assert lock.previous is None  # released cleanly: the file was removed


MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export /shared nfs rw,vers=3,local_lock=flock,addr=10.0.0.1 0 0
server:/export4 /shared4 nfs4 rw,vers=4.2,local_lock=none 0 0
beegfs_nodev /beegfs beegfs rw,relatime,cfgFile=/etc/beegfs/beegfs-client.conf 0 0
10.0.0.2@tcp:/lfs /lustre lustre rw,localflock 0 0
10.0.0.2@tcp:/lfs2 /lustre2 lustre rw,flock 0 0
/dev/sdb1 /shared/local\\040disk ext4 rw 0 0
"""


@pytest.mark.parametrize(
    ("folder", "how"),
    [
        ("/shared/results/c1", "/shared (nfs mounted with local_lock=flock)"),
        ("/beegfs/c1", "/beegfs (beegfs)"),
        ("/lustre/x/c1", "/lustre (lustre mounted with localflock)"),
        ("/shared4/c1", None),
        ("/lustre2/c1", None),
        ("/home/u/c1", None),
        ("/shared/local disk/c1", None),  # a local disk mounted inside the NFS share: the deepest mount counts
        ("/sharedx/c1", None),  # a sibling whose name starts the same is not under /shared
    ],
)
def test_node_local_locks_are_told_from_the_mount_options(folder: str, how: str | None) -> None:
    from llenergymeasure.campaign.lock import node_local_lock

    expected = (
        f"{folder}: the campaign lock is on {how}, whose locks other nodes may not see; "
        "run `up`/`resume` of this campaign from one node only"
        if how
        else None
    )
    assert node_local_lock(Path(folder), MOUNTS) == expected


def test_acquire_carries_the_node_local_warning(tmp_path: Path) -> None:
    mounts = f"server:/x {tmp_path} nfs4 rw,local_lock=all 0 0\n"
    with CampaignLock.acquire(tmp_path, mounts=mounts) as lock:
        assert lock.warning == (
            f"{tmp_path}: the campaign lock is on {tmp_path} (nfs4 mounted with local_lock=all), whose locks "
            "other nodes may not see; run `up`/`resume` of this campaign from one node only"
        )


def test_break_lock_names_a_dead_remote_holder_then_moves_its_file_aside(tmp_path: Path) -> None:
    from llenergymeasure.campaign.lock import break_lock

    # Stands in for NFSv3's lockd keeping a dead host's lock: this process holds the flock on the file.
    (tmp_path / LOCK_NAME).write_text(json.dumps(RECORD) + "\n")
    stale = os.open(tmp_path / LOCK_NAME, os.O_RDWR)
    fcntl.flock(stale, fcntl.LOCK_EX)
    try:
        with pytest.raises(CampaignBusyError) as err:
            CampaignLock.acquire(tmp_path, mounts="")
        assert str(err.value).endswith(
            "; wait for it to finish or stop it; if that host died, "
            f"`llem campaign resume {tmp_path} --break-lock` breaks it"
        )
        said: list[str] = []
        assert break_lock(tmp_path, said.append, now="2026-11-30T05:06:07Z")
        assert said == [
            f"{tmp_path / LOCK_NAME}: breaking the lock held by pid 999999999 on host node7 since "
            "2026-11-30T01:02:03Z (run deadbeef0001); the old file becomes campaign.lock.broken-2026-11-30T050607Z"
        ]
        assert json.loads((tmp_path / "campaign.lock.broken-2026-11-30T050607Z").read_text()) == RECORD
        with CampaignLock.acquire(tmp_path, "after", mounts="") as lock:
            assert lock.previous is None  # a new file
    finally:
        os.close(stale)


def test_break_lock_refuses_a_holder_alive_on_this_host(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    from llenergymeasure.campaign.lock import break_lock

    said: list[str] = []
    with pytest.raises(CampaignBusyError) as err:
        break_lock(tmp_path, said.append)
    recorded = json.loads((tmp_path / LOCK_NAME).read_text())
    assert str(err.value) == (
        f"{tmp_path / LOCK_NAME}: not broken: it is held by pid {holder.pid} on host {socket.gethostname()} since "
        f"{recorded['started_at']} (run run-of-holder), alive on this host; stop that process instead"
    )
    assert said == []


def test_break_lock_leaves_a_lock_nobody_holds(tmp_path: Path) -> None:
    from llenergymeasure.campaign.lock import break_lock

    said: list[str] = []
    assert not break_lock(tmp_path, said.append)
    (tmp_path / LOCK_NAME).write_text(json.dumps(RECORD))
    assert not break_lock(tmp_path, said.append)
    assert said == [
        f"{tmp_path / LOCK_NAME}: no lock to break",
        f"{tmp_path / LOCK_NAME}: not held by anyone; nothing to break",
    ]
    assert (tmp_path / LOCK_NAME).exists()
