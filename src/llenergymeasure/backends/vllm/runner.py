"""vLLM backend: the offline ``LLM`` engine. Imports vLLM; runs only inside the vllm container."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import Any

from llenergymeasure.backends.base import MemoryReading, RequestRecord
from llenergymeasure.backends.common import base_sampling, encode_prompts, package_versions, record_from_timestamps
from llenergymeasure.backends.vllm.config import VllmConfig
from llenergymeasure.config.experiment import DecodingConfig, ExperimentConfig
from llenergymeasure.experiment.prompts import Prompt

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def engine_kwargs(config: ExperimentConfig, settings: VllmConfig, model_path: str) -> dict[str, Any]:
    """Arguments of ``vllm.LLM``: the vllm section, precision mapped, unset options left to vLLM."""
    kwargs: dict[str, Any] = {
        "model": model_path,
        "dtype": DTYPES[config.precision],
        "seed": config.seed,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "max_num_seqs": settings.max_num_seqs,
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "enforce_eager": settings.enforce_eager,
        "enable_prefix_caching": settings.enable_prefix_caching,
        "kv_cache_dtype": settings.kv_cache_dtype,
        "disable_log_stats": False,  # keeps per-request timing metrics on RequestOutput
    }
    optional = {
        "max_num_batched_tokens": settings.max_num_batched_tokens,
        "enable_chunked_prefill": settings.enable_chunked_prefill,
        "quantization": settings.quantization,
        "max_model_len": settings.max_model_len,
        "block_size": settings.block_size,
    }
    kwargs.update({k: v for k, v in optional.items() if v is not None})
    return kwargs


def sampling_kwargs(decoding: DecodingConfig, max_tokens: int, seed: int) -> dict[str, Any]:
    """Arguments of ``vllm.SamplingParams``; greedy is temperature 0 in vLLM."""
    kwargs = {"n": 1, **base_sampling(decoding, max_tokens, seed)}
    if decoding.do_sample:
        kwargs.update(temperature=decoding.temperature, top_p=decoding.top_p, top_k=decoding.top_k or -1)
    else:
        kwargs.update(temperature=0.0, top_p=1.0, top_k=-1)
    return kwargs


class VllmRunner:
    """Generates all prompts in one ``LLM.generate`` call: vLLM schedules continuous batches itself."""

    name = "vllm"

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        section = config.backend_section()
        assert isinstance(section, VllmConfig)
        self.settings = section
        self.llm: Any = None
        self.tokenizer: Any = None

    def load(self, model_path: str) -> None:
        """Start the engine (weights, KV cache, CUDA graphs); outside the measured window."""
        from vllm import LLM

        self.llm = LLM(**engine_kwargs(self.config, self.settings, model_path))
        self.tokenizer = self.llm.get_tokenizer()

    @property
    def vocab_size(self) -> int:
        """Tokenizer vocabulary size."""
        return len(self.tokenizer)

    def run(self, prompts: Sequence[Prompt]) -> list[RequestRecord]:
        """Submit every prompt at once as token ids and read per-request timings where vLLM reports them."""
        from vllm import SamplingParams

        ids = encode_prompts(self.tokenizer, prompts, self.config.max_input_tokens)
        params = SamplingParams(
            **sampling_kwargs(self.config.decoding, self.config.max_output_tokens, self.config.seed)
        )
        start = time.perf_counter()
        outputs = self.llm.generate([{"prompt_token_ids": p} for p in ids], params, use_tqdm=False)
        wall = time.perf_counter() - start
        records = []
        for prompt_ids, out in zip(ids, outputs, strict=True):
            n_out = len(out.outputs[0].token_ids)
            m = getattr(out, "metrics", None)
            records.append(
                record_from_timestamps(
                    len(prompt_ids),
                    n_out,
                    getattr(m, "arrival_time", None),
                    getattr(m, "first_token_time", None),
                    getattr(m, "finished_time", None) or getattr(m, "last_token_time", None),
                    wall,
                )
            )
        return records

    def memory(self) -> MemoryReading:
        """Peak device memory comes from NVML: vLLM workers may live in other processes."""
        return MemoryReading(None, "cuda")

    def versions(self) -> dict[str, str]:
        """vLLM, torch and transformers versions."""
        return package_versions("vllm", "torch", "transformers")

    def describe(self) -> dict[str, Any]:
        """Device and (where the engine exposes it) parameter count."""
        return {"device": "cuda", "n_parameters": None}

    def teardown(self) -> None:
        """Drop the engine; the process ends right after, which frees the GPU for certain."""
        self.llm = None
        gc.collect()
