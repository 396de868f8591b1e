"""Statistics across cycles: mean, spread and a t-distribution confidence interval per config."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llenergymeasure.errors import MissingDependencyError

# Metrics summarised per config, and whether lower is better (for ranking and display).
METRICS: dict[str, bool] = {
    "energy.energy_per_output_token_j": True,
    "energy.adjusted_energy_per_output_token_j": True,
    "energy.energy_per_request_j": True,
    "metrics.output_tokens_per_s": False,
    "metrics.latency_s.mean": True,
    "metrics.ttft_s.mean": True,
    "metrics.itl_s.mean": True,
}


@dataclass(frozen=True)
class Summary:
    """One metric of one config over its cycles."""

    n: int
    mean: float
    std: float | None
    cv: float | None
    ci_low: float | None
    ci_high: float | None


def t_critical(confidence: float, dof: int) -> float:
    """Two-sided Student-t critical value."""
    try:
        from scipy import stats
    except ImportError:
        raise MissingDependencyError("confidence intervals need scipy: pip install 'llenergymeasure[report]'") from None
    return float(stats.t.ppf(0.5 + confidence / 2.0, dof))


def summarize(values: Iterable[float | None], confidence: float = 0.95) -> Summary | None:
    """Mean, sample std, CV and a ``confidence`` t-interval; None when there are no values."""
    xs = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not xs:
        return None
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return Summary(len(xs), mean, None, None, None, None)
    std = statistics.stdev(xs)
    half = t_critical(confidence, len(xs) - 1) * std / math.sqrt(len(xs))
    return Summary(len(xs), mean, std, std / mean if mean else None, mean - half, mean + half)


@dataclass(frozen=True)
class ConfigStats:
    """Every summarised metric of one config, with the values that identify it."""

    config_hash: str
    label: dict[str, Any]
    metrics: dict[str, Summary]
    high_cv: list[str]


def by_config(
    rows: list[dict[str, Any]], label_columns: list[str], cv_threshold: float = 0.05, confidence: float = 0.95
) -> list[ConfigStats]:
    """Group rows by config hash and summarise each metric; flag metrics whose CV exceeds the threshold."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["config_hash"], []).append(row)
    out = []
    for h, members in groups.items():
        summaries: dict[str, Summary] = {}
        for metric in METRICS:
            s = summarize((r.get(metric) for r in members), confidence)
            if s is not None:
                summaries[metric] = s
        flagged = [m for m, s in summaries.items() if s.cv is not None and abs(s.cv) > cv_threshold]
        label = {c: members[0].get(c) for c in label_columns}
        out.append(ConfigStats(h, label, summaries, flagged))
    return out


def rank(stats: list[ConfigStats], metric: str) -> list[tuple[ConfigStats, bool]]:
    """Configs ordered best-first by ``metric``; True marks a CI overlapping the one ranked just above."""
    lower_better = METRICS[metric]
    present = [s for s in stats if metric in s.metrics]
    present.sort(key=lambda s: s.metrics[metric].mean, reverse=not lower_better)
    ranked: list[tuple[ConfigStats, bool]] = []
    for i, s in enumerate(present):
        ranked.append((s, i > 0 and overlaps(present[i - 1].metrics[metric], s.metrics[metric])))
    return ranked


def overlaps(a: Summary, b: Summary) -> bool:
    """Whether two confidence intervals overlap (not distinguishable at that confidence)."""
    if a.ci_low is None or a.ci_high is None or b.ci_low is None or b.ci_high is None:
        return False
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high
