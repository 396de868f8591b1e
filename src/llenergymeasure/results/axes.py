"""Swept axes as a reader sees them: scoped to a backend or not, named without prefixes, values as text. Pure.

A backend-scoped axis (``pytorch.batch_size``) has no value for another backend's configs: tables
show ``-`` there (as ``llem campaign plan`` does) and plots draw the axis only for its backend,
never a "None" tick holding every other backend's configs.
"""

from __future__ import annotations

import json
from typing import Any

from llenergymeasure.config.experiment import BACKEND_SECTIONS

NOT_APPLICABLE = "-"


def axis_name(dim: str) -> str:
    """``config.pytorch.batch_size`` -> ``pytorch.batch_size``: what the campaign file calls it."""
    return dim.removeprefix("config.")


def scope_of(dim: str) -> str | None:
    """The backend a swept field belongs to (``config.vllm.max_num_seqs`` -> ``vllm``); None for shared fields."""
    parts = axis_name(dim).split(".")
    return parts[0] if len(parts) > 1 and parts[0] in BACKEND_SECTIONS else None


def applies(dim: str, backend: str | None) -> bool:
    """Whether ``dim`` has a value for a config of ``backend``."""
    scope = scope_of(dim)
    return scope is None or scope == backend


def value_text(value: Any) -> str:
    """A swept value as a table cell or tick: ``-`` for none, JSON for lists and dicts, else as written."""
    if value is None or value == "None":
        return NOT_APPLICABLE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def is_numeric(values: list[Any]) -> bool:
    """Whether an axis's values lie on a number line (lines may join them), rather than categories."""
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
