"""Preflight: `up` and `resume` refuse in seconds, before anything is created, one line per problem.

Real CLI, real interpreters: this venv has no TensorRT-LLM, so a trtllm backend under the local
executor has no engine; the Hub is unreachable (a closed port on localhost), and the cache empty.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import FAST, llem, only_campaign_dir

BAD = "name: pre\nmodel: nobody/no-such-model\nbackend: [pytorch, trtllm]\nprecision: fp32\nn_prompts: 2\n"
TRTLLM = (
    "backend: trtllm\n" + FAST.replace("backend: pytorch\n", "") + "execution: {warm_start: false, max_retries: 0}\n"
)


@pytest.fixture
def hub_env(tmp_path: Path) -> dict[str, str]:
    return {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "HF_HUB_OFFLINE": ""}


def problems(trtllm: str) -> list[str]:
    return [
        "model nobody/no-such-model: not in the Hugging Face cache and http://127.0.0.1:9 cannot be reached "
        "(ConnectError); download it where the network is reachable (`hf download nobody/no-such-model`)",
        f"backend trtllm: {trtllm} cannot import tensorrt_llm; set LLEM_PYTHON_TRTLLM to an interpreter "
        "that has it, or use --executor docker with the trtllm image",
    ]


def test_up_refuses_before_creating_anything(tmp_path: Path, hub_env: dict[str, str]) -> None:
    (tmp_path / "c.yaml").write_text(BAD)
    start = time.monotonic()
    proc = llem(
        "campaign",
        "up",
        "c.yaml",
        "--executor",
        "local",
        "--results-dir",
        "res",
        cwd=tmp_path,
        check=False,
        env=hub_env,
    )
    assert time.monotonic() - start < 20  # seconds, not the ~47 s of retries per unit it used to take
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        *(f"error: {p}" for p in problems(sys.executable)),
        "error: c.yaml: not started: 2 preflight problem(s); --no-preflight skips these checks",
    ]
    assert not (tmp_path / "res").exists()


def test_plan_warns_about_the_same(tmp_path: Path, hub_env: dict[str, str]) -> None:
    (tmp_path / "c.yaml").write_text(BAD)
    proc = llem("campaign", "plan", "c.yaml", "--executor", "local", cwd=tmp_path, env=hub_env)
    assert proc.stderr.splitlines() == [f"warning: {p}" for p in problems(sys.executable)]


def test_resume_checks_engines_and_no_preflight_reaches_the_unit(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TRTLLM)
    args = ("--executor", "local", "--results-dir", "res")
    refused = llem("campaign", "up", "t.yaml", *args, cwd=tmp_path, check=False)
    assert refused.returncode == 1
    assert not (tmp_path / "res").exists()
    ran = llem("campaign", "up", "t.yaml", *args, "--no-preflight", cwd=tmp_path, check=False)
    assert ran.returncode == 1  # the unit itself failed: the per-unit path is still there
    directory = only_campaign_dir(tmp_path / "res")
    resumed = llem("campaign", "resume", str(directory), "--executor", "local", cwd=tmp_path, check=False)
    assert resumed.returncode == 1
    assert resumed.stderr.splitlines()[-2:] == [
        f"error: {problems(sys.executable)[1]}",
        f"error: {directory}: not resumed: 1 preflight problem(s); --no-preflight skips these checks",
    ]
