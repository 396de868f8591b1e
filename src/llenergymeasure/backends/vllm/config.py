"""Settings of the vLLM backend; light, imported on the host."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class VllmConfig(BaseModel):
    """Arguments of vLLM's offline ``LLM`` engine that change energy per token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tensor_parallel_size: int = Field(1, ge=1, le=64, description="GPUs the model is sharded over.")
    max_num_seqs: int = Field(256, ge=1, description="Maximum sequences in one scheduler batch.")
    max_num_batched_tokens: int | None = Field(None, ge=1, description="Token budget per scheduler step.")
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0, description="Fraction of GPU memory vLLM may claim.")
    enforce_eager: bool = Field(False, description="Disable CUDA graphs.")
    enable_prefix_caching: bool = Field(False, description="Share KV blocks between common prefixes.")
    enable_chunked_prefill: bool | None = Field(None, description="None keeps vLLM's default.")
    quantization: Literal["awq", "awq_marlin", "gptq", "gptq_marlin", "fp8", "compressed-tensors"] | None = Field(
        None, description="Weight quantization method (names as vLLM 0.3x spells them); None runs the checkpoint's own."
    )
    kv_cache_dtype: Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2"] = Field("auto", description="KV cache dtype.")
    max_model_len: int | None = Field(None, ge=16, description="Context length cap; None uses the model's.")
    block_size: Literal[8, 16, 32] | None = Field(None, description="KV cache block size in tokens.")
    kv_cache_memory_bytes: int | None = Field(
        None,
        ge=2**20,
        description="KV cache size in bytes, overriding gpu_memory_utilization's share; None lets vLLM size it "
        "(64 MiB for the built-in tiny models: on a CPU vLLM would otherwise take half the RAM).",
    )

    def concurrent_sequences(self, n_prompts: int) -> int:
        """Sequences in flight at once when every prompt is submitted together: the measured batch shape."""
        return min(n_prompts, self.max_num_seqs)

    def gpu_count(self) -> int:
        """GPUs a run uses: the engine shards the model over the first ``tensor_parallel_size`` visible GPUs."""
        return self.tensor_parallel_size
