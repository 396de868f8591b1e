"""One writer per campaign: ``up`` and ``resume`` hold a kernel lock on the campaign directory.

The lock is ``flock(LOCK_EX)`` on ``campaign.lock`` inside the directory. The kernel drops it when
the holder exits however it exits (SIGKILL included), so there is no stale-lock logic. While held,
the file names its holder (pid, host, start time, run id) as one JSON line, so a refused process
can say who has it; the holder removes the file when it lets go. Readers (status, results,
report) never take it. A filesystem that refuses locks (NFS without lockd: "No locks available")
is one error naming the lock file, never a run without the lock.

A record found when the lock is taken belonged to a holder that died without letting go; it is
named (``CampaignLock.previous``) before it is overwritten. Where ``flock`` may be local to one
node (NFS mounted with ``local_lock=flock|all``, BeeGFS, Lustre with ``localflock``), a process on
another node would not see the lock: ``node_local_lock`` reads ``/proc/mounts`` for the campaign
folder's mount and the lock carries that warning (``CampaignLock.warning``). A lock a dead host
still holds (NFSv3 after a host death) is broken with ``break_lock``: the holder is named first,
a holder alive on this host is never broken, and the old file is moved aside, so the new lock is
on a new file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from loguru import logger

from llenergymeasure.clock import utcnow
from llenergymeasure.dispatch.mounts import mount_of, proc_mounts
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

    def __init__(
        self, root: Path, fd: int, holder: Holder, previous: str | None = None, warning: str | None = None
    ) -> None:
        self.root = root
        self.path = root / LOCK_NAME
        self.holder = holder
        self.previous = previous  # the record a dead holder left in the file, named before it was overwritten
        self.warning = warning  # why this lock may not be seen from other nodes; None where it is
        self._fd = fd

    @property
    def run_id(self) -> str:
        """The id of the run holding the lock."""
        return self.holder.run_id

    @classmethod
    def acquire(cls, root: Path, run_id: str | None = None, mounts: str | None = None) -> CampaignLock:
        """Take the lock at once or raise ``CampaignBusyError`` naming the holder; never waits.

        ``mounts``: the text of ``/proc/mounts`` (read when None) to tell node-local locks.
        """
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
                who = _describe_holder(path)
                remote = holder_record(root)
                way_out = (
                    f"; if that host died, `llem campaign resume {root} --break-lock` breaks it"
                    if remote is not None and remote.host != socket.gethostname()
                    else ""
                )
                raise CampaignBusyError(
                    f"{root}: campaign is being run by {who}; wait for it to finish or stop it{way_out}"
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
        previous = _read_record(fd)
        holder = Holder(os.getpid(), socket.gethostname(), utcnow(), run_id or new_run_id())
        _write_holder(fd, holder)
        lock = cls(root, fd, holder, previous, node_local_lock(root, proc_mounts() if mounts is None else mounts))
        if lock.warning:
            logger.warning(lock.warning)
        if previous:
            logger.warning("{} named {}, which ended without releasing it; taking it over", path, previous)
        return lock

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


def _read_record(fd: int) -> str | None:
    """The holder a file we just locked still names (its holder died without release), described; None if empty."""
    try:
        data = os.pread(fd, 4096, 0)
    except OSError:
        return None
    if not data.strip():
        return None
    return _describe_record(data.decode(errors="replace"))


def _describe_record(text: str) -> str:
    try:
        raw = json.loads(text)
        return Holder(int(raw["pid"]), str(raw["host"]), str(raw["started_at"]), str(raw["run_id"])).describe()
    except (ValueError, KeyError, TypeError):
        return f"an unreadable record ({text.strip()[:80]!r})"


def holder_record(root: Path) -> Holder | None:
    """The holder ``campaign.lock`` in ``root`` names, without taking the lock; None when there is none."""
    try:
        raw = json.loads((Path(root) / LOCK_NAME).read_text(encoding="utf-8"))
        return Holder(int(raw["pid"]), str(raw["host"]), str(raw["started_at"]), str(raw["run_id"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def break_lock(root: Path, announce: Callable[[str], None], now: str | None = None) -> bool:
    """Move a lock a dead holder still holds out of the way, naming the holder (``announce``) first.

    For a lock no process on this machine can release: a host that died holding it on NFSv3 (its
    lock lives on in the server's lockd). A lock nobody holds is left alone (False). A holder
    recorded as alive on this host is refused: stop it instead. A holder on another host cannot be
    checked from here: ``--break-lock`` is the user's word that it is dead. The old file is renamed
    to ``campaign.lock.broken-TIME``, so the lock taken next is on a new file (True).
    """
    root = Path(root)
    path = root / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        announce(f"{path}: no lock to break")
        return False
    except OSError as exc:
        raise CampaignError(f"{path}: cannot open the campaign lock ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        announce(f"{path}: not held by anyone; nothing to break")
        return False
    except OSError:
        pass  # held (or a filesystem without locks): break it
    finally:
        os.close(fd)
    holder = holder_record(root)
    who = holder.describe() if holder is not None else "a holder that recorded nothing"
    if holder is not None and holder.host == socket.gethostname() and _alive(holder.pid):
        raise CampaignBusyError(
            f"{path}: not broken: it is held by {who}, alive on this host; stop that process instead"
        )
    aside = root / f"{LOCK_NAME}.broken-{(now or utcnow()).replace(':', '')}"
    announce(f"{path}: breaking the lock held by {who}; the old file becomes {aside.name}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise CampaignError(f"{path}: cannot break the lock ({exc.strerror or exc})") from None
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# flock is local to one node on these mounts: (filesystem type, the option that makes it so; "" always).
NODE_LOCAL_LOCKS = (
    ("nfs", "local_lock=flock"),
    ("nfs", "local_lock=all"),
    ("nfs4", "local_lock=flock"),
    ("nfs4", "local_lock=all"),
    ("beegfs", ""),
    ("lustre", "localflock"),
)


def node_local_lock(root: Path, mounts: str) -> str | None:
    """Why ``flock`` in ``root`` may be invisible to other nodes, from ``/proc/mounts`` text; None if not known."""
    found = mount_of(root, mounts)
    if found is None:
        return None
    point, fstype, opts = found
    for kind, option in NODE_LOCAL_LOCKS:
        if fstype == kind and (not option or option in opts):
            how = f"{fstype} mounted with {option}" if option else fstype
            return (
                f"{root}: the campaign lock is on {point} ({how}), whose locks other nodes may not see; "
                "run `up`/`resume` of this campaign from one node only"
            )
    return None
