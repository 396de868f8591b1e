"""Prompt sets, in the unit: the built-in set, a dataset file or Hugging Face dataset, or synthetic tokens.

The reading, filtering and seeded drawing live in ``llenergymeasure.workload``; this module turns a
config into the prompts (and, under ``output_lengths: dataset``, the output lengths) of each pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from llenergymeasure.backends.base import Prompt
from llenergymeasure.config.experiment import (
    BuiltinDataset,
    ExperimentConfig,
    HfDataset,
    JsonlDataset,
    ShareGptDataset,
    SyntheticDataset,
    TableDataset,
)
from llenergymeasure.errors import ConfigError
from llenergymeasure.workload.readers import read_jsonl, read_rows
from llenergymeasure.workload.rows import DatasetRow
from llenergymeasure.workload.select import draw_sets, filter_rows, output_lengths, repeat_note, synthetic_rows

CountTokens = Callable[[Sequence[str]], list[int]]


def builtin_prompts() -> list[str]:
    """The prompt set shipped with the package."""
    text = resources.files("llenergymeasure.experiment").joinpath("data/prompts.jsonl").read_text("utf-8")
    return [json.loads(line)["prompt"] for line in text.splitlines() if line.strip()]


def jsonl_prompts(path: Path, field: str) -> list[str]:
    """Prompts from one field of each line of a JSON-lines file."""
    return [str(r.prompt) for r in read_jsonl(path, field)]


def select_prompts(config: ExperimentConfig, vocab_size: int) -> list[Prompt]:
    """``n_prompts`` prompts for one pass of the measured window, seeded so every cycle sees the same ones."""
    return select_prompt_sets(config, vocab_size, 1).sets[0]


@dataclass(frozen=True)
class PromptSets:
    """One prompt set per pass of a window; ``distinct`` passes hold prompts no earlier pass held.

    ``note`` says why prompts repeat inside a window, when they do: a window longer than one pass
    must not send an engine the same prompt twice, or KV/prefix reuse would make its prefill a
    cache hit. It also counts dataset records that were skipped. ``output_tokens`` (only under
    ``output_lengths: dataset``) holds each request's output length, parallel to ``sets``; a row
    that gives none gets ``max_output_tokens``.
    """

    sets: list[list[Prompt]]
    distinct: int
    note: str | None
    output_tokens: list[list[int]] | None = None


def needs_tokenizer(config: ExperimentConfig) -> bool:
    """Whether ``select_prompt_sets`` needs ``count_tokens``: length filters, or reference texts as output lengths."""
    ds = config.dataset
    bounds = getattr(ds, "filter", None)
    if bounds is not None and any(v is not None for v in bounds.model_dump().values()):
        return True
    return config.output_lengths == "dataset" and isinstance(ds, ShareGptDataset | TableDataset | HfDataset)


def _where(ds: BuiltinDataset | JsonlDataset | ShareGptDataset | TableDataset | HfDataset) -> str:
    if isinstance(ds, BuiltinDataset):
        return "the built-in set"
    if isinstance(ds, HfDataset):
        return ds.path or f"hf dataset {ds.name}"
    return ds.path


def select_prompt_sets(
    config: ExperimentConfig, vocab_size: int, n_sets: int, count_tokens: CountTokens | None = None
) -> PromptSets:
    """``n_sets`` passes of ``n_prompts`` prompts each, drawn without repeats for as long as the dataset allows.

    The first set is the same for any ``n_sets`` (and in every cycle): more passes draw further prompts
    from the same seeded order. Synthetic prompts never run out; a file's (or the built-in set's) do,
    and then passes start over from its first prompt, with a note. ``count_tokens`` (the model's
    tokenizer: texts -> token counts) is needed when ``needs_tokenizer(config)``; ``dataset.filter``
    is applied before the draw.
    """
    ds, n = config.dataset, config.n_prompts
    want_outputs = config.output_lengths == "dataset"
    if isinstance(ds, SyntheticDataset):
        flat = synthetic_rows(ds, n * n_sets, config.seed, vocab_size)
        sets: list[list[Prompt]] = [[r.prompt for r in flat[k * n : (k + 1) * n]] for k in range(n_sets)]
        outputs = None
        if want_outputs:
            lengths = [r.output if isinstance(r.output, int) else config.max_output_tokens for r in flat]
            outputs = [lengths[k * n : (k + 1) * n] for k in range(n_sets)]
        return PromptSets(sets, n_sets, None, outputs)
    skipped = 0
    if isinstance(ds, BuiltinDataset):
        rows = [DatasetRow(p) for p in builtin_prompts()]
    else:
        rows, skipped = read_rows(ds)
        if ds.filter is not None:
            total = len(rows)
            rows = filter_rows(rows, ds.filter, count_tokens)
            if not rows:
                raise ConfigError(f"{_where(ds)}: dataset.filter keeps none of its {total} prompts; widen the bounds")
    picks, distinct = draw_sets(len(rows), n, n_sets, config.seed)
    sets = [[rows[i].prompt for i in s] for s in picks]
    outputs = None
    if want_outputs:
        used = sorted({i for s in picks for i in s})
        found = dict(zip(used, output_lengths([rows[i] for i in used], count_tokens), strict=True))
        outputs = [[found[i] or config.max_output_tokens for i in s] for s in picks]
    notes = [repeat_note(_where(ds), len(rows), n, n_sets, distinct)]
    if skipped:
        notes.insert(0, f"{_where(ds)}: {skipped} records skipped (no user turn followed by a reply)")
    note = "; ".join(x for x in notes if x) or None
    return PromptSets(sets, distinct, note, outputs)
