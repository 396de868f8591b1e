"""Statistics across cycles: a centre, spread and a confidence interval per config.

Throughput, latency and raw energy are strictly positive, and a symmetric t-interval around their
mean can reach below zero with few cycles (n=2 gives t=12.7). For those the interval is a t-interval
of log values mapped back (``log-t``: an interval for the geometric mean, always positive). Quantities
that can be zero or negative (baseline-adjusted energy) keep the plain ``t`` interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from llenergymeasure.errors import MissingDependencyError

CI_T = "t"
CI_LOG_T = "log-t"


@dataclass(frozen=True)
class Metric:
    """How one summarised metric is ranked and which interval suits it."""

    lower_better: bool
    positive: bool  # strictly positive by construction: the log-t interval applies


# Metrics summarised per config (display order).
METRICS: dict[str, Metric] = {
    "energy.energy_per_output_token_j": Metric(lower_better=True, positive=True),
    # Total minus idle baseline: zero or negative when the load drew no more than idle (plain t interval).
    "energy.adjusted_energy_per_output_token_j": Metric(lower_better=True, positive=False),
    "energy.energy_per_request_j": Metric(lower_better=True, positive=True),
    "energy.energy_per_decode_token_j": Metric(lower_better=True, positive=False),
    "energy.co2e_g_per_1k_tokens": Metric(lower_better=True, positive=True),
    "metrics.output_tokens_per_s": Metric(lower_better=False, positive=True),
    "metrics.decode_tokens_per_s": Metric(lower_better=False, positive=True),
    "metrics.latency_s.mean": Metric(lower_better=True, positive=True),
    "metrics.ttft_s.mean": Metric(lower_better=True, positive=True),
    "metrics.itl_s.mean": Metric(lower_better=True, positive=True),
}

# Server mode (scenario.kind: server): latency percentiles from the stream, throughput, goodput and
# energy over both windows. An ITL percentile or goodput of 0 falls back to the t interval (summarize).
SERVING_METRICS: dict[str, Metric] = {
    "serving.ttft_ms.p50": Metric(lower_better=True, positive=True),
    "serving.ttft_ms.p90": Metric(lower_better=True, positive=True),
    "serving.ttft_ms.p99": Metric(lower_better=True, positive=True),
    "serving.itl_ms.p50": Metric(lower_better=True, positive=True),
    "serving.itl_ms.p90": Metric(lower_better=True, positive=True),
    "serving.itl_ms.p99": Metric(lower_better=True, positive=True),
    "serving.tpot_ms.p50": Metric(lower_better=True, positive=True),
    "serving.tpot_ms.p90": Metric(lower_better=True, positive=True),
    "serving.e2e_ms.p90": Metric(lower_better=True, positive=True),
    "serving.whole_run.requests_per_s": Metric(lower_better=False, positive=True),
    "serving.whole_run.output_tokens_per_s": Metric(lower_better=False, positive=True),
    "serving.goodput_output_tokens_per_s": Metric(lower_better=False, positive=True),
    "serving.whole_run.energy_per_output_token_j": Metric(lower_better=True, positive=True),
    "serving.steady_state.energy_per_output_token_j": Metric(lower_better=True, positive=True),
    "serving.steady_state.energy_per_request_j": Metric(lower_better=True, positive=True),
    "serving.energy_per_goodput_token_j": Metric(lower_better=True, positive=True),
}
METRICS.update(SERVING_METRICS)


@dataclass(frozen=True)
class Summary:
    """One metric of one config over its cycles; ``ci_method`` says how the interval was computed.

    ``centre`` is what tables, plots and rankings show: the centre the interval is built around.
    A log-t interval is an interval for the geometric mean, so a strictly positive metric's centre
    is its geometric mean (``centre_kind``); a metric that can be zero or negative has the arithmetic
    mean and a t interval. ``mean`` stays the arithmetic mean, for reference.
    """

    n: int
    mean: float
    std: float | None
    cv: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None = None
    centre: float | None = None
    centre_kind: str = "mean"

    def __post_init__(self) -> None:
        if self.centre is None:
            object.__setattr__(self, "centre", self.mean)

    @property
    def value(self) -> float:
        """The centre as a float (always set: the arithmetic mean where no other centre applies)."""
        return float(self.centre if self.centre is not None else self.mean)


def t_critical(confidence: float, dof: int) -> float:
    """Two-sided Student-t critical value."""
    try:
        from scipy import stats
    except ImportError:
        raise MissingDependencyError("confidence intervals need scipy: pip install 'llenergymeasure[report]'") from None
    return float(stats.t.ppf(0.5 + confidence / 2.0, dof))


def summarize(values: Iterable[float | None], confidence: float = 0.95, positive: bool = False) -> Summary | None:
    """Mean, sample std, CV and a ``confidence`` interval; None when there are no values.

    ``positive``: the quantity cannot be zero or negative, so the interval is ``log-t`` (see the
    module docstring) and never leaves (0, inf). If a value is <= 0 anyway, the plain ``t`` interval
    is used rather than dropping data, and ``ci_method`` says so.
    """
    xs = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not xs:
        return None
    mean = statistics.fmean(xs)
    geometric = positive and all(x > 0 for x in xs)
    log_centre = statistics.fmean(math.log(x) for x in xs) if geometric else 0.0
    centre, kind = (math.exp(log_centre), "geometric_mean") if geometric else (mean, "mean")
    if len(xs) < 2:
        return Summary(len(xs), mean, None, None, None, None, None, centre, kind)
    std = statistics.stdev(xs)
    cv = std / mean if mean else None
    t = t_critical(confidence, len(xs) - 1)
    if geometric:
        half = t * statistics.stdev(math.log(x) for x in xs) / math.sqrt(len(xs))
        low, high = math.exp(log_centre - half), math.exp(log_centre + half)
        return Summary(len(xs), mean, std, cv, low, high, CI_LOG_T, centre, kind)
    half = t * std / math.sqrt(len(xs))
    return Summary(len(xs), mean, std, cv, mean - half, mean + half, CI_T, centre, kind)


@dataclass(frozen=True)
class ConfigStats:
    """Every summarised metric of one config, with the values that identify it."""

    config_hash: str
    label: dict[str, Any]
    metrics: dict[str, Summary]
    high_cv: list[str]
    negative_adjusted: bool = False  # some cycle drew less than its idle baseline: never ranked by adjusted energy


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
        for metric, spec in METRICS.items():
            s = summarize((r.get(metric) for r in members), confidence, spec.positive)
            if s is not None:
                summaries[metric] = s
        # Serving percentiles vary by design at low n and carry their CIs in their own table.
        flagged = [
            m
            for m, s in summaries.items()
            if m not in SERVING_METRICS and s.cv is not None and abs(s.cv) > cv_threshold
        ]
        label = {c: members[0].get(c) for c in label_columns}
        negative = any(
            r.get("energy.adjusted_energy_j") is not None and r["energy.adjusted_energy_j"] < 0 for r in members
        )
        out.append(ConfigStats(h, label, summaries, flagged, negative))
    return out


def unranked(stats: list[ConfigStats], metric: str) -> list[tuple[ConfigStats, str]]:
    """Configs left out of the ranking by ``metric``, each with the reason (shown, never dropped silently)."""
    out = []
    for s in stats:
        if metric not in s.metrics:
            out.append((s, f"no {metric}"))
        elif metric == ADJUSTED_METRIC and s.negative_adjusted:
            out.append((s, "energy above idle negative in some cycle (below the idle baseline): not ranked"))
    return out


def rank(stats: list[ConfigStats], metric: str) -> list[tuple[ConfigStats, bool]]:
    """Configs ordered best-first by ``metric``; True marks a CI overlapping the one ranked just above.

    Configs in ``unranked`` are not in it.
    """
    lower_better = METRICS[metric].lower_better
    left_out = {id(s) for s, _ in unranked(stats, metric)}
    present = [s for s in stats if id(s) not in left_out]
    present.sort(key=lambda s: s.metrics[metric].value, reverse=not lower_better)
    ranked: list[tuple[ConfigStats, bool]] = []
    for i, s in enumerate(present):
        ranked.append((s, i > 0 and overlaps(present[i - 1].metrics[metric], s.metrics[metric])))
    return ranked


def overlaps(a: Summary, b: Summary) -> bool:
    """Whether two confidence intervals overlap (not distinguishable at that confidence)."""
    if a.ci_low is None or a.ci_high is None or b.ci_low is None or b.ci_high is None:
        return False
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high


ENERGY_METRIC = "energy.energy_per_output_token_j"
ADJUSTED_METRIC = "energy.adjusted_energy_per_output_token_j"
FALLBACK_METRIC = "metrics.output_tokens_per_s"

RankBy = Literal["total", "above-idle", "throughput"]
# What ``--rank-by`` accepts, default first.
RANK_BY: tuple[RankBy, ...] = ("total", "above-idle", "throughput")


@dataclass(frozen=True)
class Ranking:
    """The metric configs are ranked by, why it is not the one asked for when it is not, and what is shown beside."""

    metric: str
    lower_better: bool
    note: str | None
    beside: str | None = None  # shown next to the ranked metric: the other J/token figure, where configs have it


def ranking_metric(stats: list[ConfigStats], rank_by: RankBy = "total") -> Ranking:
    """The ranking ``rank_by`` asks for, or the nearest one the results allow, with a note saying why.

    ``total``: total J/token, what the meter saw (as ML.ENERGY and MLPerf report it), with J/token
    above idle beside it where configs have an idle baseline. Ranking above idle favours slow configs
    (a slower config's longer window has more of its energy subtracted as idle), hence not the default.
    ``above-idle``: J/token above idle with the total beside; if some configs have no baseline, all are
    ranked by the total instead, so every config is ranked on the same footing, and the note says so.
    ``throughput``: output tokens/s, higher first, total J/token beside.
    Either energy choice falls back to tokens/s when no result has energy.
    """
    if rank_by not in RANK_BY:
        raise ValueError(f"unknown ranking {rank_by!r}; valid: {', '.join(RANK_BY)}")
    with_energy = [s for s in stats if ENERGY_METRIC in s.metrics]
    adjusted = ADJUSTED_METRIC if any(ADJUSTED_METRIC in s.metrics for s in with_energy) else None
    if rank_by == "throughput":
        return Ranking(FALLBACK_METRIC, False, None, beside=ENERGY_METRIC if with_energy else None)
    if not with_energy:
        note = (
            f"energy unavailable in every result (no NVML), so ranked by {FALLBACK_METRIC} instead of {ENERGY_METRIC}"
        )
        return Ranking(FALLBACK_METRIC, False, note)
    if rank_by == "above-idle":
        missing = sum(ADJUSTED_METRIC not in s.metrics for s in with_energy)
        if not missing:
            return Ranking(ADJUSTED_METRIC, True, None, beside=ENERGY_METRIC)
        note = (
            f"{missing} of {len(with_energy)} configs have no idle baseline, so all are ranked by total"
            f" {ENERGY_METRIC} instead of {ADJUSTED_METRIC}"
        )
        return Ranking(ENERGY_METRIC, True, note, beside=adjusted)
    return Ranking(ENERGY_METRIC, True, None, beside=adjusted)


def ranked_order(stats: list[ConfigStats], metric: str) -> list[tuple[ConfigStats, int | None]]:
    """Every config with its 1-based rank by ``metric``, best first; those in ``unranked`` after, rank None."""
    ranked = [(s, i) for i, (s, _) in enumerate(rank(stats, metric), start=1)]
    return [*ranked, *((s, None) for s, _ in unranked(stats, metric))]
