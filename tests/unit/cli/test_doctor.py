"""``llem doctor``'s exact output on a machine without a GPU (this one, and CI)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from llenergymeasure.cli.doctor import doctor

VLLM_FIX = "bash scripts/setup-vllm.sh, or set LLEM_PYTHON_VLLM to an interpreter that has it"
TRT_FIX = (
    "run it in its container (docker compose run trtllm; TensorRT-LLM needs an NVIDIA GPU), "
    "or set LLEM_PYTHON_TRTLLM to an interpreter that has it"
)


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NVIDIA driver (as here; also on a GPU machine), and every backend pointed at this interpreter."""
    import pynvml

    def fail() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)
    for backend in ("PYTORCH", "VLLM", "TRTLLM"):
        monkeypatch.setenv(f"LLEM_PYTHON_{backend}", sys.executable)


def local_lines(py: str) -> list[str]:
    return [
        "FAIL gpus visible: NVML could not start (NVML Shared Library Not Found); "
        "no NVIDIA driver or GPU is visible on this machine",
        "      fix: energy is only measured on NVIDIA GPUs with a driver",
        f"ok   local pytorch: {py} imports transformers",
        f"FAIL local vllm: LLEM_PYTHON_VLLM={py} cannot import vllm and llenergymeasure; point it at a venv with"
        " both (scripts/setup-vllm.sh makes .venv-vllm)",
        f"      fix: {VLLM_FIX}",
        f"FAIL local trtllm: LLEM_PYTHON_TRTLLM={py} cannot import tensorrt_llm and llenergymeasure; point it at a"
        " venv with both",
        f"      fix: {TRT_FIX}",
    ]


def test_without_docker_or_gpu_every_failure_has_its_fix(no_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = CliRunner().invoke(doctor, [])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "FAIL docker engine: Docker engine not reachable (DockerException: Error while fetching server API version:"
        " ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))); start dockerd or use"
        " --executor local",
        "      fix: install Docker and start it, or use --executor local",
        *local_lines(sys.executable),
    ]


@pytest.mark.docker
def test_with_docker_each_image_and_the_runtime_are_checked(no_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    monkeypatch.setenv("LLEM_VERSION", "no-such-tag-llem-doctor-test")  # no image has this tag
    for service in ("PYTORCH", "VLLM", "TRTLLM"):
        monkeypatch.delenv(f"LLEM_IMAGE_{service}", raising=False)
    client = docker.from_env()
    runtimes = ", ".join((client.info() or {}).get("Runtimes", {}) or {}) or "none"
    has_nvidia = "nvidia" in runtimes.split(", ")
    result = CliRunner().invoke(doctor, [])
    assert result.exit_code == 1
    images = []
    for service in ("pytorch", "vllm", "trtllm"):
        images += [
            f"FAIL image {service}: llenergymeasure/{service}:no-such-tag-llem-doctor-test missing",
            f"      fix: docker compose build {service}",
        ]
    runtime = (
        [f"ok   nvidia runtime: runtimes: {runtimes}"]
        if has_nvidia
        else [
            f"FAIL nvidia runtime: runtimes: {runtimes}",
            "      fix: install nvidia-container-toolkit and restart dockerd",
        ]
    )
    assert result.output.splitlines() == [
        f"ok   docker engine: server {client.version()['Version']}",
        *images,
        *runtime,
        *local_lines(sys.executable),
    ]
