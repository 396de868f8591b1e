"""One row of a dataset, and the canonical JSONL a Hugging Face dataset is snapshotted to."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetRow:
    """A prompt (text, or token ids for synthetic prompts) and its output length, if the dataset gives one.

    ``output`` is a length in tokens (int), a reference text whose token count is the length (str),
    or None when the row carries none.
    """

    prompt: str | list[int]
    output: int | str | None = None


def canonical_jsonl(rows: Iterable[DatasetRow]) -> bytes:
    """``{"prompt": ..., "output": ...}`` per line, keys sorted, UTF-8: the same rows always give the same bytes."""
    lines = [
        json.dumps({"output": r.output, "prompt": r.prompt}, ensure_ascii=False, separators=(",", ":")) + "\n"
        for r in rows
    ]
    return "".join(lines).encode("utf-8")
