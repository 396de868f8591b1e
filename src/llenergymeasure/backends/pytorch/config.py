"""Settings of the PyTorch/transformers backend; light, imported on the host."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PyTorchConfig(BaseModel):
    """Knobs of ``transformers.generate`` that change energy per token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(1, ge=1, le=4096, description="Prompts per generate() call (static batching).")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' uses CUDA when torch sees a GPU, else the CPU."
    )
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] | None = Field(
        None, description="Attention kernel; None lets transformers choose."
    )
    use_cache: bool = Field(True, description="Reuse the KV cache across decode steps.")
    torch_compile: bool = Field(False, description="Wrap the model in torch.compile before warmup.")
    num_threads: int | None = Field(
        None, ge=1, description="torch.set_num_threads for CPU runs; None keeps torch's default."
    )
