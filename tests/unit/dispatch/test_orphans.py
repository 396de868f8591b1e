"""Orphan cleanup removes only a dead run's leftovers of this campaign, never the live run's."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llenergymeasure.dispatch.docker import LABEL_CAMPAIGN, LABEL_RUN, LABEL_UNIT, DockerExecutor
from llenergymeasure.dispatch.local import ENTRYPOINT, LocalExecutor
from llenergymeasure.dispatch.processes import RUN_ENV
from tests.unit.dispatch.test_docker_warm import FakeClient, job


class LabelledContainer:
    def __init__(self, name: str, labels: dict[str, str]) -> None:
        self.short_id = name
        self.labels = labels
        self.removed = False

    def remove(self, force: bool = False) -> None:
        self.removed = True


class LabelledClient:
    """``containers.list`` with the engine's label filter (``key=value``)."""

    def __init__(self, containers: list[LabelledContainer]) -> None:
        self.all = containers
        self.containers = self

    def list(self, all: bool, filters: dict[str, str]) -> list[LabelledContainer]:
        key, _, value = filters["label"].partition("=")
        return [c for c in self.all if c.labels.get(key) == value]


def test_docker_cleanup_removes_only_dead_runs_containers_of_this_campaign(tmp_path: Path) -> None:
    here, there = str(tmp_path.resolve()), "/elsewhere"
    containers = [
        LabelledContainer("live-warm", {LABEL_CAMPAIGN: here, LABEL_RUN: "live", LABEL_UNIT: "warm:pytorch"}),
        LabelledContainer("dead-warm", {LABEL_CAMPAIGN: here, LABEL_RUN: "dead", LABEL_UNIT: "warm:pytorch"}),
        LabelledContainer("dead-unit", {LABEL_CAMPAIGN: here, LABEL_RUN: "dead", LABEL_UNIT: "e_c1"}),
        LabelledContainer("unlabelled-run", {LABEL_CAMPAIGN: here, LABEL_UNIT: "e_c2"}),  # an older llem's
        LabelledContainer("other-campaign", {LABEL_CAMPAIGN: there, LABEL_RUN: "dead", LABEL_UNIT: "e_c1"}),
    ]
    executor = DockerExecutor(LabelledClient(containers), gpus="none", hf_cache=tmp_path)
    removed = executor.cleanup_orphans(tmp_path, [], "live")
    assert removed == ["container:dead-warm", "container:dead-unit", "container:unlabelled-run"]
    assert [c.short_id for c in containers if c.removed] == ["dead-warm", "dead-unit", "unlabelled-run"]


def test_docker_containers_are_labelled_and_named_with_the_run_id(tmp_path: Path) -> None:
    client = FakeClient([0])
    seen: list[dict[str, Any]] = []
    run = client.run

    def recording_run(image: str, **kw: Any) -> Any:
        seen.append(kw)
        return run(image, **kw)

    client.run = recording_run  # type: ignore[method-assign]
    executor = DockerExecutor(client, gpus="none", poll_s=0.01, hf_cache=tmp_path)
    unit = job(tmp_path)
    unit = type(unit)(**{**unit.__dict__, "run_id": "run42", "campaign_id": "camp_x"})
    executor._run_warm(unit, "img", {}, ["cfg.yaml"], lambda _: None)
    (kw,) = seen
    assert kw["labels"] == {LABEL_CAMPAIGN: str(tmp_path.resolve()), LABEL_UNIT: "warm:pytorch", LABEL_RUN: "run42"}
    assert kw["name"] == "llem-camp_x-run42-warm-pytorch-1"


def fake_unit(campaign_dir: Path, run_id: str) -> subprocess.Popen[bytes]:
    """A process that looks like an `llem-exp` of ``campaign_dir`` started by run ``run_id``."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", ENTRYPOINT, str(campaign_dir / "configs/e.yaml")],
        env={**os.environ, RUN_ENV: run_id},
        start_new_session=True,
    )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def wait_dead(p: subprocess.Popen[bytes], timeout_s: float = 10) -> bool:
    try:
        p.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return True


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_local_cleanup_kills_a_dead_runs_unit_but_never_the_live_runs(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    here, other = tmp_path / "camp_20261123T034000Z", tmp_path / "camp_20261123T034000Z_1"  # same second
    dead, live, foreign = fake_unit(here, "dead"), fake_unit(here, "live"), fake_unit(other, "dead")
    procs.extend([dead, live, foreign])
    # Popen returns once exec has succeeded, so /proc already shows the real command line.
    me = socket.gethostname()
    handles = [f"pid:{p.pid}@{me}" for p in (dead, live, foreign)] + ["pid:999999999", "container:abc"]
    handles.insert(0, f"pid:{dead.pid}@another-{me}")  # the same number on another host is another process
    removed = LocalExecutor().cleanup_orphans(here, handles, "live")
    assert removed == [f"pid:{dead.pid}@{me}"]
    assert wait_dead(dead)
    assert live.poll() is None
    assert foreign.poll() is None


def test_image_for_follows_compose_tagging() -> None:
    from llenergymeasure import __version__
    from llenergymeasure.dispatch.docker import image_for

    assert image_for("vllm", {}) == f"llenergymeasure/vllm:{__version__}"
    assert image_for("vllm", {"LLEM_VERSION": "cpu-test"}) == "llenergymeasure/vllm:cpu-test"
    assert image_for("vllm", {"LLEM_VERSION": "cpu-test", "LLEM_IMAGE_VLLM": "x/y:z"}) == "x/y:z"
    assert image_for("pytorch", {"LLEM_IMAGE_VLLM": "x/y:z"}) == f"llenergymeasure/pytorch:{__version__}"
