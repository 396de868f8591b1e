"""Fakes of the vLLM and TensorRT-LLM engine objects (the engine edge of the tests).

They record what the real backend code passes them and answer with objects shaped like the
engines' own outputs, so the runners' mapping, tokenization and timing logic is exercised
exactly as it is in the containers.
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
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


def _outputs(prompts: list[Any], max_tokens: int, with_metrics: bool) -> list[Any]:
    t0 = time.time()
    time.sleep(0.05)  # the "GPU" works; the fake NVML integrates power meanwhile
    out = []
    for i, p in enumerate(prompts):
        ids = p["prompt_token_ids"] if isinstance(p, dict) else p
        metrics = (
            types.SimpleNamespace(
                arrival_time=t0,
                first_token_time=t0 + 0.01 * (i + 1),
                finished_time=t0 + 0.05,
                last_token_time=t0 + 0.05,
            )
            if with_metrics
            else None
        )
        out.append(
            types.SimpleNamespace(
                prompt_token_ids=ids,
                metrics=metrics,
                outputs=[types.SimpleNamespace(token_ids=list(range(max_tokens)))],
            )
        )
    return out


def fake_vllm(log: FakeEngineLog) -> types.ModuleType:
    mod = types.ModuleType("vllm")

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            log.sampling.append(kwargs)
            self.max_tokens = kwargs["max_tokens"]

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            log.llm_kwargs.append(kwargs)

        def get_tokenizer(self) -> FakeTokenizer:
            return FakeTokenizer()

        def generate(self, prompts: list[Any], params: SamplingParams, use_tqdm: bool = True) -> list[Any]:
            log.prompts.extend(prompts)
            return _outputs(prompts, params.max_tokens, with_metrics=True)

    mod.LLM = LLM  # type: ignore[attr-defined]
    mod.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    return mod


def fake_tensorrt_llm(log: FakeEngineLog) -> tuple[types.ModuleType, types.ModuleType]:
    mod = types.ModuleType("tensorrt_llm")
    llmapi = types.ModuleType("tensorrt_llm.llmapi")

    class KvCacheConfig:
        def __init__(self, free_gpu_memory_fraction: float) -> None:
            self.free_gpu_memory_fraction = free_gpu_memory_fraction

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            log.sampling.append(kwargs)
            self.max_tokens = kwargs["max_tokens"]

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            log.llm_kwargs.append(kwargs)
            self.tokenizer = FakeTokenizer()

        def generate(self, prompts: list[Any], params: SamplingParams, use_tqdm: bool = True) -> list[Any]:
            log.prompts.extend(prompts)
            return _outputs(prompts, params.max_tokens, with_metrics=False)

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
