"""Turn pydantic's ValidationError into one line a user can act on."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from llenergymeasure.config.yamlsource import Loc, YamlDoc


def field_path(loc: Loc) -> str:
    """``('pytorch', 'batch_size')`` → ``pytorch.batch_size``; list indexes as ``[i]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def describe_error(err: Any, model: type[BaseModel] | None) -> str:
    """One pydantic error dict as ``field: problem (fix)``."""
    loc: Loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
    path = field_path(loc)
    if err["type"] == "extra_forbidden":
        valid = _valid_fields(model, loc[:-1]) if model else []
        name = str(loc[-1]) if loc else "?"
        hint = difflib.get_close_matches(name, valid, n=1)
        fix = f"did you mean '{hint[0]}'? " if hint else ""
        return f"{path}: unknown field; {fix}valid fields: {', '.join(valid)}"
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and err["type"] not in ("missing", "value_error"):
        given = repr(err["input"])
        if len(given) <= 60:
            msg += f" (got {given})"
    return f"{path}: {msg}"


def format_validation_error(exc: ValidationError, model: type[BaseModel], doc: YamlDoc | None, prefix: Loc = ()) -> str:
    """First error of ``exc`` as ``file:line: field: problem``; the count of others is appended."""
    errors = exc.errors()
    first = errors[0]
    loc = (*prefix, *(p for p in first["loc"] if not _is_union_tag(p)))
    text = describe_error(first, model)
    if prefix:
        text = f"{field_path(prefix)}.{text}"
    where = doc.where(loc) if doc else "config"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {text}{more}"


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and part in ("builtin", "jsonl", "synthetic")


def _valid_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names at ``loc`` inside ``model``, walking nested models."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or _is_union_tag(part):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = nested_model(fields[part].annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def nested_model(annotation: Any) -> Any:
    """The BaseModel inside ``X | None`` or ``list[X]``; None when there is none."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = nested_model(arg)
        if found is not None:
            return found
    return None
