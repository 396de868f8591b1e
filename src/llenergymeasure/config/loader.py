"""Read one experiment file into a validated model (the I/O edge of config/)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from llenergymeasure.config.datasets import FILE_DATASETS, HfDataset
from llenergymeasure.config.errors import format_validation_error
from llenergymeasure.config.experiment import ExperimentConfig, ServerScenario
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
    """Pin the content digests of the dataset (``_resolve_prompts``) and of a replayed trace (``_resolve_trace``)."""
    cache = {} if digests is None else digests
    return _resolve_trace(_resolve_prompts(config, doc, cache), doc, cache)


def _resolve_trace(config: ExperimentConfig, doc: YamlDoc, cache: dict[str, str]) -> ExperimentConfig:
    """Check a replayed trace (``scenario.replay``) exists and pin its content digest, like a prompt file's."""
    scenario = config.scenario
    replay = scenario.replay if isinstance(scenario, ServerScenario) else None
    if replay is None:
        return config
    where = doc.where(("scenario", "replay"))
    path = Path(replay.path)
    digest = _file_digest(path, where, "scenario.replay.path", cache)
    _check_pinned(replay.sha256, digest, doc.where(("scenario", "replay", "sha256")), "scenario.replay.sha256", path)

    def read() -> int:
        from llenergymeasure.workload.trace import read_trace  # lazy: the reader, only where a trace is used

        return len(read_trace(replay))

    _parse_once(path, where, "scenario.replay", read, cache)  # a bad line is one error at load
    pinned = scenario.model_copy(update={"replay": replay.model_copy(update={"sha256": digest})})
    return config.model_copy(update={"scenario": pinned})


def _resolve_prompts(config: ExperimentConfig, doc: YamlDoc, cache: dict[str, str]) -> ExperimentConfig:
    """Check a dataset file (or Hugging Face dataset) exists and pin its content digest (checked when given).

    Done when the config is loaded, not minutes later inside a container. ``digests`` caches the
    digest per source, so a campaign reads each dataset once however many experiments share it.
    A Hugging Face dataset is identified by the canonical JSONL of its selected columns
    (``workload.readers.hf_snapshot_bytes``), or by its ``snapshot`` file once a campaign wrote one.
    """
    dataset = config.dataset
    if isinstance(dataset, HfDataset) and dataset.snapshot is None:
        key = json.dumps(["hf", dataset.path, dataset.name, dataset.split, dataset.field, dataset.output_field])
        if key not in cache:
            cache[key] = _hf_digest(dataset, doc)
        digest, path = cache[key], Path(dataset.path or str(dataset.name))
    elif isinstance(dataset, (*FILE_DATASETS, HfDataset)):
        name = dataset.snapshot if isinstance(dataset, HfDataset) else dataset.path
        field = "snapshot" if isinstance(dataset, HfDataset) else "path"
        path = Path(str(name))
        digest = _file_digest(path, doc.where(("dataset",)), f"dataset.{field}", cache)
        file_dataset = dataset

        def read() -> int:
            from llenergymeasure.workload.readers import read_rows  # lazy: pyarrow for tables

            return len(read_rows(file_dataset)[0])

        _parse_once(path, doc.where(("dataset",)), "dataset", read, cache)  # a bad row or column: one error at load
    else:
        return config
    _check_pinned(dataset.sha256, digest, doc.where(("dataset", "sha256")), "dataset.sha256", path)
    return config.model_copy(update={"dataset": dataset.model_copy(update={"sha256": digest})})


def _file_digest(path: Path, where: str, label: str, cache: dict[str, str]) -> str:
    """A file's sha256, read once per campaign (``cache``); one error line naming ``label`` when it cannot be."""
    if not path.is_file():
        raise ConfigError(f"{where}: {label}: file not found: {path}; fix the path")
    if str(path) not in cache:
        try:
            cache[str(path)] = file_sha256(path)
        except OSError as exc:
            raise ConfigError(f"{where}: {label}: cannot read {path} ({exc.strerror})") from None
    return cache[str(path)]


def _parse_once(path: Path, where: str, label: str, read: Callable[[], int], cache: dict[str, str]) -> None:
    """Read a dataset or trace file through its reader once per campaign, so its errors come at load, not per unit."""
    key = f"parsed:{path}"
    if key not in cache:
        try:
            cache[key] = str(read())
        except ConfigError as exc:
            raise ConfigError(f"{where}: {label}: {exc}") from None


def _check_pinned(given: str | None, digest: str, where: str, label: str, path: Path) -> None:
    """Refuse a file whose content differs from the digest the config pins."""
    if given is not None and given != digest:
        raise ConfigError(
            f"{where}: {label}: {path} has content {digest[:16]}, not the pinned {given[:16]}; "
            "restore the file or update the digest"
        )


def _hf_digest(dataset: HfDataset, doc: YamlDoc) -> str:
    """sha256 of an hf dataset's canonical JSONL, read offline; a ConfigError names the file, the field and the fix."""
    from llenergymeasure.workload.readers import hf_snapshot_bytes  # lazy: reads with `datasets`

    try:
        return hashlib.sha256(hf_snapshot_bytes(dataset)).hexdigest()
    except ConfigError as exc:
        raise ConfigError(f"{doc.where(('dataset',))}: {exc}") from None


def read_unit_config(path: Path) -> ExperimentConfig | None:
    """A unit config the campaign wrote, as it stands; None when it cannot be read or validated.

    For the host's and a node's look at a unit's ``gpu`` and GPU fields before ``llem-exp`` runs:
    ``llem-exp`` loads the same file with ``load_experiment`` and reports whatever is wrong with it.
    """
    try:
        return ExperimentConfig.model_validate(read_yaml(Path(path)).data)
    except (ConfigError, ValidationError):
        return None
