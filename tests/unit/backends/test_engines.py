"""vLLM and TensorRT-LLM runners driven for real against fakes of their engine objects."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llenergymeasure.backends import trtllm as _trt_pkg  # noqa: F401  (package import stays light)
from llenergymeasure.backends.registry import load_runner_class
from llenergymeasure.backends.trtllm.runner import build_key
from llenergymeasure.backends.vllm.runner import engine_kwargs, record_from_stats, sampling_kwargs
from llenergymeasure.config.experiment import DecodingConfig, ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.errors import BackendError
from llenergymeasure.experiment.runner import run_experiment
from tests.fakes.engines import FakeEngineLog, RequestStateStats, fake_tensorrt_llm, fake_vllm
from tests.fakes.nvml import FakeNvml


@pytest.fixture
def vllm_log(monkeypatch: pytest.MonkeyPatch) -> FakeEngineLog:
    log = FakeEngineLog()
    mod = fake_vllm(log)
    monkeypatch.setitem(sys.modules, "vllm", mod)
    monkeypatch.setitem(sys.modules, "vllm.platforms", mod.platforms)  # type: ignore[attr-defined]
    return log


@pytest.fixture
def trt_log(monkeypatch: pytest.MonkeyPatch) -> FakeEngineLog:
    log = FakeEngineLog()
    mod, llmapi = fake_tensorrt_llm(log)
    monkeypatch.setitem(sys.modules, "tensorrt_llm", mod)
    monkeypatch.setitem(sys.modules, "tensorrt_llm.llmapi", llmapi)
    return log


def vllm_cfg(**over: object) -> ExperimentConfig:
    data: dict[str, object] = {
        "model": "org/model",
        "backend": "vllm",
        "precision": "bf16",
        "n_prompts": 6,
        "max_input_tokens": 4,
        "max_output_tokens": 8,
        "warmup": {"n_runs": 1},
        "baseline": {"enabled": False},
        "energy": {"sample_interval_ms": 5, "min_window_s": 0},
        "vllm": {"max_num_seqs": 64, "enforce_eager": True, "max_model_len": 512},
    }
    data.update(over)
    return ExperimentConfig.model_validate(data)


def test_vllm_engine_arguments_map_the_config() -> None:
    cfg = vllm_cfg()
    kw = engine_kwargs(cfg, cfg.vllm, "/models/m")  # type: ignore[arg-type]
    assert kw["model"] == "/models/m"
    assert (kw["dtype"], kw["max_num_seqs"], kw["enforce_eager"], kw["max_model_len"]) == ("bfloat16", 64, True, 512)
    assert "quantization" not in kw
    assert "block_size" not in kw
    assert "kv_cache_memory_bytes" not in kw  # a real model: vLLM sizes the KV cache
    assert kw["disable_log_stats"] is False  # else V1 returns no per-request stats


def test_vllm_tiny_model_gets_a_bounded_kv_cache_unless_configured() -> None:
    tiny = vllm_cfg(model="llem/tiny-llama")
    assert engine_kwargs(tiny, tiny.vllm, "/m")["kv_cache_memory_bytes"] == 64 * 2**20  # type: ignore[arg-type]
    own = vllm_cfg(model="llem/tiny-llama", vllm={"kv_cache_memory_bytes": 2**30})
    assert engine_kwargs(own, own.vllm, "/m")["kv_cache_memory_bytes"] == 2**30  # type: ignore[arg-type]


def test_vllm_record_from_v1_request_stats() -> None:
    stats = RequestStateStats(
        num_generation_tokens=5,
        arrival_time=1.7e9,
        first_token_ts=100.25,
        last_token_ts=100.45,
        first_token_latency=0.125,
    )
    r = record_from_stats(3, 5, stats, batch_wall_s=9.0)
    assert (r.input_tokens, r.output_tokens) == (3, 5)
    assert r.ttft_s == 0.125
    assert r.itl_s == pytest.approx(0.05, abs=1e-12)  # 0.2 s over the 4 tokens after the first
    assert r.latency_s == pytest.approx(0.325, abs=1e-12)


@pytest.mark.parametrize(
    "stats",
    [None, RequestStateStats(), RequestStateStats(num_generation_tokens=4, arrival_time=1.7e9, first_token_ts=3.0)],
    ids=["no-stats", "all-unset", "no-first-token-latency"],
)
def test_vllm_record_without_stats_reports_no_ttft_or_itl(stats: RequestStateStats | None) -> None:
    r = record_from_stats(3, 4, stats, batch_wall_s=2.5)
    assert (r.latency_s, r.ttft_s, r.itl_s) == (2.5, None, None)


def test_vllm_single_token_has_ttft_but_no_itl() -> None:
    stats = RequestStateStats(num_generation_tokens=1, first_token_ts=7.0, last_token_ts=7.0, first_token_latency=0.5)
    r = record_from_stats(2, 1, stats, batch_wall_s=3.0)
    assert (r.latency_s, r.ttft_s, r.itl_s) == (0.5, 0.5, None)


def test_vllm_sampling_greedy_and_sampled() -> None:
    greedy = sampling_kwargs(DecodingConfig(), 16, 7)
    assert (greedy["temperature"], greedy["ignore_eos"], greedy["min_tokens"], greedy["seed"]) == (0.0, True, 16, 7)
    sampled = sampling_kwargs(DecodingConfig(do_sample=True, temperature=0.7, top_k=0, ignore_eos=False), 16, 7)
    assert (sampled["temperature"], sampled["top_k"]) == (0.7, 0)  # 0: no top-k in vLLM 0.3x
    assert "min_tokens" not in sampled


def test_vllm_experiment_end_to_end_with_fake_engine_and_nvml(tmp_path: Path, vllm_log: FakeEngineLog) -> None:
    cfg = vllm_cfg()
    fake = FakeNvml()
    out = run_experiment(cfg, tmp_path, "v", config_hash(cfg), 1, nvml_loader=lambda: fake)  # type: ignore[arg-type,return-value]
    assert len(vllm_log.llm_kwargs) == 1
    # warmup (one batch of max_num_seqs) + the window: every prompt truncated to max_input_tokens
    assert all(len(p["prompt_token_ids"]) <= 4 for p in vllm_log.prompts)
    m = out.result.metrics
    assert (m.n_requests, m.output_tokens) == (6, 48)
    assert m.ttft_s is not None
    assert m.ttft_s.min == pytest.approx(0.01, abs=1e-9)
    assert m.ttft_s.max == pytest.approx(0.06, abs=1e-9)  # six prompts, 10 ms apart
    assert m.itl_s is not None
    assert m.itl_s.min == pytest.approx(0.005, abs=1e-9)
    assert m.itl_s.max == pytest.approx(0.005, abs=1e-9)
    assert out.result.environment["packages"]["vllm"] == "0.32.0"
    assert m.peak_memory_bytes == 20 * 2**30  # from NVML: vLLM's memory is outside this process
    assert out.result.energy.available
    assert out.result.energy.method == "counter"
    assert out.result.environment["gpus"][0]["name"] == "Fake H100"


def trt_cfg(cache: Path | None, **over: object) -> ExperimentConfig:
    section: dict[str, object] = {"max_batch_size": 4, "kv_cache_free_gpu_memory_fraction": 0.5}
    if cache is not None:
        section["engine_cache_dir"] = str(cache)
    data: dict[str, object] = {
        "model": "org/model",
        "backend": "trtllm",
        "precision": "fp16",
        "n_prompts": 3,
        "max_output_tokens": 5,
        "warmup": {"n_runs": 0},
        "baseline": {"enabled": False},
        "trtllm": section,
    }
    data.update(over)
    return ExperimentConfig.model_validate(data)


def test_trtllm_block_reuse_only_when_asked(trt_log: FakeEngineLog) -> None:
    cfg = trt_cfg(None, trtllm={"max_batch_size": 4, "enable_block_reuse": True})
    load_runner_class("trtllm")(cfg).load("/models/m")
    assert trt_log.llm_kwargs[0]["kv_cache_config"].enable_block_reuse is True


def test_trtllm_builds_caches_and_reuses_engines(tmp_path: Path, trt_log: FakeEngineLog) -> None:
    cache = tmp_path / "engines"
    cfg = trt_cfg(cache)
    runner_cls = load_runner_class("trtllm")
    first = runner_cls(cfg)
    first.load("/models/m")
    assert trt_log.llm_kwargs[0]["model"] == "/models/m"
    assert trt_log.llm_kwargs[0]["dtype"] == "float16"
    assert trt_log.llm_kwargs[0]["kv_cache_config"].free_gpu_memory_fraction == 0.5
    # Block reuse is TensorRT-LLM's default; the runner turns it off so prefill is never a cache hit.
    assert trt_log.llm_kwargs[0]["kv_cache_config"].enable_block_reuse is False
    engine_dir = cache / build_key(cfg, cfg.trtllm)  # type: ignore[arg-type]
    assert (engine_dir / "config.json").is_file()
    assert [p.name for p in cache.iterdir()] == [engine_dir.name]  # no temp dir left behind

    second = runner_cls(cfg)
    second.load("/models/m")
    assert trt_log.llm_kwargs[1]["model"] == str(engine_dir)
    assert trt_log.llm_kwargs[1]["tokenizer"] == "/models/m"
    assert second.describe()["engine_source"] == f"cache:{engine_dir}"

    records = second.run(["a b c", "d e"])
    assert [(r.input_tokens, r.output_tokens) for r in records] == [(4, 5), (3, 5)]
    assert [r.ttft_s for r in records] == pytest.approx([0.02, 0.04], abs=1e-9)
    assert [r.itl_s for r in records] == pytest.approx([0.004, 0.004], abs=1e-9)
    assert [r.latency_s for r in records] == pytest.approx([0.036, 0.056], abs=1e-9)
    assert trt_log.sampling[-1]["return_perf_metrics"] is True
    assert trt_log.sampling[-1]["top_k"] == 1
    assert trt_log.sampling[-1]["min_tokens"] == 5
    second.teardown()
    assert trt_log.shutdown == 1


def test_trtllm_build_key_tracks_build_settings() -> None:
    a = trt_cfg(None)
    assert build_key(a, a.trtllm) == build_key(trt_cfg(None), trt_cfg(None).trtllm)  # type: ignore[arg-type]
    b = trt_cfg(None, precision="bf16")
    assert build_key(a, a.trtllm) != build_key(b, b.trtllm)  # type: ignore[arg-type]


def test_engine_not_installed_gives_a_container_hint() -> None:
    if "vllm" in sys.modules:
        pytest.skip("a real vllm is importable here")
    with pytest.raises(
        BackendError,
        match=r"backend 'vllm' cannot be imported here .*docker compose run --rm vllm llem-exp CONFIG or in .venv-vllm",
    ):
        load_runner_class("vllm")


def test_unknown_backend_lists_valid_ones() -> None:
    with pytest.raises(BackendError, match="unknown backend 'tgi'; valid: pytorch, vllm, trtllm"):
        load_runner_class("tgi")


def test_trtllm_takes_one_sampling_params_per_request_and_refuses_lengths_beyond_its_engine(
    trt_log: FakeEngineLog,
) -> None:
    from llenergymeasure.errors import BackendError

    cfg = trt_cfg(None, max_input_tokens=16, max_output_tokens=8)
    runner = load_runner_class("trtllm")(cfg)
    runner.load("/models/m")
    records = runner.run(["a b c", "d e"], output_tokens=[3, 7])
    assert [r.output_tokens for r in records] == [3, 7]
    assert [q["max_tokens"] for q in trt_log.sampling[-2:]] == [3, 7]
    assert [q["min_tokens"] for q in trt_log.sampling[-2:]] == [3, 7]  # ignore_eos: exactly that length
    with pytest.raises(BackendError) as err:
        runner.prepare(["a b c"], output_tokens=[40])
    assert str(err.value) == (
        "a request needs 44 tokens of context, but the TensorRT-LLM engine holds max_input_tokens + "
        "max_output_tokens = 24; raise max_output_tokens to at least 28 (or filter the dataset: "
        "filter.max_output_tokens)"
    )
