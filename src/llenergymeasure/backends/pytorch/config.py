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

    def concurrent_sequences(self, n_prompts: int) -> int:
        """Sequences in one ``generate`` call: a static batch, the measured batch shape."""
        return min(n_prompts, self.batch_size)

    def gpu_count(self) -> int:
        """GPUs a run uses: the model sits on the first visible GPU (or on none with ``device: cpu``)."""
        return 0 if self.device == "cpu" else 1


def cpu_precision_warning(device_type: str, precision: str) -> str | None:
    """The warning for a half-precision run on the CPU, else None.

    The configured precision is what runs on every device (one config, one hash, one dtype), so a
    CPU run is never switched to fp32 behind the user's back; it is said instead, because many CPUs
    emulate bf16/fp16 and measure far slower than fp32.
    """
    if device_type != "cpu" or precision == "fp32":
        return None
    return (
        f"precision {precision} on the CPU (precision defaults to bf16 on every device): many CPUs emulate "
        f"{precision} and run slower than fp32; set precision: fp32 for CPU runs"
    )
