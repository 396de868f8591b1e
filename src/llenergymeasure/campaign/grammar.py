"""Campaign YAML grammar: fixed fields, ``sweep:`` grids, explicit ``experiments:``, ``base:`` defaults.

Pure logic: dictionaries in, experiment configs out. Reading files (the campaign and its base)
happens in ``campaign.loader``; this module only needs their parsed contents and key line numbers,
plus an optional ``resolve`` step the loader passes in (paths, dataset digests).

Sweep keys are field paths. A dotted key whose first part is a backend name
(``pytorch.batch_size``) is *backend-scoped*: it only multiplies the grid of that backend, so
``backend: [pytorch, vllm]`` with ``pytorch.batch_size: [1, 8]`` and ``vllm.max_num_seqs: [64]``
gives 2 pytorch configs and 1 vllm config, not 2 x 1 x 2. Any other dotted key
(``decoding.temperature``) is a plain nested field applied to every backend. The backends may be
listed at the top level (``backend: [pytorch, vllm]``) or as ``sweep.backend``: the two mean the same.

Everything keeps the file's order (keys, values, list items), so numbering and run order are the
same in every process and on every machine; nothing here iterates over a set.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from llenergymeasure.config.campaign import DuplicateConfig, SkippedConfig
from llenergymeasure.config.dotted import flatten, varying_keys
from llenergymeasure.config.errors import describe_error, error_lines, is_union_tag, nested_models
from llenergymeasure.config.experiment import BACKEND_SECTIONS, ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.config.inert import inert_fields
from llenergymeasure.config.yamlsource import Loc, YamlDoc, field_path
from llenergymeasure.errors import ConfigError

CAMPAIGN_ONLY_KEYS = frozenset({"name", "execution", "sweep", "experiments", "base"})
MAX_GRID_POINTS = 10_000
SKIP_WARN_FRACTION = 0.5

Resolver = Callable[[ExperimentConfig], ExperimentConfig]


@dataclass(frozen=True)
class Expansion:
    """Result of expanding a campaign: valid unique experiments, skipped grid points, merged duplicates."""

    experiments: list[ExperimentConfig]
    sources: list[str] = field(default_factory=list)
    skipped: list[SkippedConfig] = field(default_factory=list)
    duplicates: list[DuplicateConfig] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_NO_GRID: dict[str, Any] = {}  # the overrides of the fixed fields checked alone when the sweep is broken


@dataclass(frozen=True)
class _Candidate:
    """One config to validate, and where it was written (for skips, duplicates and error lines)."""

    data: dict[str, Any]
    source: str
    overrides: dict[str, Any] | None = None  # the grid point; None for explicit and top-level configs
    item: Loc = ()  # YAML location of an explicit item, so its errors name its lines


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


class KeyConflict(ConfigError):
    """Two keys of one mapping set the same field (``pytorch.batch_size`` and ``pytorch: {batch_size}``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"pytorch.batch_size": 4}`` → ``{"pytorch": {"batch_size": 4}}``.

    A field set by two keys (once dotted, once nested) raises ``KeyConflict``: like a duplicate
    key, keeping either value would silently drop the other.
    """
    out: dict[str, Any] = {}
    set_by: dict[tuple[str, ...], str] = {}  # each leaf path set so far, and the key that set it
    for key, value in flat.items():
        parts = str(key).split(".")
        leaves = _leaf_paths(value, tuple(parts))
        for leaf in leaves:
            for other, other_key in set_by.items():
                common = min(len(leaf), len(other))
                if leaf[:common] == other[:common]:
                    raise KeyConflict(
                        str(key), f"{key}: sets {'.'.join(leaf[:common])} again, already set by '{other_key}'; keep one"
                    )
        set_by.update(dict.fromkeys(leaves, str(key)))
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # pragma: no cover - the leaf check above already refused it
                raise KeyConflict(str(key), f"{key}: conflicts with the value of {part}; keep one")
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = deep_merge(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return out


def _nest_each(
    flat: dict[str, Any], where: Callable[[str], str], problems: list[str], prefix: str = ""
) -> dict[str, Any]:
    """``nest``, reporting every conflicting key at ``where(key)`` (and leaving it out) rather than the first."""
    flat = dict(flat)
    while True:
        try:
            return nest(flat)
        except KeyConflict as exc:
            problems.append(f"{where(exc.key)}: {prefix}{exc}")
            del flat[exc.key]


def _leaf_paths(value: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The field paths a value sets: itself, or every leaf of a mapping (an empty one sets nothing)."""
    if not isinstance(value, dict):
        return [path]
    return [leaf for k, v in value.items() for leaf in _leaf_paths(v, (*path, str(k)))]


