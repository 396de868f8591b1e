"""Local executor: one ``llem-exp`` process per unit; isolation by process.

With warm start (the default) the unit's process is forked from a per-backend server
(``experiment.forkserver``) that this executor starts once per campaign run, and a tiny client
process stands in for it here: same output stream, same exit status, and killing the client kills
the unit. Otherwise each unit is a fresh interpreter. Either way children die with the host
(PR_SET_PDEATHSIG on Linux) and run in their own process group, so a timeout or a crash never
leaves a measuring process behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from loguru import logger

from llenergymeasure.dispatch.base import Executor, JobOutcome, UnitJob, Watchdog, pump, supervise
from llenergymeasure.dispatch.interpreters import python_for
from llenergymeasure.dispatch.processes import (
    COMMANDS,
    RUN_ENV,
    Commands,
    client_command,
    kill_group,
    run_of,
    serve_command,
    stop_group,
)
from llenergymeasure.errors import ExecutorError
from llenergymeasure.experiment import forkserver
from llenergymeasure.experiment.forkserver import SOCKET_DIR_PREFIX


def exp_command(job: UnitJob, config_path: str, out_dir: str) -> list[str]:
    """Arguments of ``llem-exp`` for ``job`` (shared by the local and docker executors)."""
    return [
        config_path,
        "--out",
        out_dir,
        "--cycle",
        str(job.cycle),
        "--config-hash",
        job.config_hash,
        "--stem",
        job.stem,
    ]


ENTRYPOINT = "llenergymeasure.experiment.entrypoint"
UNIT_ENV = "LLEM_UNIT"  # the unit a process belongs to (inherited by whatever it starts), for cleanup


class LocalExecutor(Executor):
    """Runs each unit as an ``llem-exp`` process on this machine, in its backend's interpreter."""

    name = "local"

    def __init__(self, python: str | None = None, poll_s: float = 0.2, commands: Commands = COMMANDS) -> None:
        self.python = python  # None: per backend, see dispatch.interpreters
        self.poll_s = poll_s
        self.commands = commands
        self._servers: dict[str, _Server] = {}  # by backend
        self._pythons: dict[str, str] = {}  # by backend, resolved on first use
        self._lock = threading.Lock()  # units on several GPU slots start from worker threads

    def python_for(self, backend: str) -> str:
        """The interpreter of ``backend``'s units and fork server, looked up once per campaign run."""
        if self.python is not None:
            return self.python
        with self._lock:
            if backend not in self._pythons:
                self._pythons[backend] = python_for(backend)
                logger.debug("backend {} runs in {}", backend, self._pythons[backend])
            return self._pythons[backend]

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Start the child, stream its output to the log, enforce the watchdog; its processes end with it."""
        args = exp_command(job, str(job.config_file), str(job.campaign_dir))
        python = self.python_for(job.backend)
        if job.warm:
            sock = self._server(job).sock
            argv = client_command(python, sock, args)
        else:
            argv = [python, "-m", ENTRYPOINT, *args]
        env = {**os.environ, **job.env, "PYTHONUNBUFFERED": "1", RUN_ENV: job.run_id, UNIT_ENV: job.key}
        try:
            proc = self.commands.start(argv, env, subprocess.PIPE)
        except OSError as exc:
            raise ExecutorError(f"cannot start llem-exp with {python}: {exc}") from exc
        try:
            on_started(f"pid:{proc.pid}@{socket.gethostname()}")  # a pid means nothing on another host
            out = proc.stdout
            assert out is not None
            dog = Watchdog(job.timeout_s, job.idle_timeout_s, time.monotonic())
            reader = pump(lambda: iter(out.readline, b""), job, dog)
            try:
                return supervise(job, dog, lambda: _ended(proc), lambda: stop_group(proc), proc_wait(proc), self.poll_s)
            finally:
                reader.join(timeout=5)
        finally:
            if proc.returncode is None:  # an exception on the way: never leave the unit running
                stop_group(proc)
            kill_unit_processes(job.run_id, job.key)

    def _server(self, job: UnitJob) -> _Server:
        """The running warm-start server of the job's backend, started on first use (or after it died).

        Slots share it: it never touches CUDA, and each unit's GPUs come with the unit's environment.
        """
        python = self.python_for(job.backend)
        with self._lock:
            return self._server_locked(job, python)

    def _server_locked(self, job: UnitJob, python: str) -> _Server:
        server = self._servers.get(job.backend)
        if server is None or server.proc.poll() is not None:
            if server is not None:
                logger.warning(
                    "warm-start server for {} exited ({}); starting another", job.backend, server.proc.returncode
                )
                server.stop()
            server = _Server.start(
                python,
                job.backend,
                job.campaign_dir / "logs" / f"forkserver-{job.backend}.log",
                job.run_id,
                self.commands,
            )
            self._servers[job.backend] = server
            server.wait_ready(job.timeout_s)
        return server

    def close(self) -> None:
        """Stop every warm-start server (their units have all ended by now)."""
        for server in self._servers.values():
            server.stop()
        self._servers.clear()

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str], run_id: str) -> list[str]:
        """Kill leftover ``llem-exp`` processes of this campaign named by recorded pids, unless run ``run_id``'s.

        A pid counts only if it is still an ``llem-exp`` (or warm-start client) of this campaign
        directory, so a reused pid is never hit, and never one whose ``LLEM_RUN_ID`` is the live run's.
        """
        removed = []
        for handle in handles:
            if not handle.startswith("pid:"):
                continue
            number, _, host = handle[4:].partition("@")  # older handles name no host
            if host and host != socket.gethostname():
                continue  # another host's process: its pid here is someone else's
            pid = int(number)
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            ours = ENTRYPOINT in argv or forkserver.MODULE in argv
            inside = str(campaign_dir).rstrip("/")
            if not (ours and any(a == inside or a.startswith(inside + "/") for a in argv)):
                continue  # a reused pid, or a unit of another campaign (`x_1` is not inside `x`)
            if run_of(pid) == run_id:
                continue
            if kill_group(pid):
                removed.append(handle)
        return removed


def _ended(proc: subprocess.Popen[bytes]) -> JobOutcome | None:
    """The unit's exit code once it exited, its group killed first (an unreaped leader keeps the group's id)."""
    if proc.returncode is None and os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        return None
    kill_group(proc.pid)
    return JobOutcome(exit_code=proc.wait())


def proc_wait(proc: subprocess.Popen[bytes]) -> Callable[[float], None]:
    """Wait up to a poll interval, returning early when ``proc`` exits (without reaping it)."""

    def wait(timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        step = 0.005
        while proc.returncode is None and time.monotonic() < deadline:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
            time.sleep(min(step, max(0.0, deadline - time.monotonic())))
            step = min(step * 2, 0.05)

    return wait


def kill_unit_processes(run_id: str, key: str) -> list[int]:
    """SIGKILL every process of this host that run ``run_id`` started for unit ``key``, in any group or session.

    What a unit starts (an engine server in its own session) inherits ``LLEM_RUN_ID`` and
    ``LLEM_UNIT`` from it; after the unit ends nothing of it may keep running.
    """
    if not run_id:
        return []
    want = {f"{RUN_ENV}={run_id}".encode(), f"{UNIT_ENV}={key}".encode()}
    killed = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = set(Path(entry.path, "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if want <= environ:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                pass
    if killed:
        logger.warning("unit {} left {} process(es) behind; killed", key, len(killed))
    return killed


class _Server:
    """A warm-start server process; its socket lives in a private temp dir (socket paths are short)."""

    def __init__(self, proc: subprocess.Popen[bytes], sock_dir: str, log_file: Path) -> None:
        self.proc = proc
        self.sock_dir = sock_dir
        self.log_file = log_file
        self.sock = os.path.join(sock_dir, "s")

    @classmethod
    def start(
        cls, python: str, backend: str, log_file: Path, run_id: str = "", commands: Commands = COMMANDS
    ) -> _Server:
        # A fresh name only: the server makes the folder once its signal handlers are in, so a server
        # stopped while the interpreter is still starting (the host killed early) leaves nothing behind.
        sock_dir = os.path.join(tempfile.gettempdir(), SOCKET_DIR_PREFIX + secrets.token_hex(6))
        try:
            with open(log_file, "ab") as log:
                # SIGTERM, not SIGKILL, when the host dies: the server kills its units and cleans up.
                proc = commands.start(
                    serve_command(python, os.path.join(sock_dir, "s"), backend),
                    {**os.environ, "PYTHONUNBUFFERED": "1", RUN_ENV: run_id},
                    log.fileno(),
                    parent_death=signal.SIGTERM,
                )
        except OSError as exc:
            shutil.rmtree(sock_dir, ignore_errors=True)
            raise ExecutorError(f"cannot start the warm-start server with {python}: {exc}") from exc
        logger.debug("warm-start server for {} started (pid {})", backend, proc.pid)
        return cls(proc, sock_dir, log_file)

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the socket is bound (imports done), or fail naming what the server said."""
        deadline = time.monotonic() + timeout_s
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (
                    self.log_file.read_text(errors="replace").strip().splitlines()[-1:]
                    if self.log_file.exists()
                    else []
                )
                raise ExecutorError(f"warm-start server did not come up: {tail[0] if tail else 'no output'}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the server kills its remaining children and exits
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.sock_dir, ignore_errors=True)
