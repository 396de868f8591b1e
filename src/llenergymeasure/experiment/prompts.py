"""Prompt sets: the built-in one, a user's .jsonl, or synthetic token sequences."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

from llenergymeasure.config.experiment import ExperimentConfig, JsonlDataset, SyntheticDataset
from llenergymeasure.errors import ConfigError

# A prompt is text, or token ids (synthetic prompts skip tokenization so their length is exact).
Prompt = str | list[int]


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
    """``n_prompts`` prompts for the measured window, seeded so every cycle sees the same ones."""
    rng = random.Random(config.seed)
    ds = config.dataset
    if isinstance(ds, SyntheticDataset):
        # Skip the lowest ids: tokenizers put special tokens there.
        low = min(10, vocab_size - 1)
        return [[rng.randrange(low, vocab_size) for _ in range(ds.input_tokens)] for _ in range(config.n_prompts)]
    pool: list[str] = jsonl_prompts(Path(ds.path), ds.field) if isinstance(ds, JsonlDataset) else builtin_prompts()
    order = list(range(len(pool)))
    rng.shuffle(order)
    return [pool[order[i % len(pool)]] for i in range(config.n_prompts)]
