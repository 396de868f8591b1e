"""Fakes of the vLLM and TensorRT-LLM engine objects (the engine edge of the tests).

They record what the real backend code passes them and answer with objects shaped like the
engines' own outputs, so the runners' mapping, tokenization and timing logic is exercised
exactly as it is in the containers.
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any


class FakeTokenizer:
    eos_token_id = 2

    def encode(self, text: str) -> list[int]:
        return [1] + [10 + (hash(w) % 500) for w in text.split()]

    def __len__(self) -> int:
        return 512


@dataclass
class FakeEngineLog:
    llm_kwargs: list[dict[str, Any]] = field(default_factory=list)
    sampling: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[Any] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    shutdown: int = 0


# What the fakes accept or expose, by name: each name is one the real engine has (vLLM 0.3x, checked
# against the real vLLM by tests/vllm/test_real_vllm.py::test_fakes_follow_the_real_api; TensorRT-LLM
# 1.2 read from its source). A fake that accepts a name the engine lacks would hide a real failure.
VLLM_LLM_ARGS = frozenset(
    {
        "model",
        "dtype",
        "seed",
        "tensor_parallel_size",
        "max_num_seqs",
        "gpu_memory_utilization",
        "enforce_eager",
        "enable_prefix_caching",
        "kv_cache_dtype",
        "disable_log_stats",
        "max_num_batched_tokens",
        "enable_chunked_prefill",
        "quantization",
        "max_model_len",
        "block_size",
        "kv_cache_memory_bytes",
    }
)
VLLM_SAMPLING_ARGS = frozenset(
    {"n", "max_tokens", "min_tokens", "ignore_eos", "repetition_penalty", "seed", "temperature", "top_p", "top_k"}
)
TRT_LLM_ARGS = frozenset(
    {
        "model",
        "tokenizer",
        "dtype",
        "tensor_parallel_size",
        "max_batch_size",
        "max_num_tokens",
        "max_seq_len",
        "kv_cache_config",
    }
)
# KvCacheConfig fields (tensorrt_llm/llmapi/llm_args.py, StrictBaseModel): enable_block_reuse defaults to True.
TRT_KV_CACHE_ARGS = frozenset({"free_gpu_memory_fraction", "enable_block_reuse"})
TRT_SAMPLING_ARGS = frozenset(
    {
        "max_tokens",
        "min_tokens",
        "ignore_eos",
        "repetition_penalty",
        "seed",
        "temperature",
        "top_p",
        "top_k",
        "return_perf_metrics",
    }
)


def _accept(what: str, kwargs: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(f"{what} got unexpected keyword argument(s) {sorted(unknown)}")


@dataclass
class RequestStateStats:
    """vLLM V1's per-request stats (vllm.v1.metrics.stats), the fields the runner reads; unset ones are 0.0."""

    num_generation_tokens: int = 0
    arrival_time: float = 0.0  # frontend wall clock
    queued_ts: float = 0.0  # engine core monotonic clock from here on
    scheduled_ts: float = 0.0
    first_token_ts: float = 0.0
    last_token_ts: float = 0.0
    first_token_latency: float = 0.0


def _lengths(params: Any, n: int) -> list[int]:
    """Each request's max_tokens: one SamplingParams for all, or a list with one per request (both engines)."""
    if isinstance(params, list):
        assert len(params) == n, f"{len(params)} SamplingParams for {n} prompts"
        return [q.max_tokens for q in params]
    return [params.max_tokens] * n


def _vllm_outputs(prompts: list[Any], lengths: list[int], with_stats: bool) -> list[Any]:
    """Request i's first token comes 10 ms x (i + 1) after arrival, then one token every 5 ms."""
    wall0, mono0 = time.time(), 1000.0
    time.sleep(0.05)  # the "GPU" works; the fake NVML integrates power meanwhile
    out = []
    for i, p in enumerate(prompts):
        max_tokens = lengths[i]
        ids = p["prompt_token_ids"]
        first = mono0 + 0.01 * (i + 1)
        stats = (
            RequestStateStats(
                num_generation_tokens=max_tokens,
                arrival_time=wall0,
                queued_ts=mono0,
                scheduled_ts=mono0,
                first_token_ts=first,
                last_token_ts=first + 0.005 * (max_tokens - 1),
                first_token_latency=0.01 * (i + 1),
            )
            if with_stats
            else None
        )
        out.append(
            types.SimpleNamespace(
                prompt_token_ids=ids,
                metrics=stats,
                outputs=[types.SimpleNamespace(token_ids=list(range(max_tokens)))],
            )
        )
    return out


