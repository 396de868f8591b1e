"""Shared set-up of the benchmarks: the tiny model's experiment config."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from llenergymeasure.config.experiment import ExperimentConfig


def tiny_config(**over: object) -> ExperimentConfig:
    data: dict[str, object] = {
        "model": "llem/tiny-llama",
        "backend": "pytorch",
        "precision": "fp32",
        "n_prompts": 32,
        "max_input_tokens": 64,
        "max_output_tokens": 32,
        "warmup": {"n_runs": 1},
        "baseline": {"enabled": False},
        "pytorch": {"batch_size": 8},
    }
    data.update(over)
    return ExperimentConfig.model_validate(data)


def scratch() -> Path:
    os.environ.setdefault("LLEM_CACHE_DIR", str(Path(tempfile.gettempdir()) / "llem-bench-cache"))
    return Path(tempfile.mkdtemp(prefix="llem-bench-"))
