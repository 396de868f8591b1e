"""Turn pydantic's ValidationError into lines a user can act on: one per problem, naming file, line, field."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from llenergymeasure.config.yamlsource import Loc, YamlDoc, field_path


def describe_error(err: Any, model: type[BaseModel] | None) -> str:
    """One pydantic error dict as ``field: problem (fix)``."""
    loc: Loc = tuple(p for p in err["loc"] if not is_union_tag(p))
    path = field_path(loc)
    if err["type"] == "extra_forbidden":
        valid = _valid_fields(model, tuple(err["loc"])[:-1]) if model else []  # union tags pick the variant
        name = str(loc[-1]) if loc else "?"
        hint = difflib.get_close_matches(name, valid, n=1)
        fix = f"did you mean '{hint[0]}'? " if hint else ""
        return f"{path}: unknown field; {fix}valid fields: {', '.join(valid)}"
    if err["type"] == "missing":
        if loc == ("backend",):
            return "backend: Field required; add 'backend: pytorch' (or vllm, trtllm; a list [pytorch, vllm] runs each)"
        return f"{path}: Field required; add it"
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and err["type"] not in ("missing", "value_error"):
        given = repr(err["input"])
        if len(given) <= 60:
            msg += f" (got {given})"
    return f"{path}: {msg}" if loc else msg  # a whole-config check names its fields itself


def format_validation_error(exc: ValidationError, model: type[BaseModel], doc: YamlDoc | None, prefix: Loc = ()) -> str:
    """Every error of ``exc``, one ``file:line: field: problem`` line each, so one run shows them all."""
    return "\n".join(error_lines(exc.errors(), model, doc, prefix))


def error_lines(errors: list[Any], model: type[BaseModel], doc: YamlDoc | None, prefix: Loc = ()) -> list[str]:
    """``file:line: field: problem`` for each pydantic error dict; ``prefix`` is where the model sits."""
    lines = []
    for err in errors:
        loc = (*prefix, *(p for p in err["loc"] if not is_union_tag(p)))
        text = describe_error(err, model)
        if prefix:
            text = f"{field_path(prefix)}.{text}"
        where = doc.where(loc) if doc else "config"
        lines.append(f"{where}: {text}")
    return lines


# dataset and scenario kinds
UNION_TAGS = frozenset({"builtin", "jsonl", "sharegpt", "table", "hf", "synthetic", "offline", "server"})


def is_union_tag(part: Any) -> bool:
    """Pydantic puts a discriminated union's tag (``jsonl``, ``server``) in error locations; users never write it."""
    return isinstance(part, str) and part in UNION_TAGS


def _valid_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names at ``loc`` inside ``model``, walking nested models."""
    current: Any = model
    annotation: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        if is_union_tag(part):  # the variant of a discriminated union (dataset, scenario) the error is in
            variants = [m for m in nested_models(annotation) if _kind(m) == part]
            current = variants[0] if variants else current
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        current = nested_model(annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _kind(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("kind")
    return None if field is None else field.default


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    """Every BaseModel inside ``annotation`` (each variant of a union), in order."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in nested_models(arg)]


def nested_model(annotation: Any) -> Any:
    """The BaseModel inside ``X | None`` or ``list[X]``; None when there is none."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = nested_model(arg)
        if found is not None:
            return found
    return None
