"""Pieces shared by the engine runners: prompt encoding, per-request records, version lookup.

Pure or nearly so (a tokenizer is passed in), so they are tested without any engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
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


def request_lengths(n: int, default: int, own: Sequence[int] | None, cap: int | None) -> list[int]:
    """Each request's output length: its own (``output_lengths: dataset``) or ``default``, under ``cap``.

    ``cap`` is the shorter output length of the prefill/decode split's window, which shortens every
    request alike; a request already shorter keeps its own length there.
    """
    if own is not None and len(own) != n:
        raise ValueError(f"{len(own)} output lengths for {n} prompts")
    lengths = list(own) if own is not None else [default] * n
    return [min(length, cap) for length in lengths] if cap is not None else lengths


def per_request(lengths: Sequence[int], default: int, make: Callable[[int], Any]) -> Any:
    """Sampling parameters for a pass: one object when its requests share a length, else one per request.

    vLLM's and TensorRT-LLM's ``generate`` take either; one shared object keeps a uniform pass exactly
    as it was before requests had lengths of their own.
    """
    if len(set(lengths)) <= 1:
        return make(lengths[0] if lengths else default)
    return [make(n) for n in lengths]


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Tokens of each text on its own, without special tokens: a reference reply's length, a filter's measure."""
    return [len(tokenizer.encode(t, add_special_tokens=False)) for t in texts]


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


def base_sampling(
    decoding: DecodingConfig, max_tokens: int, seed: int, ignore_eos: bool | None = None
) -> dict[str, Any]:
    """Sampling arguments vLLM and TensorRT-LLM name alike; ``ignore_eos`` also pins the length.

    ``ignore_eos`` None: ``decoding.ignore_eos`` (natural output lengths pass False).
    """
    ignore = decoding.ignore_eos if ignore_eos is None else ignore_eos
    kwargs: dict[str, Any] = {
        "max_tokens": max_tokens,
        "ignore_eos": ignore,
        "repetition_penalty": decoding.repetition_penalty,
        "seed": seed,
    }
    if ignore:
        kwargs["min_tokens"] = max_tokens
    return kwargs
