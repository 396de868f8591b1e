"""Read a campaign file (and its ``base:``) and expand it: the I/O edge of the campaign grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from llenergymeasure.campaign.grammar import Expansion, expand
from llenergymeasure.config.campaign import CampaignConfig
from llenergymeasure.config.errors import format_validation_error
from llenergymeasure.config.loader import check_dataset
from llenergymeasure.config.yamlsource import read_yaml
from llenergymeasure.errors import ConfigError


@dataclass(frozen=True)
class LoadedCampaign:
    """A validated campaign plus the notes its expansion produced."""

    config: CampaignConfig
    source: Path
    warnings: list[str]


def load_campaign(path: Path) -> LoadedCampaign:
    """Parse, inherit ``base:``, expand and validate a campaign file."""
    path = Path(path)
    doc = read_yaml(path)
    base = None
    if "base" in doc.data:
        ref = doc.data["base"]
        if not isinstance(ref, str) or not ref:
            raise ConfigError(f"{doc.where(('base',))}: base: must be a file path relative to {path.name}")
        base_path = (path.parent / ref).resolve()
        if not base_path.is_file():
            raise ConfigError(f"{doc.where(('base',))}: base: file not found: {base_path}; fix the path")
        base = read_yaml(base_path).data
    expansion: Expansion = expand(doc, base)
    experiments = [e.with_resolved_paths(path.parent.resolve()) for e in expansion.experiments]
    for e in experiments:
        check_dataset(e, doc)
    name = doc.data.get("name", _default_name(path))
    try:
        config = CampaignConfig.model_validate(
            {
                "name": name,
                "experiments": [e.model_dump() for e in experiments],
                "execution": doc.data.get("execution") or {},
                "skipped_configs": [s.model_dump() for s in expansion.skipped],
                "duplicates": expansion.duplicates,
            }
        )
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, CampaignConfig, doc)) from None
    return LoadedCampaign(config=config, source=path, warnings=list(expansion.warnings))


def _default_name(path: Path) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "campaign"
    return slug[:64]
