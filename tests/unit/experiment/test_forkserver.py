"""The warm-start fork server, with real processes and sockets; the unit it forks is a small stand-in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from llenergymeasure.experiment.forkserver import READY, SOCKET_DIR_PREFIX, check_fork_safe

ROOT = Path(__file__).resolve().parents[3]
MODULE = "llenergymeasure.experiment.forkserver"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    sock = str(tmp_path / "s")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable,
        "-m",
        MODULE,
        "serve",
        sock,
        "--preload",
        "json",
        "--target",
        "tests.fakes.unit_process:main",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if READY in line:
            break
    yield proc, sock
    proc.kill()
    proc.wait()


def client(sock: str, *args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", MODULE, "run", sock, "--", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def wait_for(path: Path, timeout_s: float = 10) -> int:
    deadline = time.monotonic() + timeout_s
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.02)
    return int(path.read_text())


def gone(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_unit_sees_the_clients_args_cwd_env_and_streams_and_its_exit_status_comes_back(
    server: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    proc_server, sock = server
    c = client(sock, "echo", "3", cwd=tmp_path, env={**os.environ, "LLEM_TEST_VAR": "from-client"})
    out, err = c.communicate(timeout=30)
    assert c.returncode == 3
    assert f"args=['3'] cwd={tmp_path} var=from-client" in out
    assert "on stderr" in err
    child = int(out.rsplit("pid=", 1)[1])
    assert child not in (c.pid, proc_server.pid)  # a forked process, not the client or the server


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("exit", "4"), 4, ""),
        (("raise",), 70, "RuntimeError: boom in the unit"),
        (("kill",), -signal.SIGKILL, ""),
    ],
)
def test_exit_status_exception_and_signal_are_reported_like_a_fresh_process(
    server: tuple[subprocess.Popen[str], str], args: tuple[str, ...], code: int, message: str
) -> None:
    c = client(server[1], *args)
    _, err = c.communicate(timeout=30)
    assert c.returncode == code
    assert message in err


def test_units_in_turn_each_get_a_new_process(server: tuple[subprocess.Popen[str], str]) -> None:
    pids = set()
    for _ in range(3):
        out, _ = client(server[1], "echo").communicate(timeout=30)
        pids.add(int(out.rsplit("pid=", 1)[1]))
    assert len(pids) == 3


def test_killing_the_client_kills_the_unit(server: tuple[subprocess.Popen[str], str], tmp_path: Path) -> None:
    c = client(server[1], "sleep", str(tmp_path / "pid"))
    unit = wait_for(tmp_path / "pid")
    c.kill()
    c.wait()
    assert gone(unit)
    assert server[0].poll() is None  # the server stays up for the next unit
    assert client(server[1], "exit", "0").wait(timeout=30) == 0


def test_sigterm_to_the_client_reaches_the_unit(server: tuple[subprocess.Popen[str], str], tmp_path: Path) -> None:
    c = client(server[1], "sleep", str(tmp_path / "pid"))
    unit = wait_for(tmp_path / "pid")
    c.send_signal(signal.SIGTERM)
    assert c.wait(timeout=30) == -signal.SIGTERM
    assert gone(unit)


def test_units_die_with_their_server(server: tuple[subprocess.Popen[str], str], tmp_path: Path) -> None:
    c = client(server[1], "sleep", str(tmp_path / "pid"))
    unit = wait_for(tmp_path / "pid")
    server[0].kill()
    assert gone(unit)
    _, err = c.communicate(timeout=30)
    assert c.returncode == 70
    assert "server went away" in err


def test_client_gives_up_when_no_server_appears(tmp_path: Path) -> None:
    code = (
        "from llenergymeasure.experiment.forkserver import run_client; "
        f"run_client({str(tmp_path / 'none')!r}, ['x'], connect_timeout_s=0.2)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "no server on" in proc.stderr


def test_a_server_whose_preload_initialised_cuda_refuses_to_fork() -> None:
    def torch(initialised: bool) -> SimpleNamespace:
        return SimpleNamespace(cuda=SimpleNamespace(is_initialized=lambda: initialised))

    check_fork_safe(None)
    check_fork_safe(torch(False))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="CUDA was initialised while preloading"):
        check_fork_safe(torch(True))  # type: ignore[arg-type]


def wait_exists(path: Path, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def start_server(sock: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", MODULE, "serve", sock, "--preload", "json"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env, cwd=ROOT, text=True, **popen)  # type: ignore[call-overload]


def test_a_stopped_server_removes_its_private_socket_dir(tmp_path: Path) -> None:
    sock_dir = tmp_path / f"{SOCKET_DIR_PREFIX}abc"
    sock_dir.mkdir()
    proc = start_server(str(sock_dir / "s"))
    wait_exists(sock_dir / "s")
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    assert not sock_dir.exists()


def test_a_socket_dir_not_made_for_the_server_is_kept(tmp_path: Path) -> None:
    proc = start_server(str(tmp_path / "s"))
    wait_exists(tmp_path / "s")
    proc.terminate()
    proc.wait(timeout=10)
    assert (tmp_path.exists(), (tmp_path / "s").exists()) == (True, False)


def test_a_server_whose_host_is_killed_stops_and_cleans_up(tmp_path: Path) -> None:
    sock_dir = tmp_path / f"{SOCKET_DIR_PREFIX}host"
    sock_dir.mkdir()
    host = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, signal, subprocess, sys, time\n"
            "from llenergymeasure.dispatch.processes import COMMANDS\n"
            f"p = COMMANDS.start([sys.executable, '-m', {MODULE!r}, 'serve', {str(sock_dir / 's')!r},"
            " '--preload', 'json'], os.environ, subprocess.DEVNULL, parent_death=signal.SIGTERM)\n"
            "print(p.pid, flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert host.stdout is not None
    server_pid = int(host.stdout.readline())
    wait_exists(sock_dir / "s")
    host.kill()
    host.wait()
    assert gone(server_pid)
    deadline = time.monotonic() + 10
    while sock_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sock_dir.exists()


def test_a_server_stopped_while_importing_removes_its_socket_dir(tmp_path: Path) -> None:
    sock_dir = tmp_path / f"{SOCKET_DIR_PREFIX}early"
    sock_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLEM_TEST_IMPORTING": str(tmp_path / "importing")}
    argv = [sys.executable, "-m", MODULE, "serve", str(sock_dir / "s"), "--preload", "tests.fakes.slow_import"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    wait_exists(tmp_path / "importing")
    proc.terminate()
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    assert not sock_dir.exists()
