"""Campaign YAML grammar: fixed fields, ``sweep:`` grids, explicit ``experiments:``, ``base:`` defaults.

Pure logic: dictionaries in, experiment configs out. Reading files (the campaign and its base)
happens in ``campaign.loader``; this module only needs their parsed contents and key line numbers.

Sweep keys are field paths. A dotted key whose first part is a backend name
(``pytorch.batch_size``) is *backend-scoped*: it only multiplies the grid of that backend, so
``backend: [pytorch, vllm]`` with ``pytorch.batch_size: [1, 8]`` and ``vllm.max_num_seqs: [64]``
gives 2 pytorch configs and 1 vllm config, not 2 x 1 x 2. Any other dotted key
(``decoding.temperature``) is a plain nested field applied to every backend.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from llenergymeasure.config.campaign import SkippedConfig
from llenergymeasure.config.dotted import flatten, varying_keys
from llenergymeasure.config.errors import describe_error, field_path, format_validation_error, nested_model
from llenergymeasure.config.experiment import BACKEND_SECTIONS, ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.config.yamlsource import YamlDoc
from llenergymeasure.errors import ConfigError

CAMPAIGN_ONLY_KEYS = frozenset({"name", "execution", "sweep", "experiments", "base"})
MAX_GRID_POINTS = 10_000
SKIP_WARN_FRACTION = 0.5


@dataclass(frozen=True)
class Expansion:
    """Result of expanding a campaign: valid unique experiments, skipped grid points, warnings."""

    experiments: list[ExperimentConfig]
    skipped: list[SkippedConfig] = field(default_factory=list)
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)


def strip_campaign_keys(base: dict[str, Any]) -> dict[str, Any]:
    """A base file may be a whole campaign; only its experiment defaults are inherited."""
    return {k: v for k, v in base.items() if k not in CAMPAIGN_ONLY_KEYS}


def deep_merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    """``high`` over ``low``, merging nested mappings instead of replacing them."""
    out = copy.deepcopy(low)
    for key, value in high.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"pytorch.batch_size": 4}`` → ``{"pytorch": {"batch_size": 4}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"key {key!r} conflicts with a scalar at {part!r}")
        node[parts[-1]] = value
    return out


def expand(doc: YamlDoc, base: dict[str, Any] | None = None) -> Expansion:
    """Expand a parsed campaign document into experiment configs (sweep first, then explicit list)."""
    raw = doc.data
    fixed = deep_merge(strip_campaign_keys(base or {}), nest(strip_campaign_keys(raw)))
    sweep = raw.get("sweep")
    explicit = raw.get("experiments")

    candidates: list[tuple[dict[str, Any], dict[str, Any] | None]] = []  # (config dict, grid overrides)
    if sweep is not None:
        for point in _grid(doc, sweep, fixed):
            candidates.append((deep_merge(fixed, nest(point)), point))
    explicit_start = len(candidates)
    if explicit is not None:
        if not isinstance(explicit, list) or not explicit:
            raise ConfigError(f"{doc.where(('experiments',))}: experiments: must be a non-empty list of mappings")
        for i, item in enumerate(explicit):
            if not isinstance(item, dict):
                raise ConfigError(
                    f"{doc.where(('experiments', i))}: experiments[{i}]: must be a mapping of fields, "
                    f"got {type(item).__name__}"
                )
            candidates.append((deep_merge(fixed, nest(item)), None))
    if sweep is None and explicit is None:
        candidates.append((fixed, None))

    valid: list[ExperimentConfig] = []
    skipped: list[SkippedConfig] = []
    for i, (data, overrides) in enumerate(candidates):
        try:
            valid.append(ExperimentConfig.model_validate(data))
        except ValidationError as exc:
            if overrides is None:
                item = ("experiments", i - explicit_start) if i >= explicit_start and explicit else None
                raise ConfigError(_explicit_error(exc, doc, item)) from None
            reason = describe_error(exc.errors()[0], ExperimentConfig)
            skipped.append(SkippedConfig(overrides=overrides, reason=reason))

    n_grid = explicit_start
    if not valid:
        first = skipped[0].reason if skipped else "no experiments"
        raise ConfigError(f"{doc.path}: all {len(candidates)} configs are invalid; first: {first}")
    warnings = []
    if n_grid and len(skipped) > SKIP_WARN_FRACTION * n_grid:
        warnings.append(f"{len(skipped)} of {n_grid} sweep configs are invalid and skipped")
    unique, duplicates = _dedupe(valid)
    if duplicates:
        warnings.append(f"{duplicates} duplicate configs will run once")
    return Expansion(experiments=unique, skipped=skipped, duplicates=duplicates, warnings=warnings)


def _explicit_error(exc: ValidationError, doc: YamlDoc, item: tuple[str, int] | None) -> str:
    """Point at the explicit item when the bad field is written there, else at the shared field."""
    first_key = exc.errors()[0]["loc"][0] if exc.errors()[0]["loc"] else None
    in_item = item is not None and (*item, first_key) in doc.lines
    return format_validation_error(exc, ExperimentConfig, doc, item if in_item and item else ())


def _grid(doc: YamlDoc, sweep: Any, fixed: dict[str, Any]) -> list[dict[str, Any]]:
    """Every grid point as ``{dotted_key: value}``, backend-scoped axes only in their backend's grid."""
    if not isinstance(sweep, dict) or not sweep:
        raise ConfigError(f"{doc.where(('sweep',))}: sweep: must be a non-empty mapping of field: [values]")
    for key, values in sweep.items():
        _check_axis(doc, str(key), values)
    backends = sweep.get("backend", [fixed.get("backend")])
    scoped = {k for k in sweep if str(k).split(".")[0] in BACKEND_SECTIONS and "." in str(k)}
    for key in scoped:
        owner = str(key).split(".")[0]
        if owner not in backends:
            raise ConfigError(
                f"{doc.where(('sweep', key))}: sweep.{key}: scoped to backend '{owner}', which this "
                f"campaign does not run (backends: {', '.join(map(str, backends))}); remove it or add "
                f"'{owner}' to backend"
            )
    generic = [k for k in sweep if k not in scoped and k != "backend"]
    total = 0
    per_backend: list[tuple[Any, list[str]]] = []
    for backend in backends:
        axes = generic + [k for k in scoped if str(k).split(".")[0] == backend]
        size = 1
        for axis in axes:
            size *= len(sweep[axis])
        total += size
        per_backend.append((backend, axes))
    if total > MAX_GRID_POINTS:
        raise ConfigError(
            f"{doc.where(('sweep',))}: sweep: expands to {total} configs, more than the limit of "
            f"{MAX_GRID_POINTS}; split the campaign or narrow the sweep"
        )
    points: list[dict[str, Any]] = []
    for backend, axes in per_backend:
        for values in itertools.product(*(sweep[a] for a in axes)):
            point: dict[str, Any] = {"backend": backend} if "backend" in sweep else {}
            point.update(zip(axes, values, strict=True))
            points.append(point)
    return points