def expand(doc: YamlDoc, base: dict[str, Any] | None = None, resolve: Resolver | None = None) -> Expansion:
    """Expand a parsed campaign document into experiment configs (sweep first, then explicit list).

    Every problem of the file is collected and raised together, one line each, so a user fixes
    them in one go rather than one per run.
    """
    problems: list[str] = []
    raw = doc.data
    top = _nest_each(strip_campaign_keys(raw), lambda key: doc.where((key,)), problems)
    fixed = deep_merge(strip_campaign_keys(base or {}), top)
    sweep = raw.get("sweep")
    explicit = raw.get("experiments")
    backends = _backends(doc, fixed, sweep, problems)
    listed = isinstance(fixed.get("backend"), list) or (isinstance(sweep, dict) and "backend" in sweep)

    candidates: list[_Candidate] = []
    grid = sweep is not None and _check_sweep(doc, sweep, backends, problems)
    if grid and isinstance(sweep, dict):
        for backend in backends:
            for point in _grid_points(sweep, backend, listed):
                candidates.append(
                    _Candidate(deep_merge(_fixed_for(fixed, backend), nest(point)), _label_point(point), point)
                )
    if explicit is not None:
        candidates.extend(_explicit(doc, explicit, fixed, backends, listed, problems))
    if sweep is not None and not grid:  # no grid to build: still check the fixed fields, so their errors come now
        candidates.extend(_Candidate(_fixed_for(fixed, b), "top level", _NO_GRID) for b in backends)
    if sweep is None and explicit is None:
        for backend in backends:
            source = f"top level (backend {backend})" if listed else "top level"
            candidates.append(_Candidate(_fixed_for(fixed, backend), source))
    if len(candidates) > MAX_GRID_POINTS:  # the grid is checked alone above; here with the explicit list
        problems.append(
            f"{doc.where(('experiments',))}: experiments: the campaign gives {len(candidates)} configs (sweep "
            f"points and experiments, per backend), more than the limit of {MAX_GRID_POINTS}; split the campaign"
        )
        raise ConfigError("\n".join(dict.fromkeys(problems)))

    valid, skipped = _validate(doc, candidates, sweep, resolve, problems)
    if valid:
        problems.extend(_unused_sections(doc, raw, valid))
    if problems:
        raise ConfigError("\n".join(dict.fromkeys(problems)))
    n_grid = sum(1 for c in candidates if c.overrides is not None)
    if not valid:  # one problem (no valid value combination), told once with its distinct reasons
        reasons = list(dict.fromkeys(s.reason for s in skipped)) or ["no experiments"]
        more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
        raise ConfigError(
            f"{doc.path}: all {len(candidates)} configs are invalid; first: {reasons[0]}"
            + "".join(f"; then: {r}" for r in reasons[1:3])
            + more
        )
    warnings: list[str] = []
    if n_grid and len(skipped) > SKIP_WARN_FRACTION * n_grid:
        warnings.append(f"{len(skipped)} of {n_grid} sweep configs are invalid and skipped")
    if grid and isinstance(sweep, dict):
        warnings.extend(_inert_axes(doc, sweep, [c for c, s in valid if s.startswith(_SWEEP_LABEL)]))
    unique, sources, duplicates = _dedupe(valid)
    if duplicates:
        warnings.append(f"{len(duplicates)} duplicate config{'s' if len(duplicates) > 1 else ''} will run once")
    return Expansion(unique, sources, skipped, duplicates, warnings)


