"""Pieces shared by the engine runners: prompt encoding, per-request records, version lookup.

Pure or nearly so (a tokenizer is passed in), so they are tested without any engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from llenergymeasure.backends.base import Prompt, RequestRecord
from llenergymeasure.config.experiment import DecodingConfig


def encode_prompts(tokenizer: Any, prompts: Sequence[Prompt], max_input_tokens: int) -> list[list[int]]:
    """Token ids of each prompt, truncated to ``max_input_tokens``; synthetic prompts pass as ids."""
    out = []
    for p in prompts:
        ids = list(p) if isinstance(p, list) else list(tokenizer.encode(p))
        out.append(ids[:max_input_tokens])
    return out


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of ``names`` (distribution names); missing ones are left out."""
    found: dict[str, str] = {}
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def record_from_timestamps(
    n_in: int,
    n_out: int,
    arrival_s: float | None,
    first_token_s: float | None,
    finished_s: float | None,
    fallback_latency_s: float,
) -> RequestRecord:
    """A request's record from engine timestamps (same clock), or the batch wall time when absent."""
    if arrival_s is None or finished_s is None:
        return RequestRecord(n_in, n_out, fallback_latency_s)
    ttft = first_token_s - arrival_s if first_token_s is not None else None
    itl = (finished_s - first_token_s) / (n_out - 1) if first_token_s is not None and n_out > 1 else None
    return RequestRecord(n_in, n_out, finished_s - arrival_s, ttft, itl)


def base_sampling(decoding: DecodingConfig, max_tokens: int, seed: int) -> dict[str, Any]:
    """Sampling arguments vLLM and TensorRT-LLM name alike; ``ignore_eos`` also pins the length."""
    kwargs: dict[str, Any] = {
        "max_tokens": max_tokens,
        "ignore_eos": decoding.ignore_eos,
        "repetition_penalty": decoding.repetition_penalty,
        "seed": seed,
    }
    if decoding.ignore_eos:
        kwargs["min_tokens"] = max_tokens
    return kwargs
