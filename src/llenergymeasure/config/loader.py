"""Read one experiment file into a validated model (the I/O edge of config/)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from llenergymeasure.config.errors import format_validation_error
from llenergymeasure.config.experiment import ExperimentConfig, JsonlDataset
from llenergymeasure.config.yamlsource import YamlDoc, read_yaml
from llenergymeasure.errors import ConfigError


def load_experiment(path: Path) -> ExperimentConfig:
    """Parse one experiment file (what ``llem-exp`` and ``docker compose run`` are given)."""
    path = Path(path)
    doc = read_yaml(path)
    try:
        config = ExperimentConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, ExperimentConfig, doc)) from None
    config = config.with_resolved_paths(path.parent.resolve())
    check_dataset(config, doc)
    return config


def check_dataset(config: ExperimentConfig, doc: YamlDoc) -> None:
    """A jsonl dataset must exist when the config is loaded, not minutes later inside a container."""
    if isinstance(config.dataset, JsonlDataset) and not Path(config.dataset.path).is_file():
        raise ConfigError(
            f"{doc.where(('dataset',))}: dataset.path: file not found: {config.dataset.path}; fix the path"
        )
