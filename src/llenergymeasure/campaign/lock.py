"""One writer per campaign: ``up`` and ``resume`` hold a kernel lock on the campaign directory.

The lock is ``flock(LOCK_EX)`` on ``campaign.lock`` inside the directory. The kernel drops it when
the holder exits however it exits (SIGKILL included), so there is no stale-lock logic. While held,
the file names its holder (pid, host, start time, run id) as one JSON line, so a refused process
can say who has it; the holder removes the file when it lets go. Readers (status, results,
report) never take it. A filesystem that refuses locks (NFS without lockd: "No locks available")
is one error naming the lock file, never a run without the lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from llenergymeasure.clock import utcnow
from llenergymeasure.errors import CampaignBusyError, CampaignError

LOCK_NAME = "campaign.lock"


def new_run_id() -> str:
    """A fresh id for one ``up`` or ``resume`` invocation; labels what that run starts."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Holder:
    """Who holds a campaign's lock."""

    pid: int
    host: str
    started_at: str
    run_id: str

    def describe(self) -> str:
        """``pid 1234 on host h since 2026-...Z (run 3f2a...)``."""
        return f"pid {self.pid} on host {self.host} since {self.started_at} (run {self.run_id})"


class CampaignLock:
    """An exclusive hold on one campaign directory; release it, or let the process end."""

    def __init__(self, root: Path, fd: int, holder: Holder) -> None:
        self.root = root
        self.path = root / LOCK_NAME
        self.holder = holder
        self._fd = fd

    @property
    def run_id(self) -> str:
        """The id of the run holding the lock."""
        return self.holder.run_id

    @classmethod
    def acquire(cls, root: Path, run_id: str | None = None) -> CampaignLock:
        """Take the lock at once or raise ``CampaignBusyError`` naming the holder; never waits."""
        root = Path(root)
        path = root / LOCK_NAME
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise CampaignError(f"{path}: cannot open the campaign lock ({exc.strerror or exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise CampaignBusyError(
                    f"{root}: campaign is being run by {_describe_holder(path)}; wait for it to finish or stop it"
                ) from None
            except OSError as exc:  # ENOLCK, EOPNOTSUPP: a filesystem without locks (NFS without lockd)
                os.close(fd)
                raise CampaignError(_lock_failure(path, exc)) from None
            # The previous holder may have removed the file between our open and our flock: then we
            # locked an orphaned inode that a third process cannot see. Retry on the live file.
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        holder = Holder(os.getpid(), socket.gethostname(), utcnow(), run_id or new_run_id())
        _write_holder(fd, holder)
        return cls(root, fd, holder)

    def release(self) -> None:
        """Remove the lock file and let go; a no-op the second time."""
        if self._fd < 0:
            return
        self.path.unlink(missing_ok=True)  # while still held, so no one locks a file about to vanish
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> CampaignLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


def _lock_failure(path: Path, exc: OSError) -> str:
    """The one line for a lock the kernel refused outright, naming the file and the way out.

    Without the lock two hosts could run the same campaign at once, so llem refuses rather than
    carrying on unlocked.
    """
    reason = exc.strerror or str(exc)
    if exc.errno in _NO_LOCKS:
        return (
            f"{path}: cannot lock the campaign: this filesystem does not support file locks ({reason}); "
            "keep campaigns on one that does (a local disk, or NFS with locking; see --results-dir); "
            "nothing was started"
        )
    return f"{path}: cannot lock the campaign ({reason}); nothing was started"


def _write_holder(fd: int, holder: Holder) -> None:
    """Record the holder in the lock file; best effort, since a full disk must not stop a resume."""
    data = (json.dumps(asdict(holder)) + "\n").encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError:
        pass


def _describe_holder(path: Path, wait_s: float = 1.0) -> str:
    """The holder as named in the lock file; it is written just after locking, so wait briefly for it."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return Holder(int(raw["pid"]), str(raw["host"]), str(raw["started_at"]), str(raw["run_id"])).describe()
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() > deadline:
                return "another process (it did not record itself in campaign.lock)"
            time.sleep(0.02)
