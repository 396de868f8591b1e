"""Settings of the TensorRT-LLM backend; light, imported on the host."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrtllmConfig(BaseModel):
    """Arguments of TensorRT-LLM's ``LLM`` API that change energy per token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tensor_parallel_size: int = Field(1, ge=1, le=64, description="GPUs the engine is sharded over.")
    max_batch_size: int = Field(8, ge=1, description="Largest in-flight batch the engine is built for.")
    max_num_tokens: int | None = Field(None, ge=1, description="Token budget per engine step.")
    kv_cache_free_gpu_memory_fraction: float = Field(
        0.9, gt=0.0, le=1.0, description="Fraction of free GPU memory given to the KV cache."
    )
    enable_block_reuse: bool = Field(
        False,
        description=(
            "Reuse KV cache blocks across requests (KvCacheConfig.enable_block_reuse, True in TensorRT-LLM). Off "
            "by default: with it on, a repeated prompt's prefill is a cache hit and the prefill/decode split "
            "measures the cache, not the prefill."
        ),
    )
    engine_cache_dir: str | None = Field(
        None,
        description="Where built engines are kept and reused, keyed by build settings; None builds each run.",
    )

    def concurrent_sequences(self, n_prompts: int) -> int:
        """Sequences in flight at once when every prompt is submitted together: the measured batch shape."""
        return min(n_prompts, self.max_batch_size)

    def gpu_count(self) -> int:
        """GPUs a run uses: the engine shards the model over the first ``tensor_parallel_size`` visible GPUs."""
        return self.tensor_parallel_size