def _backends(doc: YamlDoc, fixed: dict[str, Any], sweep: Any, problems: list[str]) -> list[Any]:
    """The backends the campaign runs, in the order written; ``[None]`` when it names none."""
    swept = sweep.get("backend") if isinstance(sweep, dict) else None
    top = fixed.get("backend")
    if swept is not None:
        if "backend" in doc.data:
            problems.append(
                f"{doc.where(('backend',))}: backend: also given as sweep.backend; keep one "
                "(a top-level list means the same as the sweep axis)"
            )
        values = swept if isinstance(swept, list) else [swept]  # not a list: _check_axis reports it
        where = doc.where(("sweep", "backend"))
        field_name = "sweep.backend"
    elif isinstance(top, list):
        values, where, field_name = top, doc.where(("backend",)), "backend"
        if not top:
            problems.append(f"{where}: backend: empty list; name at least one, e.g. backend: [pytorch, vllm]")
    else:
        return [top]
    for value in values:
        if value not in BACKEND_SECTIONS:
            problems.append(f"{where}: {field_name}: unknown backend {value!r}; valid: {', '.join(BACKEND_SECTIONS)}")
    return [v for v in values if v in BACKEND_SECTIONS] or [None]


def _fixed_for(fixed: dict[str, Any], backend: Any) -> dict[str, Any]:
    """The fixed fields as one backend sees them: its own section kept, other backends' sections dropped.

    Top-level ``pytorch:``/``vllm:`` sections are per-backend defaults, so a multi-backend campaign
    can set both without one backend's experiments tripping over the other's settings.
    """
    if backend not in BACKEND_SECTIONS:
        return fixed
    out = {k: v for k, v in fixed.items() if k not in BACKEND_SECTIONS or k == backend}
    out["backend"] = backend
    return out


def _owner(key: str) -> str | None:
    """The backend a sweep key is scoped to (``pytorch.batch_size`` → pytorch), else None."""
    head, dot, _ = key.partition(".")
    return head if dot and head in BACKEND_SECTIONS else None


def _check_sweep(doc: YamlDoc, sweep: Any, backends: list[Any], problems: list[str]) -> bool:
    """Validate the axes (names, lists, scoping, grid size); False when no grid can be built."""
    if not isinstance(sweep, dict) or not sweep:
        problems.append(f"{doc.where(('sweep',))}: sweep: must be a non-empty mapping of field: [values]")
        return False
    before = len(problems)
    for key, values in sweep.items():
        _check_axis(doc, str(key), values, problems)
    axes = [tuple(str(k).split(".")) for k in sweep]
    for i, axis in enumerate(axes):
        for earlier in axes[:i]:
            common = min(len(axis), len(earlier))
            if axis[:common] == earlier[:common]:
                problems.append(
                    f"{doc.where(('sweep', '.'.join(axis)))}: sweep.{'.'.join(axis)}: sweeps "
                    f"{'.'.join(axis[:common])} again, already swept by sweep.{'.'.join(earlier)}; keep one"
                )
    for key in sweep:
        owner = _owner(str(key))
        if owner is None or owner in backends:
            continue
        where = f"{doc.where(('sweep', key))}: sweep.{key}: scoped to backend '{owner}'"
        if backends == [None]:
            problems.append(
                f"{where}, but this campaign sets no backend; add 'backend: {owner}' "
                f"(or a list such as 'backend: [{owner}, vllm]')"
            )
        else:
            problems.append(
                f"{where}, which this campaign does not run (backends: {', '.join(map(str, backends))}); "
                f"remove it or add '{owner}' to backend"
            )
    if len(problems) > before:
        return False
    total = sum(_grid_size(sweep, b) for b in backends)
    if total > MAX_GRID_POINTS:
        problems.append(
            f"{doc.where(('sweep',))}: sweep: expands to {total} configs, more than the limit of "
            f"{MAX_GRID_POINTS}; split the campaign or narrow the sweep"
        )
        return False
    return True


