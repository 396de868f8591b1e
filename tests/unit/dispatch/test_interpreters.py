from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llenergymeasure.dispatch import interpreters
from llenergymeasure.dispatch.docker import forwarded_env
from llenergymeasure.dispatch.local import LocalExecutor
from llenergymeasure.errors import ExecutorError


def fake_python(path: Path, exit_code: int) -> str:
    """A stand-in interpreter whose import probe answers with ``exit_code``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def no_engine_here(monkeypatch: pytest.MonkeyPatch) -> None:
    real = interpreters.importlib.util.find_spec
    monkeypatch.setattr(interpreters.importlib.util, "find_spec", lambda name: None if name == "vllm" else real(name))
    monkeypatch.delenv("LLEM_PYTHON_VLLM", raising=False)


@pytest.mark.usefixtures("no_engine_here")
def test_configured_interpreter_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLEM_PYTHON_VLLM", fake_python(tmp_path / "py", 0))
    assert interpreters.python_for("vllm") == str(tmp_path / "py")


@pytest.mark.usefixtures("no_engine_here")
def test_configured_interpreter_without_the_engine_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = fake_python(tmp_path / "py", 3)
    monkeypatch.setenv("LLEM_PYTHON_VLLM", bad)
    with pytest.raises(ExecutorError) as info:
        interpreters.python_for("vllm")
    assert str(info.value) == (
        f"LLEM_PYTHON_VLLM={bad} cannot import vllm and llenergymeasure; "
        "point it at a venv with both (scripts/setup-vllm.sh makes .venv-vllm)"
    )


@pytest.mark.usefixtures("no_engine_here")
def test_sibling_venv_is_found_beside_this_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sibling = fake_python(tmp_path / ".venv-vllm" / "bin" / "python", 0)
    monkeypatch.setattr(interpreters.sys, "prefix", str(tmp_path / ".venv"))
    assert interpreters.python_for("vllm") == sibling


@pytest.mark.usefixtures("no_engine_here")
def test_broken_sibling_venv_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sibling = fake_python(tmp_path / ".venv-vllm" / "bin" / "python", 3)
    monkeypatch.setattr(interpreters.sys, "prefix", str(tmp_path / ".venv"))
    with pytest.raises(ExecutorError) as info:
        interpreters.python_for("vllm")
    assert str(info.value) == (
        f"{sibling} cannot import vllm and llenergymeasure; rerun scripts/setup-vllm.sh or set LLEM_PYTHON_VLLM"
    )


@pytest.mark.usefixtures("no_engine_here")
def test_nothing_found_falls_back_to_this_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interpreters.sys, "prefix", str(tmp_path / ".venv"))
    assert interpreters.python_for("vllm") == sys.executable


def test_pytorch_runs_here() -> None:
    assert interpreters.python_for("pytorch") == sys.executable


def test_executor_given_one_interpreter_uses_it_for_every_backend() -> None:
    ex = LocalExecutor(python="/opt/py/bin/python")
    assert (ex.python_for("vllm"), ex.python_for("pytorch")) == ("/opt/py/bin/python", "/opt/py/bin/python")


def test_containers_get_tokens_and_vllm_settings_only() -> None:
    host = {"HF_TOKEN": "t", "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "HOME": "/root", "LLEM_GPUS": "none"}
    assert forwarded_env(host) == {"HF_TOKEN": "t", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
