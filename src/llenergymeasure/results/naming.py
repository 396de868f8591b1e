"""Result file names: flat, predictable, and unable to escape their directory."""

from __future__ import annotations

import re

from llenergymeasure.config.experiment import ExperimentConfig

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str, max_len: int = 80) -> str:
    """A file-name-safe form of ``text``: no separators, no leading dots, never empty.

    ``meta-llama/Llama-3.1-8B`` → ``meta-llama--Llama-3.1-8B``; ``../../etc`` → ``etc``.
    """
    text = text.replace("\\", "/").replace("/", "--")
    text = _UNSAFE.sub("-", text)
    text = re.sub(r"\.{2,}", ".", text).strip(".-")
    return text[:max_len].rstrip(".-") or "model"


def result_stem(config: ExperimentConfig, config_hash: str, cycle: int) -> str:
    """``{model}_{backend}_{precision}_{hash8}_c{cycle}``: one flat name per experiment and cycle."""
    return f"{slug(config.model)}_{config.backend}_{config.precision}_{config_hash[:8]}_c{cycle}"
