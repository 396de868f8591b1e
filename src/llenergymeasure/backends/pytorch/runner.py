"""PyTorch/transformers backend: static batches through ``model.generate``. Imports torch; container-side."""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from loguru import logger
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList
from transformers.utils import logging as hf_logging

from llenergymeasure.backends.base import MemoryReading, PassRunner, Prompt, RequestRecord, chunks
from llenergymeasure.backends.common import count_tokens, encode_prompts, package_versions, request_lengths
from llenergymeasure.backends.pytorch.config import PyTorchConfig, cpu_precision_warning
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.errors import BackendError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class _FirstToken:
    """Timestamps the end of a batch's first forward pass, its prefill, whose logits give the first token (TTFT).

    A forward hook on the model that removes itself when it fires: the decode steps after it run with
    no hook and no per-step call at all, as in a bare ``generate`` (a stopping criterion, the earlier
    way, is called and its answer combined with the others at every step). Only that one point is
    synchronised on CUDA: transformers defers its own stop checks so the GPU never waits for the host
    between decode steps, and a per-step synchronisation would slow the very generation being
    measured. The mean inter-token latency follows from this timestamp, the end of ``generate`` and
    the number of generated steps.
    """

    def __init__(self, sync: bool) -> None:
        self.sync = sync
        self.first: float | None = None
        self._handle: Any = None

    def arm(self, model: Any) -> None:
        """Ready for a pass: forget the last timestamp and hook the model's next forward."""
        self.first = None
        self._handle = model.register_forward_hook(self._fired)

    def disarm(self) -> None:
        """Remove the hook if it never fired (a generate that raised before its first forward returned)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _fired(self, module: Any, args: Any, output: Any) -> None:
        if self.sync:
            torch.cuda.synchronize()
        self.first = time.perf_counter()
        self.disarm()


class _RowLengths(StoppingCriteria):  # type: ignore[misc]
    """Stops each row of a static batch at its own output length (``output_lengths: dataset``).

    A tensor comparison on the device, no host synchronisation: transformers marks a stopped row
    finished and pads it while the batch steps on to its longest request, as it does after EOS.
    """

    def __init__(self, prompt_len: int, targets: torch.Tensor) -> None:
        self.prompt_len = prompt_len
        self.targets = targets

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return (input_ids.shape[1] - self.prompt_len) >= self.targets


@dataclass(frozen=True)
class _Batch:
    """One static batch, ready for ``generate``: padded tensors on the device, its clock, its prompts' ids.

    ``lengths``: each request's output length; ``gen``: generate's arguments for this batch (its
    longest request's length).
    """

    inputs: dict[str, torch.Tensor]
    ids: Sequence[list[int]]
    clock: _FirstToken
    criteria: StoppingCriteriaList | None  # only where rows stop at lengths of their own
    lengths: Sequence[int]
    gen: dict[str, Any]


@dataclass(frozen=True)
class _Prepared:
    batches: list[_Batch]
    gen: dict[str, Any]  # generate's arguments every batch shares (each batch adds its lengths)


@dataclass(frozen=True)
class _Timed:
    """One batch's output ids and the timestamps taken around and inside ``generate``."""

    output: torch.Tensor
    start_s: float
    end_s: float
    first_token_s: float | None


class PyTorchRunner(PassRunner[PyTorchConfig]):
    """Runs an experiment with transformers on CUDA when available, else the CPU."""

    name = "pytorch"

    def __init__(self, config: ExperimentConfig) -> None:
        super().__init__(config)
        want = self.settings.device
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

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text alone (reference replies, length filters)."""
        return count_tokens(self.tokenizer, texts)

    def prepare(
        self, prompts: Sequence[Prompt], max_new_tokens: int | None = None, output_tokens: Sequence[int] | None = None
    ) -> _Prepared:
        """Tokenise, pad and move every batch of ``pytorch.batch_size`` to the device; generate's arguments.

        Requests with lengths of their own (``output_tokens``) stop row by row (``_RowLengths``); a
        batch whose rows share one length runs exactly as before, with no extra criterion.
        """
        dec = self.config.decoding
        ignore = self.config.ignores_eos()
        base: dict[str, Any] = {
            "do_sample": dec.do_sample,
            "use_cache": self.settings.use_cache,
            "pad_token_id": self.tokenizer.pad_token_id,
            "repetition_penalty": dec.repetition_penalty,
        }
        if dec.do_sample:
            base.update(temperature=dec.temperature, top_p=dec.top_p, top_k=dec.top_k or None)
        encoded = encode_prompts(self.tokenizer, prompts, self.config.max_input_tokens)
        lengths = request_lengths(len(encoded), self.config.max_output_tokens, output_tokens, max_new_tokens)
        sync = self.device.type == "cuda"
        batches = []
        size = self.settings.batch_size
        for start, ids in zip(range(0, len(encoded), size), chunks(encoded, size), strict=True):
            own = lengths[start : start + len(ids)]
            longest = max(own)
            gen = {**base, "max_new_tokens": longest}
            if ignore:
                gen["min_new_tokens"] = longest  # no EOS before the longest; shorter rows stop on their length
            padded = self.tokenizer.pad({"input_ids": list(ids)}, return_tensors="pt", padding=True)
            inputs = {k: v.to(self.device) for k, v in padded.items()}
            criteria = None
            if min(own) != longest:
                targets = torch.tensor(own, dtype=torch.long, device=self.device)
                criteria = StoppingCriteriaList([_RowLengths(inputs["input_ids"].shape[1], targets)])
            batches.append(_Batch(inputs, ids, _FirstToken(sync), criteria, own, gen))
        return _Prepared(batches, base)

    def execute(self, prepared: _Prepared) -> tuple[float, list[_Timed]]:
        """Generate every batch in turn; the pass's start, and three timestamps per batch.

        Every request of the pass counts as submitted at its start, as when an engine is handed the
        whole prompt set, so a request of batch k waits for batches 1..k-1 (see ``records``).
        """
        sync = self.device.type == "cuda"
        out = []
        if sync:
            torch.cuda.synchronize()
        submitted = time.perf_counter()
        with torch.inference_mode():
            for b in prepared.batches:
                b.clock.arm(self.model)
                if sync:
                    torch.cuda.synchronize()
                start = time.perf_counter()
                try:
                    output = self.model.generate(**b.inputs, stopping_criteria=b.criteria, **b.gen)
                finally:
                    b.clock.disarm()
                if sync:
                    torch.cuda.synchronize()
                out.append(_Timed(output, start, time.perf_counter(), b.clock.first))
        return submitted, out

    def records(self, prepared: _Prepared, raw: tuple[float, list[_Timed]]) -> list[RequestRecord]:
        """Each request's record, timed from the pass's start; ``service_s`` is its own batch's generate time.

        Static batching: every request of a batch ends with its batch, so they share latency and TTFT.
        """
        submitted, timed = raw
        ignore = self.config.ignores_eos()
        eos = self.eos_ids()
        records = []
        for b, t in zip(prepared.batches, timed, strict=True):
            generated = t.output[:, b.inputs["input_ids"].shape[1] :]
            steps = generated.shape[1]
            first = t.first_token_s
            ttft = first - submitted if first is not None else None
            itl = (t.end_s - first) / (steps - 1) if first is not None and steps > 1 else None
            for ids, row, length in zip(b.ids, generated.tolist(), b.lengths, strict=True):
                n_out = min(length, _count_generated(row, eos, ignore))
                records.append(RequestRecord(len(ids), n_out, t.end_s - submitted, ttft, itl, t.end_s - t.start_s))
        return records

    def eos_ids(self) -> frozenset[int]:
        """Every id ``generate`` stops at: the generation config's (a list for many chat models) and the tokenizer's."""
        ids: set[int] = set()
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (configured, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        return frozenset(ids)

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


def _count_generated(row: list[int], eos: frozenset[int], ignore_eos: bool) -> int:
    """Tokens actually generated: everything when EOS is ignored, else up to and including the first EOS.

    ``eos`` holds every id generate stops at. Padding is not a stop: a model may emit the pad token as
    an ordinary one, and a row transformers pads after it finished has finished at an EOS (counted
    here) or at its own length (the caller's cap).
    """
    if ignore_eos or not eos:
        return len(row)
    for i, tok in enumerate(row):
        if tok in eos:
            return i + 1
    return len(row)
