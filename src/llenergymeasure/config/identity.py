"""Stable content hashes: the identity of an experiment and of a campaign design.

A hash is sha256 over canonical JSON (sorted keys, no whitespace), truncated to 16 hex digits.
Identical configs written in different key orders or YAML styles hash alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from llenergymeasure.config.experiment import ExperimentConfig

HASH_LEN = 16


def stable_hash(obj: Any) -> str:
    """16-hex sha256 of the canonical JSON of ``obj``."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:HASH_LEN]


def config_hash(config: ExperimentConfig) -> str:
    """Identity of one experiment: every field, defaults included, so a changed default is a new design."""
    return stable_hash(config.model_dump(mode="json"))


def design_hash(config_hashes: Iterable[str]) -> str:
    """Identity of a campaign's set of experiments; the order they are listed in is not part of it."""
    return stable_hash(sorted(set(config_hashes)))