def _axes(sweep: dict[str, Any], backend: Any) -> list[str]:
    """The axes of one backend's grid, in the file's order: shared axes and that backend's scoped ones."""
    return [k for k in sweep if k != "backend" and _owner(str(k)) in (None, backend)]


def _grid_size(sweep: dict[str, Any], backend: Any) -> int:
    size = 1
    for axis in _axes(sweep, backend):
        size *= len(sweep[axis])
    return size


def _grid_points(sweep: dict[str, Any], backend: Any, listed: bool) -> list[dict[str, Any]]:
    """Every point of one backend's grid as ``{dotted_key: value}``; the first axis varies slowest."""
    axes = _axes(sweep, backend)
    points = []
    for values in itertools.product(*(sweep[a] for a in axes)):
        point: dict[str, Any] = {"backend": backend} if listed else {}
        point.update(zip(axes, values, strict=True))
        points.append(point)
    return points


_SWEEP_LABEL = "sweep "


def _label_point(point: dict[str, Any]) -> str:
    return _SWEEP_LABEL + json.dumps(point, separators=(", ", ": "), default=str)


def _inert_axes(doc: YamlDoc, sweep: dict[str, Any], grid: list[ExperimentConfig]) -> list[str]:
    """One warning per sweep axis that cannot change the measurement (``config.inert``) in some of its configs.

    Such points hash alike (identity counts an inert field as its default), so they merge into one
    experiment; the line names the field that makes the axis inert and how to make it count.
    """
    lines = []
    for key in sweep:
        axis = str(key)
        owner = _owner(axis)
        configs = [c for c in grid if owner in (None, c.backend)]
        rules = [rule for c in configs if (rule := inert_fields(c).get(axis)) is not None]
        if not rules:
            continue
        where = doc.where(("sweep", key))
        rule = rules[0]  # one rule per field: every config names the same one
        if len(rules) == len(configs):
            lines.append(
                f"{where}: sweep {axis} has no effect: {rule.reason} in every config; {rule.fix} or drop the axis"
            )
        else:
            lines.append(
                f"{where}: sweep {axis} has no effect where {rule.reason} ({len(rules)} of {len(configs)} configs); "
                "those merge into fewer experiments"
            )
    return lines


def _explicit(
    doc: YamlDoc, explicit: Any, fixed: dict[str, Any], backends: list[Any], listed: bool, problems: list[str]
) -> list[_Candidate]:
    """Explicit items over the fixed fields; an item naming no backend runs on each listed backend."""
    if not isinstance(explicit, list) or not explicit:
        problems.append(f"{doc.where(('experiments',))}: experiments: must be a non-empty list of mappings")
        return []
    out = []
    for i, item in enumerate(explicit):
        loc: Loc = ("experiments", i)
        if not isinstance(item, dict):
            problems.append(
                f"{doc.where(loc)}: experiments[{i}]: must be a mapping of fields, got {type(item).__name__}"
            )
            continue

        def where(key: str, loc: Loc = loc) -> str:
            return doc.where((*loc, key))

        nested = _nest_each(item, where, problems, f"experiments[{i}].")
        own = "backend" in nested
        for backend in [nested["backend"]] if own else backends:
            source = f"experiments[{i}]" + (f" (backend {backend})" if listed and not own else "")
            out.append(_Candidate(deep_merge(_fixed_for(fixed, backend), nested), source, None, loc))
    return out


