"""``llem doctor``'s exact output: on an injected CPU-only machine, and on this one (no GPU here or in CI)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from llenergymeasure import RESULT_SCHEMA_VERSION
from llenergymeasure.cli.doctor import doctor
from tests.unit.dispatch.test_doctor import cpu_machine


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NVIDIA driver (as here; also on a GPU machine), and every backend pointed at this interpreter."""
    import pynvml

    def fail() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)
    for backend in ("PYTORCH", "VLLM", "TRTLLM"):
        monkeypatch.setenv(f"LLEM_PYTHON_{backend}", sys.executable)


def test_on_a_machine_with_cpu_images_only_it_says_what_runs_and_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llenergymeasure.dispatch.doctor.probe", cpu_machine)
    result = CliRunner().invoke(doctor, [])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "--   LLEM_VERSION: unset (images llenergymeasure/<service>:0.1.0, this llem's version)",
        "ok   docker engine: server 27.3.1",
        "FAIL image pytorch: llenergymeasure/pytorch:0.1.0 missing; llenergymeasure/pytorch:cpu-test is built",
        "      fix: export LLEM_VERSION=cpu-test to use it",
        "FAIL image vllm: llenergymeasure/vllm:0.1.0 missing; llenergymeasure/vllm:cpu-test is built",
        "      fix: export LLEM_VERSION=cpu-test to use it",
        "FAIL image trtllm: llenergymeasure/trtllm:0.1.0 missing",
        "      fix: TensorRT-LLM needs an NVIDIA GPU and the NVIDIA runtime",
        "FAIL nvidia runtime: runtimes: runc",
        "      fix: install nvidia-container-toolkit and restart dockerd (CPU images run without it)",
        "FAIL gpus visible: NVML could not start (NVML Shared Library Not Found)",
        "      fix: energy is only measured on NVIDIA GPUs with a driver",
        "ok   slurm: partition debug, no GPUs",
        "--   rapl: no powercap interface at /sys/class/powercap",
        "      fix: results leave CPU energy out; where RAPL exists, make "
        "/sys/class/powercap/intel-rapl:*/energy_uj readable (root-only since Linux 5.10)",
        "ok   local pytorch: /x/.venv/bin/python imports transformers",
        "ok   local vllm: /x/.venv-vllm/bin/python imports vllm",
        "FAIL local trtllm: /x/.venv/bin/python cannot import tensorrt_llm",
        "      fix: fix",
        "can run here: local: pytorch, vllm; docker: pytorch (cpu-test), vllm (cpu-test); slurm: partition debug, "
        "no GPUs",
    ]


def test_exits_1_when_nothing_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing() -> object:
        return cpu_machine(docker=None, docker_error="down", images=(), partitions=None, local=())

    monkeypatch.setattr("llenergymeasure.dispatch.doctor.probe", nothing)
    result = CliRunner().invoke(doctor, [])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "nothing can run here: local: nothing; docker: no engine; slurm: none"


def test_without_docker_the_engine_line_names_the_fix(no_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = CliRunner().invoke(doctor, [])
    lines = result.output.splitlines()
    assert lines[1:3] == [
        "FAIL docker engine: Docker engine not reachable (DockerException: Error while fetching server API version:"
        " ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))); start dockerd or use"
        " --executor local",
        "      fix: install Docker and start it, or use --executor local",
    ]
    assert f"ok   local pytorch: {sys.executable} imports transformers" in lines
    assert lines[-1].startswith("can run here: local: pytorch")
    assert "docker: no engine" in lines[-1]
    assert result.exit_code == 0


@pytest.mark.docker
def test_with_docker_each_image_is_checked_beside_its_cpu_image(no_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    monkeypatch.setenv("LLEM_VERSION", "no-such-tag-llem-doctor-test")  # no image has this tag
    for service in ("PYTORCH", "VLLM", "TRTLLM"):
        monkeypatch.delenv(f"LLEM_IMAGE_{service}", raising=False)
    client = docker.from_env()
    result = CliRunner().invoke(doctor, [])
    lines = result.output.splitlines()
    assert f"ok   docker engine: server {client.version()['Version']}" in lines
    for service in ("pytorch", "vllm"):
        try:
            built = (
                client.images.get(f"llenergymeasure/{service}:cpu-test").labels.get("org.llenergymeasure.result-schema")
                == RESULT_SCHEMA_VERSION
            )
        except docker.errors.ImageNotFound:
            built = False
        missing = f"FAIL image {service}: llenergymeasure/{service}:no-such-tag-llem-doctor-test missing"
        if built:
            assert f"{missing}; llenergymeasure/{service}:cpu-test is built" in lines
            assert f"{service} (cpu-test)" in lines[-1]
        else:
            assert missing in lines
