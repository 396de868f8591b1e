"""Atomic file writes: the only way this project replaces manifests, results and timeseries.

A crash at any instant leaves either the old file or the new one, never a torn mix, because the
bytes go to a temp file in the same directory (same filesystem) and are then renamed over the
target with ``os.replace``. How much survives a *power loss* depends on ``sync``:

- ``"full"`` (results, timeseries, error files, unit configs): the temp file is fsynced before the
  rename and the directory after it, so once the call returns the new file is on the disk.
- ``"data"``: the temp file is fsynced, the directory is not. A power loss may undo the rename
  (the previous version is back) but can never leave an empty or torn file under the name.
- ``"none"``: the page cache only. A killed process still loses nothing (the kernel holds the
  data); a power loss may lose recent versions and, on filesystems without ext4's replace-on-rename
  flush, leave an empty file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

FILE_MODE = 0o644
Sync = Literal["full", "data", "none"]
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if hasattr(os, "sysconf") else 16


def write_atomic(path: Path, data: bytes | Sequence[bytes] | Callable[[Path], None], sync: Sync = "full") -> None:
    """Replace ``path`` with ``data`` atomically.

    ``data`` is the bytes, a sequence of byte strings written back to back (so a large document
    need not be joined in memory first), or a writer called with the temp path (for libraries such
    as pyarrow that want to write a file themselves). ``sync`` says what must reach the disk
    before the call returns (see the module docstring).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; results are meant to be shared
        if callable(data):
            os.close(fd)
            fd = -1  # closed: an error from the writer must not be masked by closing it again
            data(tmp)
            fd = os.open(tmp, os.O_RDONLY)
        else:
            _write_all(fd, [data] if isinstance(data, bytes) else data)
        if sync != "none":
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    if sync == "full":
        _fsync_dir(path.parent)


def _write_all(fd: int, chunks: Sequence[bytes]) -> None:
    """Write ``chunks`` back to back with as few syscalls as the kernel allows.

    One ``writev`` per ``IOV_MAX`` chunks rather than one ``write`` per chunk: on ext4 each write
    call pays its own delayed-allocation bookkeeping, which made a 10k-unit manifest ~50% slower.
    """
    pending = [memoryview(c) for c in chunks if c]
    while pending:
        batch = pending[:_IOV_MAX]
        written = os.writev(fd, batch)
        done = 0
        while done < len(batch) and written >= len(batch[done]):
            written -= len(batch[done])
            done += 1
        if done < len(batch):
            batch[done] = batch[done][written:]  # a short write: resume mid-chunk
        pending = batch[done:] + pending[len(batch) :]


def write_json_atomic(path: Path, obj: Any) -> None:
    """Serialize ``obj`` as indented JSON and write it atomically."""
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; best effort, since some filesystems refuse directory fsync."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def fsync_path(path: Path) -> None:
    """Make an already written file, and its name in its directory, durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(Path(path).parent)