def fake_vllm(log: FakeEngineLog, with_stats: bool = True) -> types.ModuleType:
    mod = types.ModuleType("vllm")
    mod.__version__ = "0.32.0"  # type: ignore[attr-defined]
    platforms = types.ModuleType("vllm.platforms")
    platforms.current_platform = types.SimpleNamespace(device_type="cuda")  # type: ignore[attr-defined]

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            _accept("SamplingParams", kwargs, VLLM_SAMPLING_ARGS)
            log.sampling.append(kwargs)
            self.max_tokens = kwargs["max_tokens"]

    class LLM:
        def __init__(self, model: str, **kwargs: Any) -> None:
            _accept("LLM", {"model": model, **kwargs}, VLLM_LLM_ARGS)
            log.llm_kwargs.append({"model": model, **kwargs})
            self.log_stats = not kwargs.get("disable_log_stats", True)

        def get_tokenizer(self) -> FakeTokenizer:
            return FakeTokenizer()

        def generate(
            self,
            prompts: list[Any],
            sampling_params: SamplingParams | list[SamplingParams] | None = None,
            *,
            use_tqdm: bool = True,
        ) -> list[Any]:
            assert sampling_params is not None
            log.prompts.extend(prompts)
            return _vllm_outputs(prompts, _lengths(sampling_params, len(prompts)), with_stats and self.log_stats)

    mod.LLM = LLM  # type: ignore[attr-defined]
    mod.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    mod.platforms = platforms  # type: ignore[attr-defined]
    return mod


def fake_tensorrt_llm(log: FakeEngineLog) -> tuple[types.ModuleType, types.ModuleType]:
    mod = types.ModuleType("tensorrt_llm")
    llmapi = types.ModuleType("tensorrt_llm.llmapi")

    class KvCacheConfig:
        """TensorRT-LLM 1.2's ``llmapi.KvCacheConfig`` is a strict pydantic model: unknown names raise."""

        def __init__(self, **kwargs: Any) -> None:
            _accept("KvCacheConfig", kwargs, TRT_KV_CACHE_ARGS)
            self.free_gpu_memory_fraction = kwargs.get("free_gpu_memory_fraction")
            self.enable_block_reuse = kwargs.get("enable_block_reuse", True)  # TensorRT-LLM's default

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            _accept("SamplingParams", kwargs, TRT_SAMPLING_ARGS)
            log.sampling.append(kwargs)
            self.max_tokens = kwargs["max_tokens"]
            self.return_perf_metrics = kwargs.get("return_perf_metrics", False)

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            _accept("LLM", kwargs, TRT_LLM_ARGS)
            log.llm_kwargs.append(kwargs)
            self.tokenizer = FakeTokenizer()

        def generate(
            self,
            inputs: list[Any],
            sampling_params: SamplingParams | list[SamplingParams] | None = None,
            use_tqdm: bool = True,
        ) -> list[Any]:
            assert sampling_params is not None
            log.prompts.extend(inputs)
            first = sampling_params[0] if isinstance(sampling_params, list) else sampling_params
            return _trt_outputs(inputs, _lengths(sampling_params, len(inputs)), first.return_perf_metrics)

        def save(self, path: str) -> None:
            (Path(path) / "config.json").write_text("{}")
            (Path(path) / "rank0.engine").write_bytes(b"engine")
            log.saved.append(path)

        def shutdown(self) -> None:
            log.shutdown += 1

    mod.LLM = LLM  # type: ignore[attr-defined]
    mod.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    mod.llmapi = llmapi  # type: ignore[attr-defined]
    llmapi.KvCacheConfig = KvCacheConfig  # type: ignore[attr-defined]
    return mod, llmapi


def _trt_outputs(prompts: list[Any], lengths: list[int], with_perf: bool) -> list[Any]:
    """Like TensorRT-LLM's RequestOutput: steady-clock ``timedelta`` stamps under request_perf_metrics."""
    time.sleep(0.05)
    t0 = timedelta(seconds=500.0)
    out = []
    for i, ids in enumerate(prompts):
        max_tokens = lengths[i]
        perf = (
            types.SimpleNamespace(
                timing_metrics=types.SimpleNamespace(
                    arrival_time=t0,
                    first_scheduled_time=t0,
                    first_token_time=t0 + timedelta(seconds=0.02 * (i + 1)),
                    last_token_time=t0 + timedelta(seconds=0.02 * (i + 1) + 0.004 * (max_tokens - 1)),
                )
            )
            if with_perf
            else None
        )
        out.append(
            types.SimpleNamespace(
                prompt_token_ids=ids,
                outputs=[types.SimpleNamespace(token_ids=list(range(max_tokens)), request_perf_metrics=perf)],
            )
        )
    return out
