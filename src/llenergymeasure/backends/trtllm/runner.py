"""TensorRT-LLM backend: its 1.x ``LLM`` API. Imports tensorrt_llm; runs only inside the trtllm container."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from llenergymeasure.backends.base import MemoryReading, PassRunner, Prompt, RequestRecord
from llenergymeasure.backends.common import (
    base_sampling,
    count_tokens,
    encode_prompts,
    package_versions,
    per_request,
    record_from_timestamps,
    request_lengths,
)
from llenergymeasure.backends.trtllm.config import TrtllmConfig
from llenergymeasure.config.experiment import DecodingConfig, ExperimentConfig
from llenergymeasure.config.identity import stable_hash
from llenergymeasure.errors import BackendError

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def build_key(config: ExperimentConfig, settings: TrtllmConfig) -> str:
    """Identity of a built engine: everything that changes what TensorRT compiles."""
    return stable_hash(
        {
            "model": config.model,
            "dtype": DTYPES[config.precision],
            "tp": settings.tensor_parallel_size,
            "max_batch_size": settings.max_batch_size,
            "max_num_tokens": settings.max_num_tokens,
            "max_seq_len": config.max_input_tokens + config.max_output_tokens,
        }
    )


def llm_kwargs(config: ExperimentConfig, settings: TrtllmConfig, model: str, kv_cache_config: Any) -> dict[str, Any]:
    """Arguments of ``tensorrt_llm.LLM``."""
    kwargs: dict[str, Any] = {
        "model": model,
        "dtype": DTYPES[config.precision],
        "tensor_parallel_size": settings.tensor_parallel_size,
        "max_batch_size": settings.max_batch_size,
        "max_seq_len": config.max_input_tokens + config.max_output_tokens,
        "kv_cache_config": kv_cache_config,
    }
    if settings.max_num_tokens is not None:
        kwargs["max_num_tokens"] = settings.max_num_tokens
    return kwargs


def sampling_kwargs(
    decoding: DecodingConfig, max_tokens: int, seed: int, ignore_eos: bool | None = None
) -> dict[str, Any]:
    """Arguments of ``tensorrt_llm.SamplingParams``; greedy is top_k=1 there; perf metrics carry per-request timings."""
    kwargs = {**base_sampling(decoding, max_tokens, seed, ignore_eos), "return_perf_metrics": True}
    if decoding.do_sample:
        kwargs.update(temperature=decoding.temperature, top_p=decoding.top_p)
        if decoding.top_k:
            kwargs["top_k"] = decoding.top_k
    else:
        kwargs["top_k"] = 1
    return kwargs


class TrtllmRunner(PassRunner[TrtllmConfig]):
    """Generates all prompts through the LLM API's in-flight batching; reuses built engines when cached."""

    name = "trtllm"

    def __init__(self, config: ExperimentConfig) -> None:
        super().__init__(config)
        self.llm: Any = None
        self.tokenizer: Any = None
        self.engine_source = "built"

    def load(self, model_path: str) -> None:
        """Load a cached engine for these build settings, or build one (and cache it when asked)."""
        from tensorrt_llm import LLM
        from tensorrt_llm.llmapi import KvCacheConfig

        kv = KvCacheConfig(
            free_gpu_memory_fraction=self.settings.kv_cache_free_gpu_memory_fraction,
            enable_block_reuse=self.settings.enable_block_reuse,
        )
        cache = self._engine_dir()
        if cache is not None and (cache / "config.json").is_file():
            self.engine_source = f"cache:{cache}"
            kwargs = llm_kwargs(self.config, self.settings, str(cache), kv)
            kwargs["tokenizer"] = model_path
            self.llm = LLM(**kwargs)
        else:
            self.llm = LLM(**llm_kwargs(self.config, self.settings, model_path, kv))
            if cache is not None:
                self._save_engine(cache)
        self.tokenizer = self.llm.tokenizer

    def _engine_dir(self) -> Path | None:
        if not self.settings.engine_cache_dir:
            return None
        return Path(self.settings.engine_cache_dir) / build_key(self.config, self.settings)

    def _save_engine(self, target: Path) -> None:
        """Publish the built engine by renaming a finished temp dir, so a crash never leaves half an engine."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            self.llm.save(str(tmp))
            os.rename(tmp, target)
            logger.info("engine cached at {}", target)
        except (OSError, AttributeError, RuntimeError) as exc:  # e.g. the PyTorch flow has no engine to save
            logger.warning("engine not cached: {}", exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @property
    def vocab_size(self) -> int:
        """Tokenizer vocabulary size."""
        return len(self.tokenizer)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text alone (reference replies, length filters)."""
        return count_tokens(self.tokenizer, texts)

    def prepare(
        self, prompts: Sequence[Prompt], max_new_tokens: int | None = None, output_tokens: Sequence[int] | None = None
    ) -> tuple[list[list[int]], Any]:
        """Every prompt as token ids, and the sampling parameters (one per request when lengths differ)."""
        from tensorrt_llm import SamplingParams

        ids = encode_prompts(self.tokenizer, prompts, self.config.max_input_tokens)
        lengths = request_lengths(len(ids), self.config.max_output_tokens, output_tokens, max_new_tokens)
        longest = max((len(p) + n for p, n in zip(ids, lengths, strict=True)), default=0)
        capacity = self.config.max_input_tokens + self.config.max_output_tokens
        if longest > capacity:
            # The engine is built for max_input_tokens + max_output_tokens: a dataset's (or trace's) longer
            # request would be refused by TensorRT-LLM mid-window; say so before the window opens.
            raise BackendError(
                f"a request needs {longest} tokens of context, but the TensorRT-LLM engine holds max_input_tokens + "
                f"max_output_tokens = {capacity}; raise max_output_tokens to at least "
                f"{longest - self.config.max_input_tokens} (or filter the dataset: filter.max_output_tokens)"
            )
        dec, seed, ignore = self.config.decoding, self.config.seed, self.config.ignores_eos()
        params = per_request(
            lengths, self.config.max_output_tokens, lambda n: SamplingParams(**sampling_kwargs(dec, n, seed, ignore))
        )
        return ids, params

    def execute(self, prepared: tuple[list[list[int]], Any]) -> tuple[list[Any], float]:
        """Submit every prompt through in-flight batching; the outputs and the call's wall time."""
        ids, params = prepared
        start = time.perf_counter()
        outputs = self.llm.generate(ids, params, use_tqdm=False)
        return outputs, time.perf_counter() - start

    def records(self, prepared: tuple[list[list[int]], Any], raw: tuple[list[Any], float]) -> list[RequestRecord]:
        """Per-request timings from each output's ``request_perf_metrics``, after the window."""
        outputs, wall = raw
        records = []
        for p, out in zip(prepared[0], outputs, strict=True):
            first = out.outputs[0]
            timing = getattr(first.request_perf_metrics, "timing_metrics", None)  # None when not returned
            records.append(
                record_from_timestamps(
                    len(p),
                    len(first.token_ids),
                    _seconds(getattr(timing, "arrival_time", None)),
                    _seconds(getattr(timing, "first_token_time", None)),
                    _seconds(getattr(timing, "last_token_time", None)),
                    wall,
                )
            )
        return records

    def memory(self) -> MemoryReading:
        """Engine memory is outside torch's allocator; peak device memory comes from NVML instead."""
        return MemoryReading(None, "cuda")

    def versions(self) -> dict[str, str]:
        """TensorRT-LLM, TensorRT, torch and transformers versions."""
        return package_versions("tensorrt_llm", "tensorrt", "torch", "transformers")

    def describe(self) -> dict[str, Any]:
        """Device and where the engine came from."""
        return {"device": "cuda", "n_parameters": None, "engine_source": self.engine_source}

    def teardown(self) -> None:
        """Shut the executor down so its worker processes exit before the container does."""
        if self.llm is not None and hasattr(self.llm, "shutdown"):
            self.llm.shutdown()
        self.llm = None
        gc.collect()


def _seconds(stamp: Any) -> float | None:
    """A TensorRT-LLM steady-clock stamp (a ``timedelta`` since the clock's epoch) in seconds; zero is unset."""
    if stamp is None:
        return None
    value = stamp.total_seconds() if hasattr(stamp, "total_seconds") else float(stamp)
    return value if value > 0 else None
