"""A server-mode unit's engine server dies with its unit: a real ``llem-exp`` stopped by SIGTERM or SIGKILL.

The engine edge is the stand-in server (tests/fakes/openai_server.py) behind a ``vllm`` that has only
its OpenAI server (tests/fakes/vllm_server_shim): ``llem-exp`` builds vLLM's command line as always.
The server never becomes healthy, so the unit is waiting on it when the signal comes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llenergymeasure.models.tiny import ensure_tiny_model

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "tests" / "fakes" / "vllm_server_shim"
CONFIG = """\
model: llem/tiny-llama
backend: vllm
n_prompts: 2
max_output_tokens: 2
scenario: {kind: server, startup_timeout_s: 300, warmup_requests: 0}
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} after {timeout_s:g} s")
        time.sleep(0.05)


def start_unit(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``llem-exp`` on a server-mode config, once its server runs; the server's pid."""
    ensure_tiny_model("llem/tiny-llama")  # built (or found) before the unit looks for it
    cfg = tmp_path / "exp001.yaml"
    cfg.write_text(CONFIG)
    pid_file = tmp_path / "server.pid"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SHIM), str(ROOT)]),
        "LLEM_TEST_SERVER_PID": str(pid_file),
        "LLEM_TEST_SERVER_MODE": "never-healthy",
    }
    argv = [sys.executable, "-m", "llenergymeasure.experiment.entrypoint", str(cfg), "--out", str(tmp_path / "out")]
    unit = subprocess.Popen([*argv, "--stem", "u_c1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for("no server started", pid_file.exists)
    except AssertionError:
        unit.kill()
        raise AssertionError(unit.communicate()[1].decode()) from None
    return unit, int(pid_file.read_text())


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids a failed test must not leave running."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_the_unit_cleanly_and_its_server_with_it(tmp_path: Path, leftovers: list[int]) -> None:
    unit, server = start_unit(tmp_path)
    leftovers.append(server)
    assert alive(server)
    unit.send_signal(signal.SIGTERM)
    _, err = unit.communicate(timeout=60)
    assert unit.returncode == 143
    assert not alive(server)  # stopped in the unit's `finally`, before it exited
    assert err.decode().splitlines()[-1] == "error: stopped by SIGTERM before the unit finished"
    error = json.loads((tmp_path / "out" / "u_c1.error.json").read_text())
    assert (error["error_type"], error["error_message"]) == (
        "Terminated",
        "stopped by SIGTERM before the unit finished",
    )
    assert "server stopped" in err.decode()


def test_a_unit_killed_outright_takes_its_server_with_it(tmp_path: Path, leftovers: list[int]) -> None:
    unit, server = start_unit(tmp_path)
    leftovers.append(server)
    unit.send_signal(signal.SIGKILL)
    unit.wait(timeout=60)
    wait_for("the server outlived its unit", lambda: not alive(server), timeout_s=10)
