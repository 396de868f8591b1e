"""Warm start: a per-backend server that imports the engine once and forks one process per unit.

A fresh interpreter pays seconds importing torch and transformers before an experiment starts;
on a small machine that dwarfs everything else the host does per unit. The server imports them
once (never touching CUDA, so every child still creates its own CUDA context) and forks a child
for each request. The child is a new process in its own session: it runs ``llem-exp`` exactly as
a fresh one would, its output goes straight to the requesting client's stdout and stderr (passed
over the socket), and its exit status goes back to the client, which exits with it, once whatever
the child left in its process group is killed. If the client goes away, the child is killed; if the
server dies, its children die with it.

``python -m llenergymeasure.experiment.forkserver serve SOCKET --backend pytorch`` runs the server;
``python -m llenergymeasure.experiment.forkserver run SOCKET -- ARGS...`` is the client, which
imports only the standard library so that it starts in milliseconds. The host builds both command
lines and starts them (``dispatch.processes``); this module is the side that runs them.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

MODULE = "llenergymeasure.experiment.forkserver"  # run with ``python -m``
READY = "llem-forkserver ready"
# The host makes a private temp dir with this prefix for the socket (socket paths are short); the
# server removes it on a clean exit, so no /tmp/llem-fork-* outlives its campaign run.
SOCKET_DIR_PREFIX = "llem-fork-"
TARGET = "llenergymeasure.experiment.entrypoint:run_argv"
_MAX_MESSAGE = 1 << 20
_PR_SET_PDEATHSIG = 1


# ---------------------------------------------------------------------------------------------
# client


def run_client(sock_path: str, argv: Sequence[str], connect_timeout_s: float = 600.0) -> int:
    """Ask the server to run ``argv`` with this process's stdio, env and cwd; return its exit status.

    A negative status is the signal that ended the child. SIGTERM and SIGINT received here are
    passed on to the child's process group, so a graceful stop reaches the experiment.
    """
    conn = _connect(sock_path, connect_timeout_s)
    request = {"argv": list(argv), "env": dict(os.environ), "cwd": os.getcwd()}
    socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(OSError):
            conn.send(json.dumps({"signal": signum}).encode())

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            reply = conn.recv(_MAX_MESSAGE)
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            continue
        if not reply:
            sys.stderr.write("llem-forkserver: server went away while the unit ran\n")
            return 70
        answer = json.loads(reply)
        if "error" in answer:
            sys.stderr.write(f"llem-forkserver: {answer['error']}\n")
            return 70
        return int(answer["exit"])


def _connect(sock_path: str, timeout_s: float) -> socket.socket:
    """Connect, waiting while the server is still importing (its socket appears when it is ready)."""
    deadline = time.monotonic() + timeout_s
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.connect(sock_path)
            return conn
        except (FileNotFoundError, ConnectionRefusedError):
            conn.close()
            if time.monotonic() > deadline:
                raise SystemExit(f"llem-forkserver: no server on {sock_path} after {timeout_s:.0f} s") from None
            time.sleep(0.05)


def exit_like(status: int) -> None:
    """Exit with ``status``; a negative one is re-raised as that signal, so callers see -N as for any child."""
    sys.stdout.flush()
    sys.stderr.flush()
    if status < 0:
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP have no handler to reset
            signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        time.sleep(1)  # pragma: no cover - the signal ends us
    sys.exit(status)


# ---------------------------------------------------------------------------------------------
# server


def preload(modules: Sequence[str]) -> float:
    """Import ``modules`` and refuse to serve if that initialised CUDA (a forked child could not use it)."""
    start = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    check_fork_safe(sys.modules.get("torch"))
    # The imports' objects leave the collector's view for good: a forked unit inherits them frozen,
    # so the full collection before its measured window scans only what the unit itself made
    # (0.14-0.27 s per unit otherwise, walking the ~380k objects torch and transformers create).
    gc.collect()
    gc.freeze()
    return time.perf_counter() - start


def check_fork_safe(torch: ModuleType | None) -> None:
    """A process that has created a CUDA context cannot fork usable children; stop before that happens."""
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("CUDA was initialised while preloading; a forked unit could not use the GPU")


@dataclass
class _Unit:
    conn: socket.socket
    pid: int = 0
    pidfd: int = -1


class ForkServer:
    """Accepts requests on a Unix socket and runs each in a forked child; single-threaded, so forking is safe."""

    def __init__(self, sock_path: str, target: str = TARGET) -> None:
        self.sock_path = sock_path
        self.target = target
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.units: dict[int, _Unit] = {}  # by pid
        self.stopping = False

    def serve_forever(self) -> None:
        """Bind (only now, so a client's connect means ready), then dispatch events until SIGTERM."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock_path)
        self.listener.bind(self.sock_path)
        os.chmod(self.sock_path, 0o600)
        self.listener.listen(16)
        self.selector.register(self.listener, selectors.EVENT_READ, ("accept", None))
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        print(f"{READY} on {self.sock_path} (pid {os.getpid()})", flush=True)
        try:
            while not self.stopping:
                for key, _ in self.selector.select(timeout=1.0):
                    kind, unit = key.data
                    if kind == "accept":
                        self._accept()
                    elif kind == "request":
                        self._on_request(unit)
                    elif kind == "control":
                        self._on_control(unit)
                    else:
                        self._on_exit(unit)
        finally:
            for unit in list(self.units.values()):
                _killpg(unit.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.unlink(self.sock_path)
            remove_socket_dir(self.sock_path)

    def _stop(self, _signum: int, _frame: Any) -> None:
        self.stopping = True

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        self.selector.register(conn, selectors.EVENT_READ, ("request", _Unit(conn)))

    def _on_request(self, unit: _Unit) -> None:
        self.selector.unregister(unit.conn)
        try:
            raw, fds, _, _ = socket.recv_fds(unit.conn, _MAX_MESSAGE, 3)
            request = json.loads(raw) if raw else None
        except (OSError, ValueError):
            request, fds = None, []
        if not isinstance(request, dict) or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            _reply(unit.conn, {"error": "malformed request"})
            unit.conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, checked through its effects
            self._child(request, fds)
        for fd in fds:
            os.close(fd)
        unit.pid = pid
        unit.pidfd = os.pidfd_open(pid)
        self.units[pid] = unit
        self.selector.register(unit.conn, selectors.EVENT_READ, ("control", unit))
        self.selector.register(unit.pidfd, selectors.EVENT_READ, ("exit", unit))

    def _on_control(self, unit: _Unit) -> None:
        """The client forwards a signal, or has gone away: then the unit must not outlive it."""
        try:
            msg = unit.conn.recv(_MAX_MESSAGE)
        except OSError:
            msg = b""
        if not msg:
            self.selector.unregister(unit.conn)
            _killpg(unit.pid, signal.SIGKILL)
            return
        with contextlib.suppress(ValueError, KeyError, TypeError):
            _killpg(unit.pid, int(json.loads(msg)["signal"]))

    def _on_exit(self, unit: _Unit) -> None:
        """Kill what is left of the unit's group, then reap the unit and send the client its status.

        A unit's workers started by fork without exec carry the server's command line and
        environment block, so only the group finds them; the unit stays unreaped (``WNOWAIT``)
        until its group is killed, so the group id cannot be reused by then.
        """
        os.waitid(os.P_PID, unit.pid, os.WEXITED | os.WNOWAIT)
        _killpg(unit.pid, signal.SIGKILL)
        _, status = os.waitpid(unit.pid, 0)
        self.selector.unregister(unit.pidfd)
        os.close(unit.pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(unit.conn)
        _reply(unit.conn, {"exit": os.waitstatus_to_exitcode(status)})
        unit.conn.close()
        del self.units[unit.pid]

    def _child(self, request: dict[str, Any], fds: list[int]) -> None:  # pragma: no cover - child side
        code = 70
        try:
            os.setsid()
            die_with_parent()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.selector.close()
            self.listener.close()
            for other in self.units.values():
                other.conn.close()
                os.close(other.pidfd)
            for target_fd, fd in enumerate(fds):
                os.dup2(fd, target_fd)
                os.close(fd)
            os.chdir(request.get("cwd") or "/")
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
            os.environ["LLEM_LAUNCH"] = "warm-start"  # recorded with the result
            module, func = self.target.split(":")
            code = int(getattr(importlib.import_module(module), func)(list(request.get("argv") or [])))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 70
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)


def _reply(conn: socket.socket, answer: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.send(json.dumps(answer).encode())


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def remove_socket_dir(sock_path: str) -> None:
    """Remove the socket's private dir when it is one of ours (``llem-fork-*``), socket included."""
    parent = os.path.dirname(sock_path)
    if os.path.basename(parent).startswith(SOCKET_DIR_PREFIX):
        with contextlib.suppress(OSError):
            os.unlink(sock_path)
        with contextlib.suppress(OSError):
            os.rmdir(parent)


def die_with_parent(sig: int = signal.SIGKILL, parent_pid: int | None = None) -> None:
    """The child dies with the server, as the server dies with the host (Linux; no-op elsewhere).

    A parent that died between the fork and ``prctl`` sends no signal: with ``parent_pid`` (the
    parent's pid, taken before the fork) the child sees it has been reparented and signals itself.
    """
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
        if parent_pid is not None and os.getppid() != parent_pid:
            os.kill(os.getpid(), sig)


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    """``serve SOCKET [--backend B] [--preload M,M] [--target MOD:FUNC]`` or ``run SOCKET -- ARGS...``.

    ``--preload`` replaces the backend's module list and ``--target`` the function a child runs
    (``llem-exp``); both exist so the server can be tested without importing an engine.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) >= 2 and args[0] == "run":
        rest = args[2:]
        exit_like(run_client(args[1], rest[1:] if rest[:1] == ["--"] else rest))
    if len(args) >= 2 and args[0] == "serve":
        opts = dict(zip(args[2::2], args[3::2], strict=False))
        from llenergymeasure.backends.registry import warm_imports

        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        # Stopped while still importing (the host died early): exit through the finally below.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        signal.signal(signal.SIGINT, _exit_on_signal)
        try:
            # The socket's private folder is made here, after the handlers, so every path that made
            # it also removes it (the host only names it).
            os.makedirs(os.path.dirname(args[1]) or ".", mode=0o700, exist_ok=True)
            backend = opts.get("--backend", "pytorch")
            modules = opts["--preload"].split(",") if "--preload" in opts else warm_imports(backend)
            print(f"preloaded {len(modules)} modules for {backend} in {preload(modules):.2f} s", flush=True)
            ForkServer(args[1], opts.get("--target", TARGET)).serve_forever()
        finally:
            remove_socket_dir(args[1])
        return
    sys.stderr.write(main.__doc__ or "")
    sys.exit(2)


if __name__ == "__main__":
    main()