def _validate(
    doc: YamlDoc, candidates: list[_Candidate], sweep: Any, resolve: Resolver | None, problems: list[str]
) -> tuple[list[tuple[ExperimentConfig, str]], list[SkippedConfig]]:
    """Validate each candidate; a grid point invalid only through its combination of values is skipped.

    Errors of explicit items, of fixed fields (wrong whatever the sweep says) and of swept values
    wrong on their own (``"big"`` for a batch size, 0 where at least 1 is needed) are problems
    reported at their lines: the campaign would otherwise silently shrink.
    """
    valid: list[tuple[ExperimentConfig, str]] = []
    skipped: list[SkippedConfig] = []
    swept = [tuple(str(k).split(".")) for k in sweep] if isinstance(sweep, dict) else []
    for cand in candidates:
        try:
            config = ExperimentConfig.model_validate(cand.data)
        except ValidationError as exc:
            errors = exc.errors()
            if cand.overrides is None:
                problems.extend(_explicit_lines(errors, doc, cand.item))
                continue
            own = [e for e in errors if not _from_sweep(e["loc"], swept)]
            if cand.overrides is _NO_GRID:  # the broken sweep may be what was to give a missing field
                own = [e for e in own if e["type"] != "missing"]
            bad = [line for e in errors if (line := _bad_sweep_value(doc, e, sweep, cand.overrides)) is not None]
            if own or bad:  # wrong whatever the other fields say: report it at its line, never skip it
                problems.extend(error_lines(own, ExperimentConfig, doc))
                problems.extend(bad)
                continue
            reason = "; ".join(dict.fromkeys(describe_error(e, ExperimentConfig) for e in errors))
            skipped.append(SkippedConfig(overrides=cand.overrides, reason=reason))
            continue
        if resolve is not None:
            try:
                config = resolve(config)
            except ConfigError as exc:
                problems.append(str(exc))
                continue
        valid.append((config, cand.source))
    return valid, skipped


def _from_sweep(loc: tuple[Any, ...], swept: list[tuple[str, ...]]) -> bool:
    """Whether an error at ``loc`` can come from a swept value (a whole-model check always can)."""
    path = tuple(str(p) for p in loc if not is_union_tag(p))
    if not path:
        return True
    return any(path[: len(axis)] == axis or axis[: len(path)] == path for axis in swept)


# Errors that only a validator seeing other fields can raise: a swept value with one of them may
# be fine beside other values. Every other pydantic error type judges the value alone.
_CONTEXT_ERRORS = frozenset({"value_error", "assertion_error"})


def _bad_sweep_value(doc: YamlDoc, err: Any, sweep: Any, point: dict[str, Any]) -> str | None:
    """The error line for a swept value that is wrong on its own, at its line in the sweep; else None."""
    if err["type"] in _CONTEXT_ERRORS:
        return None
    loc = tuple(p for p in err["loc"] if not is_union_tag(p))
    path = tuple(str(p) for p in loc)
    for key, value in point.items():
        axis = tuple(str(key).split("."))
        if key == "backend":
            continue  # backend values were checked by name already
        if err["type"].startswith("union_tag"):  # a bad variant tag is reported at the union, one level up
            own = len(axis) == len(path) + 1 and axis[: len(path)] == path
        else:  # an unknown field *at* the axis is one that only some variants have (scenario.request_rate)
            own = path[: len(axis)] == axis and not (err["type"] == "extra_forbidden" and path == axis)
        if not own:
            continue
        values = sweep.get(key, []) if isinstance(sweep, dict) else []
        index = next((i for i, v in enumerate(values) if v is value), None)
        if index is None:
            index = next((i for i, v in enumerate(values) if v == value), 0)
        if err["type"].startswith("union_tag"):
            err = {**err, "input": value}  # the tag given, not the whole section around it
        text = describe_error(err, ExperimentConfig)
        written = field_path(("sweep", key, index, *loc[len(axis) :]))
        shown = field_path(loc)
        text = written + text[len(shown) :] if text.startswith(shown + ":") else f"{written}: {text}"
        return f"{doc.where(('sweep', key, index))}: {text}; fix it or remove it from the sweep"
    return None


