"""PyTorch/transformers backend: static batches through ``model.generate``. Imports torch; container-side."""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from typing import Any

import torch
from loguru import logger
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList
from transformers.utils import logging as hf_logging

from llenergymeasure.backends.base import MemoryReading, RequestRecord, chunks
from llenergymeasure.backends.common import encode_prompts, package_versions
from llenergymeasure.backends.pytorch.config import PyTorchConfig, cpu_precision_warning
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.errors import BackendError
from llenergymeasure.experiment.prompts import Prompt

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class _StepClock(StoppingCriteria):  # type: ignore[misc]
    """Timestamps the first generated token (never stops generation), for TTFT.

    Only the first step is synchronised and timed: transformers defers its own stop checks so the
    GPU never waits for the host between decode steps, and a per-step synchronisation here would
    undo that and slow the very generation being measured. The mean inter-token latency follows
    from this timestamp, the end of ``generate`` and the number of generated steps.
    """

    def __init__(self, sync: bool) -> None:
        self.sync = sync
        self.first: float | None = None
        self._never: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if self._never is None:
            if self.sync:
                torch.cuda.synchronize()
            self.first = time.perf_counter()
            self._never = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return self._never


class PyTorchRunner:
    """Runs an experiment with transformers on CUDA when available, else the CPU."""

    name = "pytorch"

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        section = config.backend_section()
        assert isinstance(section, PyTorchConfig)
        self.settings = section
        want = section.device
        if want == "cuda" and not torch.cuda.is_available():
            raise BackendError("pytorch.device is 'cuda' but torch sees no GPU; use device: auto or cpu")
        self.device = torch.device("cuda" if want in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
        self.model: Any = None
        self.tokenizer: Any = None

    def load(self, model_path: str) -> None:
        """Load tokenizer and weights at the configured precision."""
        hf_logging.disable_progress_bar()
        if self.settings.num_threads:
            torch.set_num_threads(self.settings.num_threads)
        torch.manual_seed(self.config.seed)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        warning = cpu_precision_warning(self.device.type, self.config.precision)
        if warning:
            logger.warning(warning)
        kwargs: dict[str, Any] = {"dtype": DTYPES[self.config.precision]}
        if self.settings.attn_implementation:
            kwargs["attn_implementation"] = self.settings.attn_implementation
        self.model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs).to(self.device).eval()
        if self.settings.torch_compile:
            self.model.forward = torch.compile(self.model.forward)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    @property
    def vocab_size(self) -> int:
        """Tokenizer vocabulary size."""
        return len(self.tokenizer)

    def run(self, prompts: Sequence[Prompt], max_new_tokens: int | None = None) -> list[RequestRecord]:
        """Generate in batches of ``pytorch.batch_size``; each request's latency is its batch's."""
        records: list[RequestRecord] = []
        for batch in chunks(
            encode_prompts(self.tokenizer, prompts, self.config.max_input_tokens), self.settings.batch_size
        ):
            records.extend(self._generate(batch, max_new_tokens or self.config.max_output_tokens))
        return records

    def _generate(self, batch: Sequence[list[int]], new: int) -> list[RequestRecord]:
        padded = self.tokenizer.pad({"input_ids": list(batch)}, return_tensors="pt", padding=True)
        padded = {k: v.to(self.device) for k, v in padded.items()}
        dec = self.config.decoding
        gen: dict[str, Any] = {
            "max_new_tokens": new,
            "do_sample": dec.do_sample,
            "use_cache": self.settings.use_cache,
            "pad_token_id": self.tokenizer.pad_token_id,
            "repetition_penalty": dec.repetition_penalty,
        }
        if dec.do_sample:
            gen.update(temperature=dec.temperature, top_p=dec.top_p, top_k=dec.top_k or None)
        if dec.ignore_eos:
            gen["min_new_tokens"] = new
        clock = _StepClock(sync=self.device.type == "cuda")
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(**padded, stopping_criteria=StoppingCriteriaList([clock]), **gen)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        latency = time.perf_counter() - start
        prompt_len = padded["input_ids"].shape[1]
        generated = output[:, prompt_len:]
        pad = self.tokenizer.pad_token_id
        eos = self.tokenizer.eos_token_id
        steps = generated.shape[1]
        ttft = clock.first - start if clock.first is not None else None
        itl = (start + latency - clock.first) / (steps - 1) if clock.first is not None and steps > 1 else None
        records = []
        for ids, row in zip(batch, generated, strict=True):
            n_out = _count_generated(row.tolist(), pad, eos, dec.ignore_eos)
            records.append(RequestRecord(len(ids), n_out, latency, ttft, itl))
        return records

    def memory(self) -> MemoryReading:
        """CUDA peak allocated bytes, or this process's peak RSS on the CPU (imports and runtime included).

        On the CPU no allocator separates the model's share, so the figure is labelled for what it is.
        """
        if self.device.type == "cuda":
            return MemoryReading(int(torch.cuda.max_memory_allocated(self.device)), "cuda", "torch_allocated")
        return MemoryReading(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "cpu", "process_rss")

    def versions(self) -> dict[str, str]:
        """torch, transformers and CUDA versions."""
        return package_versions("torch", "transformers") | {"cuda": str(torch.version.cuda)}

    def describe(self) -> dict[str, Any]:
        """Parameter count (for the FLOPs estimate) and device."""
        return {"n_parameters": int(sum(p.numel() for p in self.model.parameters())), "device": str(self.device)}

    def teardown(self) -> None:
        """Drop the model and free GPU memory."""
        self.model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _count_generated(row: list[int], pad: int | None, eos: int | None, ignore_eos: bool) -> int:
    """Tokens actually generated: everything when EOS is ignored, else up to and including the first EOS."""
    if ignore_eos:
        return len(row)
    for i, tok in enumerate(row):
        if tok == eos:
            return i + 1
        if tok == pad and pad != eos:
            return i
    return len(row)
