"""Read a campaign file (and its ``base:``) and expand it: the I/O edge of the campaign grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llenergymeasure.campaign.grammar import Expansion, expand
from llenergymeasure.config.campaign import CampaignConfig
from llenergymeasure.config.errors import format_validation_error
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.loader import resolve_dataset
from llenergymeasure.config.yamlsource import YamlDoc, read_yaml
from llenergymeasure.errors import ConfigError

# Units (configs x cycles) one campaign may plan. The config cap (MAX_GRID_POINTS) alone lets
# n_cycles multiply a campaign a thousandfold: 10 M units planned in 2 GB, and a 1.5 GB manifest
# rewritten on every unit's transition. At 50,000 units the manifest is some 7 MB, rewritten in
# well under a second, and planning takes seconds; that is also more than a week of GPU time.
MAX_UNITS = 50_000


@dataclass(frozen=True)
class LoadedCampaign:
    """A validated campaign plus the notes its expansion produced."""

    config: CampaignConfig
    source: Path
    warnings: list[str]
    sources: list[str] = field(default_factory=list)  # where each experiment was written, in order


def load_campaign(path: Path) -> LoadedCampaign:
    """Parse, inherit ``base:``, expand and validate a campaign file; every problem reported at once."""
    path = Path(path)
    doc = read_yaml(path)
    base = _read_base(doc, path)
    problems: list[str] = []
    digests: dict[str, str] = {}
    campaign_dir = path.parent.resolve()

    def resolve(config: ExperimentConfig) -> ExperimentConfig:
        return resolve_dataset(config.with_resolved_paths(campaign_dir), doc, digests)

    expansion: Expansion | None = None
    try:
        expansion = expand(doc, base, resolve)
    except ConfigError as exc:
        problems.extend(str(exc).splitlines())
    fields = {
        "name": doc.data.get("name", _default_name(path)),
        "execution": doc.data.get("execution") or {},
    }
    try:  # name and execution checked now, with a stand-in experiment, so their errors join the others
        CampaignConfig.model_validate({**fields, "experiments": [{"model": "m", "backend": "pytorch"}]})
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, CampaignConfig, doc).splitlines())
    if problems or expansion is None:
        raise ConfigError("\n".join(dict.fromkeys(problems)))
    config = CampaignConfig.model_validate(
        {
            **fields,
            "experiments": [e.model_dump() for e in expansion.experiments],
            "skipped_configs": [s.model_dump() for s in expansion.skipped],
            "duplicates": len(expansion.duplicates),
            "duplicate_configs": [d.model_dump() for d in expansion.duplicates],
        }
    )
    _check_units(doc, config)
    return LoadedCampaign(config=config, source=path, warnings=list(expansion.warnings), sources=expansion.sources)


def _check_units(doc: YamlDoc, config: CampaignConfig) -> None:
    """Refuse a campaign of more than ``MAX_UNITS`` units, before anything is planned or written."""
    configs, cycles = len(config.experiments), config.execution.n_cycles
    if configs * cycles <= MAX_UNITS:
        return
    raise ConfigError(
        f"{doc.where(('execution', 'n_cycles'))}: execution.n_cycles: {configs} configs x {cycles} cycles = "
        f"{configs * cycles} units, more than the limit of {MAX_UNITS}; lower n_cycles or split the campaign"
    )


def _read_base(doc: YamlDoc, path: Path) -> dict[str, Any] | None:
    """The ``base:`` file's fields; its relative dataset path is made absolute from the base's own folder."""
    if "base" not in doc.data:
        return None
    ref = doc.data["base"]
    if not isinstance(ref, str) or not ref:
        raise ConfigError(f"{doc.where(('base',))}: base: must be a file path relative to {path.name}")
    base_path = (path.parent / ref).resolve()
    if not base_path.is_file():
        raise ConfigError(f"{doc.where(('base',))}: base: file not found: {base_path}; fix the path")
    data = dict(read_yaml(base_path).data)
    dataset = data.get("dataset")
    if isinstance(dataset, str) and dataset != "builtin":
        dataset = {"kind": "jsonl", "path": dataset}
    if isinstance(dataset, dict) and isinstance(dataset.get("path"), str):
        data["dataset"] = {**dataset, "path": str((base_path.parent / dataset["path"]).resolve())}
    return data


def _default_name(path: Path) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "campaign"
    return slug[:64]