def _explicit_lines(errors: list[Any], doc: YamlDoc, item: Loc) -> list[str]:
    """Point at the explicit item when the bad field is written there, else at the shared field."""
    lines = []
    for err in errors:
        first_key = err["loc"][0] if err["loc"] else None
        in_item = bool(item) and (*item, first_key) in doc.lines
        lines.extend(error_lines([err], ExperimentConfig, doc, item if in_item else ()))
    return lines


def _unused_sections(doc: YamlDoc, raw: dict[str, Any], valid: list[tuple[ExperimentConfig, str]]) -> list[str]:
    """A backend section in the campaign file that no experiment uses is a mistake (a base's may be spare)."""
    used = [b for b in BACKEND_SECTIONS if any(config.backend == b for config, _ in valid)]
    problems = []
    for section in BACKEND_SECTIONS:
        if section not in raw or section in used:
            continue
        if len(used) == 1:
            problems.append(
                f"{doc.where((section,))}: section '{section}' is set but backend is '{used[0]}'; "
                f"remove '{section}' or set backend: {section}"
            )
        else:
            problems.append(
                f"{doc.where((section,))}: section '{section}' is set but no experiment runs backend '{section}' "
                f"(backends: {', '.join(used)}); remove it or add {section} to backend"
            )
    return problems


def _check_axis(doc: YamlDoc, key: str, values: Any, problems: list[str]) -> None:
    where = doc.where(("sweep", key))
    if not isinstance(values, list):
        problems.append(f"{where}: sweep.{key}: must be a list of values, e.g. {key}: [a, b]")
        return
    if not values:
        problems.append(f"{where}: sweep.{key}: empty list; give at least one value")
        return
    # A union of sections (scenario: offline | server) offers the fields of every variant.
    models: list[type[BaseModel]] = [ExperimentConfig]
    parts = key.split(".")
    for depth, part in enumerate(parts):
        fields = {name: f for m in models for name, f in m.model_fields.items()}
        if part not in fields:
            valid = ", ".join(sorted(fields))
            problems.append(
                f"{where}: sweep.{key}: unknown field '{field_path(tuple(parts[: depth + 1]))}'; valid: {valid}"
            )
            return
        if depth < len(parts) - 1:
            nested = nested_models(fields[part].annotation)
            if not nested:
                problems.append(f"{where}: sweep.{key}: '{part}' has no sub-fields")
                return
            models = nested


def _dedupe(
    valid: list[tuple[ExperimentConfig, str]],
) -> tuple[list[ExperimentConfig], list[str], list[DuplicateConfig]]:
    """Keep the first of each resolved config (same hash); record every later one and what it merged into."""
    index: dict[str, int] = {}
    unique: list[ExperimentConfig] = []
    sources: list[str] = []
    duplicates: list[DuplicateConfig] = []
    for config, source in valid:
        h = config_hash(config)
        if h in index:
            first = index[h]
            duplicates.append(DuplicateConfig(source=source, same_as=first, same_as_source=sources[first]))
            continue
        index[h] = len(unique)
        unique.append(config)
        sources.append(source)
    return unique, sources, duplicates


def varying_fields(configs: list[ExperimentConfig]) -> list[str]:
    """Dotted paths of the leaf fields whose values differ between configs: the swept dimensions."""
    return varying_keys([flatten(c.model_dump(mode="json", exclude_none=True)) for c in configs])


def summary(config: ExperimentConfig, paths: list[str]) -> dict[str, Any]:
    """The values of ``paths`` in ``config``: a short label of what distinguishes it."""
    flat = flatten(config.model_dump(mode="json", exclude_none=True))
    return {p: flat[p] for p in paths if p in flat}