def _check_axis(doc: YamlDoc, key: str, values: Any) -> None:
    where = doc.where(("sweep", key))
    if not isinstance(values, list):
        raise ConfigError(f"{where}: sweep.{key}: must be a list of values, e.g. {key}: [a, b]")
    if not values:
        raise ConfigError(f"{where}: sweep.{key}: empty list; give at least one value")
    model: type[BaseModel] = ExperimentConfig
    parts = key.split(".")
    for depth, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            valid = ", ".join(sorted(fields))
            raise ConfigError(
                f"{where}: sweep.{key}: unknown field '{field_path(tuple(parts[: depth + 1]))}'; valid: {valid}"
            )
        if depth < len(parts) - 1:
            nested = nested_model(fields[part].annotation)
            if nested is None:
                raise ConfigError(f"{where}: sweep.{key}: '{part}' has no sub-fields")
            model = nested


def _dedupe(configs: list[ExperimentConfig]) -> tuple[list[ExperimentConfig], int]:
    seen: set[str] = set()
    unique = []
    for cfg in configs:
        h = config_hash(cfg)
        if h not in seen:
            seen.add(h)
            unique.append(cfg)
    return unique, len(configs) - len(unique)


def varying_fields(configs: list[ExperimentConfig]) -> list[str]:
    """Dotted paths of the leaf fields whose values differ between configs: the swept dimensions."""
    return varying_keys([flatten(c.model_dump(mode="json", exclude_none=True)) for c in configs])


def summary(config: ExperimentConfig, paths: list[str]) -> dict[str, Any]:
    """The values of ``paths`` in ``config``: a short label of what distinguishes it."""
    flat = flatten(config.model_dump(mode="json", exclude_none=True))
    return {p: flat[p] for p in paths if p in flat}
