"""What the workers of one test session share (pytest-xdist runs several): one folder, locks in it.

The controller (or a plain, single-process session) makes the folder in ``pytest_configure`` and
names it in ``LLEM_TEST_ROOT``; workers are started after that and inherit it. Locks are ``flock``s
on files there, so they hold across the workers' processes, and re-entrant within one process, so a
build helper may call another that takes the same lock.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

ROOT_ENV = "LLEM_TEST_ROOT"
_held: dict[str, tuple[IO[str], int]] = {}


def session_root() -> Path:
    """The folder every worker of this session shares (the system temp dir outside a session)."""
    return Path(os.environ.get(ROOT_ENV) or tempfile.gettempdir())


@contextmanager
def session_lock(name: str) -> Iterator[None]:
    """Exclusive across the session's workers while held; taking it again in the same process nests.

    Outside a test session (``python -m tests.dockerimage``) there is nobody to exclude: no lock file.
    """
    if not os.environ.get(ROOT_ENV):
        yield
        return
    if name in _held:
        fh, depth = _held[name]
        _held[name] = (fh, depth + 1)
        try:
            yield
        finally:
            _held[name] = (fh, _held[name][1] - 1)
        return
    fh = open(session_root() / f"{name}.lock", "w")  # noqa: SIM115 - held across the yield
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        _held[name] = (fh, 1)
        yield
    finally:
        _held.pop(name, None)
        fh.close()  # releases the flock


def once_per_session(name: str, make: Callable[[], str]) -> str:
    """``make()``'s answer, computed by the first worker that asks; the others wait for it and reuse it.

    A ``make`` that raises leaves nothing behind, so the next worker tries (and reports) it again.
    Outside a test session (no ``LLEM_TEST_ROOT``) nothing is remembered: ``make()`` runs.
    """
    if not os.environ.get(ROOT_ENV):
        return make()
    done = session_root() / f"{name}.done"
    with session_lock(name):
        if done.exists():
            return done.read_text()
        value = make()
        done.write_text(value)
        return value
