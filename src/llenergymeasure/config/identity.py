"""Stable content hashes: the identity of an experiment and of a campaign design.

A hash is sha256 over canonical JSON (sorted keys, no whitespace), truncated to 16 hex digits.
Identical configs written in different key orders or YAML styles hash alike. Both the host
(planning, the manifest) and the container (``llem-exp``, baseline caches) use these, which is
why they live in ``config/`` and not in the host-only ``campaign/``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.inert import normalise
from llenergymeasure.config.telemetry import EngineTelemetryConfig

HASH_LEN = 16
_CHUNK = 1 << 20


def stable_hash(obj: Any) -> str:
    """16-hex sha256 of the canonical JSON of ``obj``."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:HASH_LEN]


def identity(config: ExperimentConfig) -> dict[str, Any]:
    """What makes two experiments the same: every field with defaults filled in.

    A dataset whose content digest is known is identified by that digest, not by where the file lies
    (its path, Hub name or snapshot file), so the same campaign hashes alike on every machine and in
    every folder, and two prompt files of the same name are never confused. A field that cannot change the measurement
    under the others (``config.inert``: ``decoding.temperature`` without ``do_sample``) counts as its
    default, so configs that differ only there are one experiment.
    """
    data = normalise(config.model_dump(mode="json"), config)
    # The offline scenario predates the field: leaving it out keeps every older config's hash.
    if data.get("scenario") == {"kind": "offline"}:
        del data["scenario"]
    # Server load shapes added later: absent ones are left out; a trace is known by its content.
    scenario = data.get("scenario") or {}
    for key in ("ramp_up", "replay", "saturation"):
        if key in scenario and scenario[key] is None:
            del scenario[key]
    if (scenario.get("replay") or {}).get("sha256"):
        del scenario["replay"]["path"]
    # And fixed output lengths, the only kind before output_lengths.
    if data.get("output_lengths") == "fixed":
        del data["output_lengths"]
    # So does a GPU left as it is (no gpu.* field set).
    if not any((data.get("gpu") or {}).values()):
        data.pop("gpu", None)
    # Telemetry records beside the measurement and changes nothing in it: at its defaults it stays out.
    if data.get("telemetry") == EngineTelemetryConfig().model_dump(mode="json"):
        del data["telemetry"]
    dataset = data["dataset"]
    if dataset.get("sha256"):
        for where in ("path", "name", "snapshot"):
            dataset.pop(where, None)
    return data


def config_hash(config: ExperimentConfig) -> str:
    """Identity of one experiment: every field, defaults included, so a changed default is a new design."""
    return stable_hash(identity(config))


def design_hash(config_hashes: Iterable[str]) -> str:
    """Identity of a campaign's set of experiments; the order they are listed in is not part of it."""
    return stable_hash(sorted(set(config_hashes)))


def file_sha256(path: Path) -> str:
    """Full sha256 hex digest of a file's bytes, read in chunks (prompt files can be large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
