"""Prompt sets: the built-in one, a user's .jsonl, or synthetic token sequences."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from llenergymeasure.backends.base import Prompt
from llenergymeasure.config.experiment import BuiltinDataset, ExperimentConfig, JsonlDataset, SyntheticDataset
from llenergymeasure.errors import ConfigError


def builtin_prompts() -> list[str]:
    """The prompt set shipped with the package."""
    text = resources.files("llenergymeasure.experiment").joinpath("data/prompts.jsonl").read_text("utf-8")
    return [json.loads(line)["prompt"] for line in text.splitlines() if line.strip()]


def jsonl_prompts(path: Path, field: str) -> list[str]:
    """Prompts from one field of each line of a JSON-lines file."""
    prompts: list[str] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: dataset unreadable ({exc.strerror or exc}); fix dataset.path") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ConfigError(f"{path}:{n}: not valid JSON; each line must be an object") from None
        if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
            raise ConfigError(f"{path}:{n}: no string field {field!r}; set dataset.field to the prompt key")
        prompts.append(obj[field])
    if not prompts:
        raise ConfigError(f"{path}: dataset has no prompts")
    return prompts


def select_prompts(config: ExperimentConfig, vocab_size: int) -> list[Prompt]:
    """``n_prompts`` prompts for one pass of the measured window, seeded so every cycle sees the same ones."""
    return select_prompt_sets(config, vocab_size, 1).sets[0]


@dataclass(frozen=True)
class PromptSets:
    """One prompt set per pass of a window; ``distinct`` passes hold prompts no earlier pass held.

    ``note`` says why prompts repeat inside a window, when they do: a window longer than one pass
    must not send an engine the same prompt twice, or KV/prefix reuse would make its prefill a
    cache hit.
    """

    sets: list[list[Prompt]]
    distinct: int
    note: str | None


def select_prompt_sets(config: ExperimentConfig, vocab_size: int, n_sets: int) -> PromptSets:
    """``n_sets`` passes of ``n_prompts`` prompts each, drawn without repeats for as long as the dataset allows.

    The first set is the same for any ``n_sets`` (and in every cycle): more passes draw further prompts
    from the same seeded order. Synthetic prompts never run out; a file's (or the built-in set's) do,
    and then passes start over from its first prompt, with a note.
    """
    rng = random.Random(config.seed)
    ds, n = config.dataset, config.n_prompts
    if isinstance(ds, SyntheticDataset):
        # Skip the lowest ids: tokenizers put special tokens there.
        low = min(10, vocab_size - 1)
        flat: list[Prompt] = [
            [rng.randrange(low, vocab_size) for _ in range(ds.input_tokens)] for _ in range(n * n_sets)
        ]
        return PromptSets([flat[k * n : (k + 1) * n] for k in range(n_sets)], n_sets, None)
    pool: list[str] = jsonl_prompts(Path(ds.path), ds.field) if isinstance(ds, JsonlDataset) else builtin_prompts()
    order = list(range(len(pool)))
    rng.shuffle(order)
    sets: list[list[Prompt]] = [[pool[order[i % len(pool)]] for i in range(k * n, (k + 1) * n)] for k in range(n_sets)]
    distinct = min(n_sets, len(pool) // n)
    where = "the built-in set" if isinstance(ds, BuiltinDataset) else ds.path
    note = None
    if n > len(pool):
        note = (
            f"{where} holds {len(pool)} prompts, fewer than n_prompts {n}: prompts repeat within every pass; "
            "KV/prefix reuse makes repeats cache hits, so keep it off or use a larger (or synthetic) dataset"
        )
    elif distinct < n_sets:
        note = (
            f"{where} holds {len(pool)} prompts, {distinct} passes of {n}: passes after pass {distinct} of a "
            "window repeat prompts; KV/prefix reuse makes repeats cache hits, so keep it off or use a larger "
            "(or synthetic) dataset"
        )
    return PromptSets(sets, distinct, note)
