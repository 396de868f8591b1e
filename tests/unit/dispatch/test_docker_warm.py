"""The docker executor's warm path against a fake Docker SDK client (the engine boundary)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from llenergymeasure.dispatch.base import JobOutcome, UnitJob, describe_stop
from llenergymeasure.dispatch.docker import EXEC_NOT_STARTED, SERVER_SOCK, DockerExecutor
from llenergymeasure.experiment.forkserver import MODULE, READY

SERVER_LINE = f"python -m {MODULE} serve {SERVER_SOCK} --backend pytorch"


class FakeContainer:
    """A warm container: its processes (``top``) are the fork server and whatever the units left."""

    def __init__(self, n: int) -> None:
        self.id = f"container{n:08d}"
        self.short_id = self.id[:12]
        self.status = "running"
        self.removed = False
        self.processes = [["4101", SERVER_LINE]]  # [PID, COMMAND] rows, as Docker splits `ps -eo pid,args`
        self.ps_args: list[str | None] = []

    def reload(self) -> None:
        pass

    def logs(self) -> bytes:
        return f"{READY} on /tmp/s\n".encode()

    def top(self, ps_args: str | None = None) -> dict[str, Any]:
        """The shape of docker SDK's ``Container.top`` (the daemon's JSON): titles, then one row per process."""
        self.ps_args.append(ps_args)
        return {"Titles": ["PID", "COMMAND"], "Processes": [list(row) for row in self.processes]}

    def remove(self, force: bool = False) -> None:
        self.removed = True
        self.status = "exited"


class FakeApi:
    """Execs end with the next status in ``codes``; each records the container it ran in.

    ``leaves``: exec number -> a process that exec's unit leaves running in its container.
    """

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.execs: list[str] = []
        self.exec_env: list[dict[str, str]] = []
        self.leaves: dict[int, list[str]] = {}
        self.client: FakeClient | None = None

    def exec_create(self, container_id: str, cmd: list[str], **kw: Any) -> dict[str, str]:
        self.execs.append(container_id)
        self.exec_env.append(kw.get("environment", {}))
        n = len(self.execs) - 1
        if n in self.leaves and self.client is not None:
            (container,) = [c for c in self.client.started if c.id == container_id]
            container.processes.append(self.leaves[n])
        return {"Id": str(n)}

    def exec_start(self, exec_id: str, stream: bool) -> Iterator[bytes]:
        return iter([b"output\n"])

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"Running": False, "ExitCode": self.codes[int(exec_id)]}


class FakeClient:
    def __init__(self, codes: list[int]) -> None:
        self.api = FakeApi(codes)
        self.api.client = self
        self.started: list[FakeContainer] = []
        self.run_kw: list[dict[str, Any]] = []
        self.containers = self

    def run(self, image: str, **kw: Any) -> FakeContainer:
        self.run_kw.append(kw)
        self.started.append(FakeContainer(len(self.started)))
        return self.started[-1]


def job(tmp_path: Path) -> UnitJob:
    (tmp_path / "configs").mkdir(exist_ok=True)
    return UnitJob(
        key="exp001_c1",
        backend="pytorch",
        service="pytorch",
        campaign_dir=tmp_path,
        config_file=tmp_path / "configs" / "exp001.yaml",
        stem="r",
        config_hash="ab" * 8,
        cycle=1,
        timeout_s=60,
        idle_timeout_s=60,
        log_file=tmp_path / "r.log",
        warm=True,
    )


def run(tmp_path: Path, codes: list[int]) -> tuple[FakeClient, int | None, list[str]]:
    client = FakeClient(codes)
    executor = DockerExecutor(client, gpus="none", poll_s=0.01, hf_cache=tmp_path)
    handles: list[str] = []
    outcome = executor._run_warm(job(tmp_path), "img", {}, ["cfg.yaml"], handles.append)
    return client, outcome.exit_code, handles


def test_an_exec_the_container_could_not_start_is_retried_once_in_a_new_container(tmp_path: Path) -> None:
    client, code, handles = run(tmp_path, [EXEC_NOT_STARTED, 0])
    assert code == 0
    first, second = client.started
    assert client.api.execs == [first.id, second.id]
    assert first.removed
    assert not second.removed
    assert handles == [f"container:{first.short_id}", f"container:{second.short_id}"]


def test_a_second_failure_to_start_is_reported_not_retried_again(tmp_path: Path) -> None:
    client, code, _ = run(tmp_path, [EXEC_NOT_STARTED, EXEC_NOT_STARTED, 0])
    assert code == EXEC_NOT_STARTED
    assert len(client.api.execs) == 2


def test_a_unit_that_ran_and_failed_is_not_retried_and_keeps_its_container(tmp_path: Path) -> None:
    client, code, _ = run(tmp_path, [1, 0])
    assert code == 1
    assert len(client.started) == 1
    assert not client.started[0].removed
    assert (tmp_path / "r.log").read_bytes() == b"output\n"


def test_each_gpu_slot_gets_its_own_warm_container_with_only_its_gpus(tmp_path: Path) -> None:
    client = FakeClient([0, 0, 0])
    executor = DockerExecutor(client, gpus=None, poll_s=0.01, hf_cache=tmp_path)
    slot_env = {"CUDA_VISIBLE_DEVICES": "GPU-b", "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "LLEM_SLOT": "gpu1"}
    on_b = replace(job(tmp_path), slot="gpu1", gpu_uuids=("GPU-b",), env=slot_env)
    on_a = replace(job(tmp_path), slot="gpu0", gpu_uuids=("GPU-a",), env={"CUDA_VISIBLE_DEVICES": "GPU-a"})
    for unit in (on_b, on_a, on_b):
        executor._run_warm(unit, "img", {"HOME": "/tmp", **unit.env}, ["cfg.yaml"], lambda _: None)
    first, second = client.started
    assert client.api.execs == [first.id, second.id, first.id]  # the third unit reuses gpu1's container
    assert [kw["device_requests"][0]["DeviceIDs"] for kw in client.run_kw] == [["GPU-b"], ["GPU-a"]]
    assert [kw["environment"] for kw in client.run_kw] == [{"HOME": "/tmp"}, {"HOME": "/tmp"}]  # scope is per unit
    assert client.api.exec_env[0]["CUDA_VISIBLE_DEVICES"] == "GPU-b"
    assert client.api.exec_env[1]["CUDA_VISIBLE_DEVICES"] == "GPU-a"


class HangingApi(FakeApi):
    """The first exec hangs until its container is removed, printing every 20 ms (chatty) or never again."""

    def __init__(self, client: FakeClient, chatty: bool) -> None:
        super().__init__([0, 0])
        self.client = client
        self.chatty = chatty

    def exec_start(self, exec_id: str, stream: bool) -> Iterator[bytes]:
        if exec_id != "0":
            return super().exec_start(exec_id, stream)
        (container,) = [c for c in self.client.started if c.id == self.execs[0]]

        def lines() -> Iterator[bytes]:
            yield b"working\n"
            while not container.removed:
                time.sleep(0.02)
                if self.chatty:
                    yield b"still working\n"

        return lines()


@pytest.mark.parametrize(
    ("chatty", "timeout_s", "idle_timeout_s", "stopped", "text"),
    [
        (True, 1.0, 600.0, "timeout", "stopped after the unit timeout of 1 s"),
        (False, 600.0, 1.0, "idle", "stopped: no output for 1 s (hung?)"),
    ],
)
def test_a_hanging_warm_unit_is_stopped_with_its_container_and_the_next_unit_gets_a_new_one(
    tmp_path: Path, chatty: bool, timeout_s: float, idle_timeout_s: float, stopped: str, text: str
) -> None:
    client = FakeClient([])
    client.api = HangingApi(client, chatty)
    executor = DockerExecutor(client, gpus="none", poll_s=0.01, hf_cache=tmp_path)
    hung = dataclasses.replace(job(tmp_path), timeout_s=timeout_s, idle_timeout_s=idle_timeout_s)
    outcome = executor._run_warm(hung, "img", {}, ["cfg.yaml"], lambda _: None)
    assert outcome == JobOutcome(exit_code=-9, stopped=stopped)  # type: ignore[arg-type]
    assert describe_stop(outcome, hung) == text
    (first,) = client.started
    assert first.removed  # the unit and its warm server go together
    lines = (tmp_path / "r.log").read_bytes().splitlines()
    assert lines[0] == b"working"
    assert set(lines[1:]) == ({b"still working"} if chatty else set())

    assert executor._run_warm(job(tmp_path), "img", {}, ["cfg.yaml"], lambda _: None).exit_code == 0
    second = client.started[1]
    assert client.api.execs == [first.id, second.id]
    assert not second.removed


def test_a_warm_container_holding_only_its_fork_server_serves_the_next_unit(tmp_path: Path) -> None:
    client = FakeClient([0, 1, 0])
    executor = DockerExecutor(client, gpus="none", poll_s=0.01, hf_cache=tmp_path)
    codes = [executor._run_warm(job(tmp_path), "img", {}, ["cfg.yaml"], lambda _: None).exit_code for _ in range(3)]
    assert codes == [0, 1, 0]
    (only,) = client.started
    assert client.api.execs == [only.id] * 3
    assert only.ps_args == ["-eo pid,args"] * 3  # looked at after every unit, failed or not
    assert not only.removed


@pytest.mark.parametrize("code", [0, 1])
@pytest.mark.parametrize(
    ("left", "replaced"),
    [
        (["4230", "python3 -m vllm.entrypoints.openai.api_server --model /m --port 8000"], True),
        (["4231", "sleep 600"], True),
        (["4232", f"python -m {MODULE} run {SERVER_SOCK} -- /campaign/configs/exp001.yaml --out /out"], False),
    ],
    ids=["engine-server", "any-process", "exec-client-on-its-way-out"],
)
def test_a_warm_container_a_unit_left_a_process_in_is_replaced_before_the_next_unit(
    tmp_path: Path, code: int, left: list[str], replaced: bool
) -> None:
    client = FakeClient([code, 0])
    client.api.leaves[0] = left  # the first unit leaves it behind
    executor = DockerExecutor(client, gpus="none", poll_s=0.01, hf_cache=tmp_path)
    codes = [executor._run_warm(job(tmp_path), "img", {}, ["cfg.yaml"], lambda _: None).exit_code for _ in range(2)]
    assert codes == [code, 0]
    if replaced:
        first, second = client.started
        assert first.removed  # the leftover goes with its container
        assert not second.removed
        assert client.api.execs == [first.id, second.id]
    else:
        (only,) = client.started
        assert not only.removed
        assert client.api.execs == [only.id, only.id]


class SlowContainer(FakeContainer):
    """A warm container whose fork server is ready only once ``up`` is set; ``starting``: it is being waited on."""

    def __init__(self, n: int, starting: threading.Event, up: threading.Event) -> None:
        super().__init__(n)
        self.starting = starting
        self.up = up

    def logs(self) -> bytes:
        self.starting.set()
        return super().logs() if self.up.wait(timeout=30) else b"importing\n"


class SlowStartClient(FakeClient):
    """The first container started is a ``SlowContainer``; the others come up at once."""

    def __init__(self, codes: list[int]) -> None:
        super().__init__(codes)
        self.starting = threading.Event()
        self.up = threading.Event()

    def run(self, image: str, **kw: Any) -> FakeContainer:
        self.run_kw.append(kw)
        n = len(self.started)
        self.started.append(SlowContainer(n, self.starting, self.up) if n == 0 else FakeContainer(n))
        return self.started[-1]


def test_a_slot_whose_warm_container_is_still_starting_holds_up_no_other_slot(tmp_path: Path) -> None:
    client = SlowStartClient([0, 0])
    client.api.leaves[0] = ["4230", "sleep 600"]  # gpu1's unit leaves a process: its container is stopped
    executor = DockerExecutor(client, gpus="none", poll_s=0.01, hf_cache=tmp_path)
    on_a = replace(job(tmp_path), slot="gpu0")
    on_b = replace(job(tmp_path), slot="gpu1")
    outcomes: dict[str, JobOutcome] = {}

    def unit(name: str, unit: UnitJob) -> threading.Thread:
        def go() -> None:
            outcomes[name] = executor._run_warm(unit, "img", {}, ["cfg.yaml"], lambda _: None)

        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        return thread

    a = unit("a", on_a)
    try:
        assert client.starting.wait(timeout=5)  # gpu0's container runs; its fork server is not ready yet
        b = unit("b", on_b)
        b.join(timeout=5)  # gpu1 starts a container, runs a unit in it and stops the container meanwhile
        assert not b.is_alive()
        assert outcomes == {"b": JobOutcome(exit_code=0)}
        slow, other = client.started
        assert other.removed
        assert not slow.removed
        assert a.is_alive()  # still waiting for its server
    finally:
        client.up.set()
        a.join(timeout=5)
    assert not a.is_alive()
    assert outcomes["a"] == JobOutcome(exit_code=0)
    assert client.api.execs == [other.id, slow.id]
    assert not slow.removed
