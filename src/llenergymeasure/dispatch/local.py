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
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from loguru import logger

from llenergymeasure.dispatch.base import JobOutcome, UnitJob, UnitLog, Watchdog
from llenergymeasure.dispatch.interpreters import python_for
from llenergymeasure.errors import ExecutorError
from llenergymeasure.experiment import forkserver
from llenergymeasure.experiment.forkserver import (
    SOCKET_DIR_PREFIX,
    client_command,
    die_with_parent,
    serve_command,
    stop_with_parent,
)
from llenergymeasure.logs import echo_unit_output


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
RUN_ENV = "LLEM_RUN_ID"  # in the environment of every process a run starts, for orphan cleanup


class LocalExecutor:
    """Runs each unit as an ``llem-exp`` process on this machine, in its backend's interpreter."""

    name = "local"

    def __init__(self, python: str | None = None, poll_s: float = 0.2) -> None:
        self.python = python  # None: per backend, see dispatch.interpreters
        self.poll_s = poll_s
        self._servers: dict[str, _Server] = {}  # by backend
        self._pythons: dict[str, str] = {}  # by backend, resolved on first use

    def python_for(self, backend: str) -> str:
        """The interpreter of ``backend``'s units and fork server, looked up once per campaign run."""
        if self.python is not None:
            return self.python
        if backend not in self._pythons:
            self._pythons[backend] = python_for(backend)
            logger.debug("backend {} runs in {}", backend, self._pythons[backend])
        return self._pythons[backend]

    def run(self, job: UnitJob, on_started: Callable[[str], None]) -> JobOutcome:
        """Start the child, stream its output to the log, enforce the watchdog."""
        args = exp_command(job, str(job.config_file), str(job.campaign_dir))
        python = self.python_for(job.backend)
        if job.warm:
            sock = self._server(job).sock
            argv = client_command(python, sock, args)
        else:
            argv = [python, "-m", ENTRYPOINT, *args]
        env = {**os.environ, **job.env, "PYTHONUNBUFFERED": "1", RUN_ENV: job.run_id}
        try:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise ExecutorError(f"cannot start llem-exp with {python}: {exc}") from exc
        on_started(f"pid:{proc.pid}")
        dog = Watchdog(job.timeout_s, job.idle_timeout_s, time.monotonic())
        reader = threading.Thread(target=_pump, args=(proc, job, dog), daemon=True)
        reader.start()
        stopped = None
        try:
            while True:
                try:
                    code = proc.wait(timeout=self.poll_s)
                    break
                except subprocess.TimeoutExpired:
                    stopped = dog.expired(time.monotonic())
                    if stopped:
                        logger.warning("unit {} {}; stopping it", job.key, stopped)
                        code = _stop(proc)
                        break
        except BaseException:
            _stop(proc)
            raise
        finally:
            reader.join(timeout=5)
        return JobOutcome(exit_code=code, stopped=stopped)

    def _server(self, job: UnitJob) -> _Server:
        """The running warm-start server of the job's backend, started on first use (or after it died)."""
        server = self._servers.get(job.backend)
        if server is None or server.proc.poll() is not None:
            if server is not None:
                logger.warning(
                    "warm-start server for {} exited ({}); starting another", job.backend, server.proc.returncode
                )
                server.stop()
            server = _Server.start(
                self.python_for(job.backend),
                job.backend,
                job.campaign_dir / "logs" / f"forkserver-{job.backend}.log",
                job.run_id,
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
            pid = int(handle[4:])
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            ours = ENTRYPOINT in argv or forkserver.MODULE in argv
            inside = str(campaign_dir).rstrip("/")
            if not (ours and any(a == inside or a.startswith(inside + "/") for a in argv)):
                continue  # a reused pid, or a unit of another campaign (`x_1` is not inside `x`)
            if _run_of(pid) == run_id:
                continue
            try:
                os.killpg(pid, signal.SIGKILL)
                removed.append(handle)
            except ProcessLookupError:
                pass
        return removed


def _run_of(pid: int) -> str | None:
    """The ``LLEM_RUN_ID`` a process was started with, if it can be read."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{RUN_ENV}=".encode()
    found = [v[len(prefix) :].decode(errors="replace") for v in environ if v.startswith(prefix)]
    return found[0] if found else None


def _pump(proc: subprocess.Popen[bytes], job: UnitJob, dog: Watchdog) -> None:
    """Copy the child's output into the unit log file and the host log, poking the watchdog."""
    assert proc.stdout is not None
    with UnitLog(job.log_file, job.key) as log:
        for line in iter(proc.stdout.readline, b""):
            dog.poke(time.monotonic())
            log.write(line)
            echo_unit_output(line)


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> int:
    """SIGTERM the child's group, then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


class _Server:
    """A warm-start server process; its socket lives in a private temp dir (socket paths are short)."""

    def __init__(self, proc: subprocess.Popen[bytes], sock_dir: str, log_file: Path) -> None:
        self.proc = proc
        self.sock_dir = sock_dir
        self.log_file = log_file
        self.sock = os.path.join(sock_dir, "s")

    @classmethod
    def start(cls, python: str, backend: str, log_file: Path, run_id: str = "") -> _Server:
        sock_dir = tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX)
        try:
            with open(log_file, "ab") as log:
                proc = subprocess.Popen(
                    serve_command(python, os.path.join(sock_dir, "s"), backend),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONUNBUFFERED": "1", RUN_ENV: run_id},
                    start_new_session=True,
                    preexec_fn=stop_with_parent if sys.platform == "linux" else None,
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
