"""Read one experiment file into a validated model (the I/O edge of config/)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from llenergymeasure.config.errors import format_validation_error
from llenergymeasure.config.experiment import ExperimentConfig, JsonlDataset
from llenergymeasure.config.identity import file_sha256
from llenergymeasure.config.yamlsource import YamlDoc, read_yaml
from llenergymeasure.errors import ConfigError

CAMPAIGN_KEYS = ("sweep", "experiments", "execution")


def campaign_file_error(path: Path, data: dict[str, object]) -> ConfigError | None:
    """The one-line error for a campaign file given where one experiment is expected, else None.

    A campaign file has ``sweep``/``experiments``/``execution`` or a list of backends; listing
    its fields as unknown experiment fields would hide the actual mistake: the wrong command.
    """
    if not any(k in data for k in CAMPAIGN_KEYS) and not isinstance(data.get("backend"), list):
        return None
    return ConfigError(f"{path}: this is a campaign file: use llem campaign up {path}")


def check_experiment_file(path: Path) -> None:
    """Fail fast on a file that cannot be an experiment: missing, unreadable, or a campaign file."""
    path = Path(path)
    error = campaign_file_error(path, read_yaml(path).data)
    if error is not None:
        raise error


def load_experiment(path: Path) -> ExperimentConfig:
    """Parse one experiment file (what ``llem-exp`` and ``docker compose run`` are given)."""
    path = Path(path)
    doc = read_yaml(path)
    error = campaign_file_error(path, doc.data)
    if error is not None:
        raise error
    try:
        config = ExperimentConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, ExperimentConfig, doc)) from None
    return resolve_dataset(config.with_resolved_paths(path.parent.resolve()), doc)


def resolve_dataset(config: ExperimentConfig, doc: YamlDoc, digests: dict[str, str] | None = None) -> ExperimentConfig:
    """Check a jsonl dataset exists and pin its content digest (checked against one already given).

    Done when the config is loaded, not minutes later inside a container. ``digests`` caches the
    digest per path, so a campaign reads each prompt file once however many experiments share it.
    """
    dataset = config.dataset
    if not isinstance(dataset, JsonlDataset):
        return config
    path = Path(dataset.path)
    if not path.is_file():
        raise ConfigError(f"{doc.where(('dataset',))}: dataset.path: file not found: {path}; fix the path")
    cache = {} if digests is None else digests
    if dataset.path not in cache:
        try:
            cache[dataset.path] = file_sha256(path)
        except OSError as exc:
            raise ConfigError(f"{doc.where(('dataset',))}: dataset.path: cannot read {path} ({exc.strerror})") from None
    digest = cache[dataset.path]
    if dataset.sha256 is not None and dataset.sha256 != digest:
        raise ConfigError(
            f"{doc.where(('dataset', 'sha256'))}: dataset.sha256: {path} has content {digest[:16]}, not the pinned "
            f"{dataset.sha256[:16]}; restore the file or update the digest"
        )
    return config.model_copy(update={"dataset": dataset.model_copy(update={"sha256": digest})})


def read_unit_config(path: Path) -> ExperimentConfig | None:
    """A unit config the campaign wrote, as it stands; None when it cannot be read or validated.

    For the host's and a node's look at a unit's ``gpu`` and GPU fields before ``llem-exp`` runs:
    ``llem-exp`` loads the same file with ``load_experiment`` and reports whatever is wrong with it.
    """
    try:
        return ExperimentConfig.model_validate(read_yaml(Path(path)).data)
    except (ConfigError, ValidationError):
        return None
