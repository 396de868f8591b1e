"""`llem doctor`'s local-engine checks, against real interpreters."""

from __future__ import annotations

import sys

import pytest

from llenergymeasure import RESULT_SCHEMA_VERSION
from llenergymeasure.dispatch.doctor import Check, ImageProbe, Probes, can_run, checks, local_engine_checks, summary


def test_local_engine_checks_name_the_interpreter_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLEM_PYTHON_PYTORCH", sys.executable)  # this one has transformers
    monkeypatch.setenv("LLEM_PYTHON_TRTLLM", sys.executable)  # and no tensorrt_llm
    checks = {c.name: c for c in local_engine_checks()}
    assert list(checks) == ["local pytorch", "local vllm", "local trtllm"]
    pt = checks["local pytorch"]
    assert (pt.ok, pt.detail, pt.fix) == (True, f"{sys.executable} imports transformers", "")
    trt = checks["local trtllm"]
    assert not trt.ok
    assert trt.detail == (
        f"LLEM_PYTHON_TRTLLM={sys.executable} cannot import tensorrt_llm and llenergymeasure; "
        "point it at a venv with both"
    )
    assert trt.fix == (
        "run it in its container (docker compose run trtllm; TensorRT-LLM needs an NVIDIA GPU), "
        "or set LLEM_PYTHON_TRTLLM to an interpreter that has it"
    )


def cpu_machine(**changes: object) -> Probes:
    """A machine with the CPU images only: Docker without the NVIDIA runtime, no GPU, Slurm without GRES."""
    from dataclasses import replace

    images = []
    for service in ("pytorch", "vllm", "trtllm"):
        images.append(ImageProbe(service, f"llenergymeasure/{service}:0.1.0", None))
        if service != "trtllm":
            images.append(ImageProbe(service, f"llenergymeasure/{service}:cpu-test", RESULT_SCHEMA_VERSION))
        else:
            images.append(ImageProbe(service, "llenergymeasure/trtllm:cpu-test", None))
    probes = Probes(
        llem_version=None,
        docker="27.3.1",
        images=tuple(images),
        runtimes=("runc",),
        nvml_error="NVML could not start (NVML Shared Library Not Found)",
        partitions={"debug": ()},
        rapl_error="no powercap interface at /sys/class/powercap",
        local=(
            Check("local pytorch", True, "/x/.venv/bin/python imports transformers"),
            Check("local vllm", True, "/x/.venv-vllm/bin/python imports vllm"),
            Check("local trtllm", False, "/x/.venv/bin/python cannot import tensorrt_llm", "fix"),
        ),
    )
    return replace(probes, **changes)  # type: ignore[arg-type]


def test_summary_on_a_machine_with_cpu_images_only() -> None:
    p = cpu_machine()
    assert (
        summary(p)
        == "local: pytorch, vllm; docker: pytorch (cpu-test), vllm (cpu-test); slurm: partition debug, no GPUs"
    )
    assert can_run(p)
    images = {c.name: (c.ok, c.detail, c.fix) for c in checks(p) if c.name.startswith("image ")}
    assert images == {
        "image pytorch": (
            False,
            "llenergymeasure/pytorch:0.1.0 missing; llenergymeasure/pytorch:cpu-test is built",
            "export LLEM_VERSION=cpu-test to use it",
        ),
        "image vllm": (
            False,
            "llenergymeasure/vllm:0.1.0 missing; llenergymeasure/vllm:cpu-test is built",
            "export LLEM_VERSION=cpu-test to use it",
        ),
        "image trtllm": (
            False,
            "llenergymeasure/trtllm:0.1.0 missing",
            "TensorRT-LLM needs an NVIDIA GPU and the NVIDIA runtime",
        ),
    }


def test_with_llem_version_cpu_test_the_cpu_images_are_the_selected_ones() -> None:
    images = tuple(
        ImageProbe(s, f"llenergymeasure/{s}:cpu-test", RESULT_SCHEMA_VERSION if s != "trtllm" else None)
        for s in ("pytorch", "vllm", "trtllm")
    )
    p = cpu_machine(llem_version="cpu-test", images=images)
    lines = [(c.name, c.ok, c.detail) for c in checks(p)]
    assert lines[0] == ("LLEM_VERSION", True, "cpu-test (images llenergymeasure/<service>:cpu-test)")
    assert ("image vllm", True, f"llenergymeasure/vllm:cpu-test, result schema {RESULT_SCHEMA_VERSION}") in lines
    assert summary(p).startswith("local: pytorch, vllm; docker: pytorch (cpu-test), vllm (cpu-test); ")


def test_nothing_runs_without_docker_interpreters_or_slurm() -> None:
    p = cpu_machine(
        docker=None,
        docker_error="Docker engine not reachable",
        images=(),
        partitions=None,
        slurm_error="sinfo not found: no Slurm client on this machine",
        local=(Check("local pytorch", False, "no", "bash scripts/setup.sh"),),
    )
    assert summary(p) == "local: nothing; docker: no engine; slurm: none"
    assert not can_run(p)
    slurm = next(c for c in checks(p) if c.name == "slurm")
    assert (slurm.info, slurm.detail) == (True, "sinfo not found: no Slurm client on this machine")


def test_gpu_images_count_only_with_the_nvidia_runtime_and_a_gpu() -> None:
    images = (ImageProbe("pytorch", "llenergymeasure/pytorch:0.1.0", RESULT_SCHEMA_VERSION),)
    assert (
        summary(cpu_machine(images=images, local=(), partitions={}))
        == "local: nothing; docker: no usable image; slurm: none"
    )
    gpu = cpu_machine(
        images=images, runtimes=("nvidia", "runc"), gpus=("0: NVIDIA H100",), partitions={"gpu": ("gpu:h100:8",)}
    )
    assert summary(gpu) == "local: pytorch, vllm; docker: pytorch (0.1.0); slurm: partition gpu, GPUs gpu:h100:8 on gpu"
