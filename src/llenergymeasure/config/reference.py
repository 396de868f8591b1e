"""The field reference of experiment and campaign files, rendered from the models themselves.

``docs/config-reference.md`` is this module's output (``python -m llenergymeasure.config.reference``);
a test keeps the two equal, so the reference can never drift from what the loader accepts.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.config.datasets import DATASET_MODELS
from llenergymeasure.config.errors import nested_model
from llenergymeasure.config.experiment import ExperimentConfig, ServerScenario

HEADER = """# Config reference

Every field of an experiment (what a campaign's fixed fields, sweep axes and `experiments:` items
set) and of a campaign's `execution:` section, with its default. Generated from the models by
`python -m llenergymeasure.config.reference > docs/config-reference.md`; the grammar that combines
them is in README.md ("Campaigns").
"""


def _type_name(annotation: Any) -> str:
    """A short, readable type: ``int | None``, ``'fp32' | 'fp16'``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined:
        return "required" if field.default_factory is None else "(section defaults)"
    return "null" if field.default is None else f"`{field.default!r}`"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        nested = nested_model(field.annotation)
        if nested is not None and name not in ("dataset", "scenario"):
            rows.extend(_rows(nested, f"{prefix}{name}."))
            continue
        kind = {"dataset": "see Datasets", "scenario": "see Scenarios"}.get(name) or _type_name(field.annotation)
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name}` | {kind} | {_default(field)} | {description} |")
    return rows


def _table(title: str, rows: list[str]) -> str:
    head = "| field | type | default | meaning |\n|---|---|---|---|"
    return f"## {title}\n\n{head}\n" + "\n".join(rows) + "\n"


def render_reference() -> str:
    """The whole reference as Markdown."""
    kinds = [
        _table(
            f"Dataset kind `{model.model_fields['kind'].default}`",
            [r for r in _rows(model, "dataset.") if "`dataset.kind`" not in r] or ["| (no fields) | | | |"],
        ).replace("## ", "### ", 1)
        for model in DATASET_MODELS
    ]
    parts = [
        HEADER,
        _table("Experiment fields", _rows(ExperimentConfig, "")),
        "## Datasets\n\n`dataset:` is `builtin` (the default), a path to a `.jsonl` file, or a mapping with\n"
        f"`kind: {' | '.join(str(m.model_fields['kind'].default) for m in DATASET_MODELS)}` and that kind's "
        "fields:\n\n" + "\n".join(kinds),
        "## Scenarios\n\n`scenario:` is `{kind: offline}` (the default: the engine's offline API) or\n"
        "`{kind: server, ...}` (the engine behind its OpenAI-compatible server, vllm and trtllm only):\n\n"
        "| field | type | default | meaning |\n|---|---|---|---|\n"
        + "\n".join(r for r in _rows(ServerScenario, "scenario.") if "`scenario.kind`" not in r)
        + "\n",
        _table("Campaign `execution:`", _rows(ExecutionConfig, "execution.")),
    ]
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover - regenerates docs/config-reference.md
    print(render_reference(), end="")
