"""Length filters and the seeded draw of prompt sets (pure: rows and token counts in, indices out)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from llenergymeasure.config.datasets import LengthFilter, SyntheticDataset
from llenergymeasure.workload.lengths import draw_lengths, stream
from llenergymeasure.workload.rows import DatasetRow

CountTokens = Callable[[Sequence[str]], list[int]]


def _counter(count_tokens: CountTokens | None, why: str) -> CountTokens:
    if count_tokens is None:
        raise ValueError(f"{why} needs the model's tokenizer: pass count_tokens (see prompts.needs_tokenizer)")
    return count_tokens


def output_lengths(rows: Sequence[DatasetRow], count_tokens: CountTokens | None) -> list[int | None]:
    """Each row's output length in tokens: its integer, its reference text's token count, or None; at least 1."""
    texts = [r.output for r in rows if isinstance(r.output, str)]
    counted = iter(_counter(count_tokens, "a reference reply's length")(texts)) if texts else iter(())
    out: list[int | None] = []
    for r in rows:
        if r.output is None:
            out.append(None)
        else:
            out.append(max(1, next(counted) if isinstance(r.output, str) else r.output))
    return out


def _within(value: int | None, low: int | None, high: int | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def filter_rows(rows: Sequence[DatasetRow], bounds: LengthFilter, count_tokens: CountTokens | None) -> list[DatasetRow]:
    """The rows whose prompt and output token counts lie within ``bounds`` (inclusive), in their order.

    A row without an output length fails any output bound. Token-id prompts count their ids.
    """
    count = _counter(count_tokens, "dataset.filter")
    texts = [r.prompt for r in rows if isinstance(r.prompt, str)]
    counted = iter(count(texts)) if texts else iter(())
    inputs = [next(counted) if isinstance(r.prompt, str) else len(r.prompt) for r in rows]
    outputs = output_lengths(rows, count) if bounds.bounds_outputs() else [None] * len(rows)
    return [
        r
        for r, n_in, n_out in zip(rows, inputs, outputs, strict=True)
        if _within(n_in, bounds.min_input_tokens, bounds.max_input_tokens)
        and _within(n_out, bounds.min_output_tokens, bounds.max_output_tokens)
    ]


def draw_sets(pool_size: int, n: int, n_sets: int, seed: int) -> tuple[list[list[int]], int]:
    """Indices of ``n_sets`` sets of ``n`` rows from a seeded shuffle of the pool, and how many sets are distinct.

    Set k takes positions k*n .. (k+1)*n of the shuffled order, wrapping to its start when the pool
    runs out: the first set is the same for any ``n_sets``.
    """
    order = list(range(pool_size))
    random.Random(seed).shuffle(order)
    sets = [[order[i % pool_size] for i in range(k * n, (k + 1) * n)] for k in range(n_sets)]
    return sets, min(n_sets, pool_size // n)


def repeat_note(where: str, pool_size: int, n: int, n_sets: int, distinct: int) -> str | None:
    """Why prompts repeat inside a window, when they do (None when they don't)."""
    if n > pool_size:
        return (
            f"{where} holds {pool_size} prompts, fewer than n_prompts {n}: prompts repeat within every pass; "
            "KV/prefix reuse makes repeats cache hits, so keep it off or use a larger (or synthetic) dataset"
        )
    if distinct < n_sets:
        return (
            f"{where} holds {pool_size} prompts, {distinct} passes of {n}: passes after pass {distinct} of a "
            "window repeat prompts; KV/prefix reuse makes repeats cache hits, so keep it off or use a larger "
            "(or synthetic) dataset"
        )
    return None


def synthetic_rows(dataset: SyntheticDataset, count: int, seed: int, vocab_size: int) -> list[DatasetRow]:
    """``count`` synthetic prompts of random token ids, with output lengths when the dataset draws them.

    Token ids come from one generator seeded by ``seed`` (the lowest ids are skipped: tokenizers put
    special tokens there); lengths and the shared prefix from their own streams, so a config without
    them draws exactly the prompts it always did, and the first k prompts are the same for any count.
    """
    rng = random.Random(seed)
    low = min(10, vocab_size - 1)
    if dataset.input is None:
        sizes = [dataset.input_tokens] * count
    else:
        sizes = draw_lengths(dataset.input, count, stream(seed, "input"))
    prefix_rng = stream(seed, "prefix")
    prefix = [prefix_rng.randrange(low, vocab_size) for _ in range(dataset.prefix_tokens)]
    outputs: list[int] | list[None] = (
        draw_lengths(dataset.output, count, stream(seed, "output")) if dataset.output is not None else [None] * count
    )
    return [
        DatasetRow(prefix + [rng.randrange(low, vocab_size) for _ in range(size)], out)
        for size, out in zip(sizes, outputs, strict=True)
    ]
