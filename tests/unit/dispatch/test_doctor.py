"""`llem doctor`'s local-engine checks, against real interpreters."""

from __future__ import annotations

import sys

import pytest

from llenergymeasure.dispatch.doctor import local_engine_checks


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
