"""Warmup until steady state: a fixed count, or until latency stops varying."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from llenergymeasure.config.experiment import WarmupConfig


@dataclass(frozen=True)
class WarmupOutcome:
    """How many warmup runs were made and the final coefficient of variation (cv mode)."""

    runs: int
    final_cv: float | None


def coefficient_of_variation(values: list[float]) -> float:
    """Sample standard deviation over mean; 0 for fewer than two values or a zero mean."""
    if len(values) < 2:
        return 0.0
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if mean else 0.0


def run_warmup(cfg: WarmupConfig, step: Callable[[], float]) -> WarmupOutcome:
    """Call ``step`` (which returns a latency) until the warmup rule is satisfied."""
    if cfg.mode == "fixed":
        for _ in range(cfg.n_runs):
            step()
        return WarmupOutcome(runs=cfg.n_runs, final_cv=None)
    latencies: list[float] = []
    cv: float | None = None
    while len(latencies) < cfg.max_runs:
        latencies.append(step())
        if len(latencies) >= max(cfg.n_runs, cfg.window):
            cv = coefficient_of_variation(latencies[-cfg.window :])
            if cv <= cfg.cv_threshold:
                break
    return WarmupOutcome(runs=len(latencies), final_cv=cv)
