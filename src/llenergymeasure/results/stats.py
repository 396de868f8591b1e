"""Statistics across cycles: a centre, spread and a confidence interval per config.

Throughput, latency and raw energy are strictly positive, and a symmetric t-interval around their
mean can reach below zero with few cycles (n=2 gives t=12.7). For those the interval is a t-interval
of log values mapped back (``log-t``: an interval for the geometric mean, always positive). Quantities
that can be zero or negative (baseline-adjusted energy) keep the plain ``t`` interval.

Few cycles: from 2 cycles an interval spans +-12.7 standard errors, so tables show the two cycles'
range instead unless asked (``spread``); from 1 there is none. Ranking: configs are ordered by
their centre, and each is compared with the one ranked just above it cycle by cycle (a cycle runs
every config once, so cycles are paired blocks that share the machine's drift): a paired t-test on
log ratios for positive metrics, on differences otherwise (``paired_compare``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llenergymeasure.errors import MissingDependencyError
from llenergymeasure.results.metrics import BY_KEY, MetricSpec
from llenergymeasure.results.naming import SHORT_HASH_LEN, short_hashes

CI_T = "t"
CI_LOG_T = "log-t"


# Metrics summarised per config, in display order, with direction and interval (results/metrics.py).
METRICS: dict[str, MetricSpec] = dict(BY_KEY)
# Server mode (scenario.kind: server): an ITL percentile or goodput of 0 falls back to the t interval (summarize).
SERVING_METRICS: dict[str, MetricSpec] = {k: m for k, m in METRICS.items() if m.serving}


@dataclass(frozen=True)
class Summary:
    """One metric of one config over its cycles; ``ci_method`` says how the interval was computed.

    ``centre`` is what tables, plots and rankings show: the centre the interval is built around.
    A log-t interval is an interval for the geometric mean, so a strictly positive metric's centre
    is its geometric mean (``centre_kind``); a metric that can be zero or negative has the arithmetic
    mean and a t interval. ``mean`` stays the arithmetic mean, for reference. ``min_value`` and
    ``max_value`` are the cycles' range, what tables show instead of the interval at n = 2.
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
    min_value: float | None = None
    max_value: float | None = None

    def __post_init__(self) -> None:
        if self.centre is None:
            object.__setattr__(self, "centre", self.mean)

    @property
    def value(self) -> float:
        """The centre as a float (always set: the arithmetic mean where no other centre applies)."""
        return float(self.centre if self.centre is not None else self.mean)


def t_critical(confidence: float, dof: float) -> float:
    """Two-sided Student-t critical value."""
    try:
        from scipy import stats
    except ImportError:
        raise MissingDependencyError("confidence intervals need scipy: pip install 'llenergymeasure[report]'") from None
    return float(stats.t.ppf(0.5 + confidence / 2.0, dof))


def t_p_value(t: float, dof: int) -> float:
    """Two-sided p-value of a Student-t statistic (scipy, as ``t_critical``)."""
    try:
        from scipy import stats
    except ImportError:
        raise MissingDependencyError("confidence intervals need scipy: pip install 'llenergymeasure[report]'") from None
    return float(2.0 * stats.t.sf(abs(t), dof))


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
    lo, hi = min(xs), max(xs)
    if len(xs) < 2:
        return Summary(len(xs), mean, None, None, None, None, None, centre, kind, lo, hi)
    std = statistics.stdev(xs)
    cv = std / mean if mean else None
    t = t_critical(confidence, len(xs) - 1)
    if geometric:
        half = t * statistics.stdev(math.log(x) for x in xs) / math.sqrt(len(xs))
        low, high = math.exp(log_centre - half), math.exp(log_centre + half)
        return Summary(len(xs), mean, std, cv, low, high, CI_LOG_T, centre, kind, lo, hi)
    half = t * std / math.sqrt(len(xs))
    return Summary(len(xs), mean, std, cv, mean - half, mean + half, CI_T, centre, kind, lo, hi)


SpreadKind = Literal["interval", "range", "none"]


@dataclass(frozen=True)
class Spread:
    """What a table or plot shows around a centre: its interval, or what stands in for one at n <= 2.

    ``method`` is what the table's method column says: ``log-t`` / ``t``, ``range of 2 cycles``,
    or ``one cycle: no interval``.
    """

    kind: SpreadKind
    low: float | None
    high: float | None
    method: str


RANGE_METHOD = "range of 2 cycles"
ONE_CYCLE = "one cycle: no interval"


def spread(s: Summary, intervals_at_2: bool = False) -> Spread:
    """The interval of ``s``, but with 2 cycles their range (unless ``intervals_at_2``) and with 1 nothing.

    Two values give a t-interval +-12.7 standard errors wide (dof 1): log-t bounds of 10^-2 to 10^7
    tok/s for cycles 123 and 615. That says "run more cycles", not where the value lies; the range
    of the two cycles says what was seen. ``intervals_at_2`` shows the interval anyway, as does a
    summary built without its range.
    """
    if s.n < 2 or s.ci_low is None or s.ci_high is None:
        return Spread("none", None, None, ONE_CYCLE)
    if s.n == 2 and not intervals_at_2 and s.min_value is not None and s.max_value is not None:
        return Spread("range", s.min_value, s.max_value, RANGE_METHOD)
    return Spread("interval", s.ci_low, s.ci_high, s.ci_method or CI_T)


def range_note(summaries: Iterable[Summary], intervals_at_2: bool, confidence: float) -> str | None:
    """The note under a table that shows some 2-cycle ranges in place of intervals; None if it shows none."""
    if intervals_at_2 or not any(spread(s).kind == "range" for s in summaries):
        return None
    return (
        f"n = 2: the range of the two cycles is shown instead of a {confidence:.0%} interval, which from 2 cycles"
        f" spans +-{t_critical(confidence, 1):.1f} standard errors; run more cycles (--intervals-at-2 shows it)"
    )


@dataclass(frozen=True)
class ConfigStats:
    """Every summarised metric of one config, with the values that identify it."""

    config_hash: str
    label: dict[str, Any]
    metrics: dict[str, Summary]
    high_cv: list[str]
    negative_adjusted: bool = False  # some cycle drew less than its idle baseline: never ranked by adjusted energy
    # metric -> cycle -> value: what the paired comparison of two configs pairs up.
    cycles: dict[str, dict[int, float]] = field(default_factory=dict)
    # The config's label in tables and plots: 8 hash digits, more where two configs share those.
    short_hash: str = ""

    @property
    def hash_label(self) -> str:
        """``short_hash``, or the first 8 digits for stats built without the others."""
        return self.short_hash or self.config_hash[:SHORT_HASH_LEN]


def by_config(
    rows: list[dict[str, Any]], label_columns: list[str], cv_threshold: float = 0.05, confidence: float = 0.95
) -> list[ConfigStats]:
    """Group rows by config hash and summarise each metric; flag metrics whose CV exceeds the threshold.

    Each config keeps its per-cycle values by cycle number (a row's ``cycle``; rows without one are
    numbered by their order), for the paired comparison between configs.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["config_hash"], []).append(row)
    short = short_hashes(groups)
    out = []
    for h, members in groups.items():
        summaries: dict[str, Summary] = {}
        cycles: dict[str, dict[int, float]] = {}
        for metric, spec in METRICS.items():
            s = summarize((r.get(metric) for r in members), confidence, spec.positive)
            if s is not None:
                summaries[metric] = s
                cycles[metric] = {
                    int(r.get("cycle") or i): float(r[metric])
                    for i, r in enumerate(members, start=1)
                    if r.get(metric) is not None and not math.isnan(r[metric])
                }
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
        out.append(ConfigStats(h, label, summaries, flagged, negative, cycles, short[h]))
    return out


def unranked(stats: list[ConfigStats], metric: str) -> list[tuple[ConfigStats, str]]:
    """Configs left out of the ranking by ``metric``, each with the reason (shown, never dropped silently)."""
    out = []
    for s in stats:
        if metric not in s.metrics:
            out.append((s, f"no {BY_KEY[metric].phrase if metric in BY_KEY else metric}"))
        elif metric == ADJUSTED_METRIC and s.negative_adjusted:
            out.append((s, "energy above idle negative in some cycle (below the idle baseline): not ranked"))
    return out


PAIRED_LOG_T = "paired log-t"
PAIRED_T = "paired t"


@dataclass(frozen=True)
class PairedComparison:
    """One config against the config ranked just above it, over the cycles both have.

    ``estimate`` is this config relative to the one above: for ``paired log-t`` the geometric mean
    of the per-cycle ratios this / above (with every cycle shared, the ratio of the two geometric
    means, so it agrees with the centres the ranking sorts by); for ``paired t`` the mean per-cycle
    difference this - above. ``ci_low``/``ci_high`` bound it at the ranking's confidence;
    ``distinguishable`` is whether that interval excludes no difference (1 for a ratio, 0 for a
    difference): a two-sided paired t-test at level 1 - confidence. None with fewer than 2 shared
    cycles (no test is possible).
    """

    method: str
    pairs: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    distinguishable: bool | None


def paired_compare(
    above: dict[int, float], this: dict[int, float], positive: bool, confidence: float = 0.95
) -> PairedComparison:
    """Paired t-test of ``this`` against ``above`` over their shared cycles (cycle number -> value).

    Why paired: a cycle runs every config once, close together in time, so slow drift (clocks,
    temperature, the machine's other load) moves both configs' values in that cycle alike; the
    per-cycle difference removes it, where comparing two unpaired intervals keeps it in both.
    ``positive`` (and every paired value > 0): log ratios, matching the geometric-mean centre.
    """
    shared = sorted(set(above) & set(this))
    logs = positive and all(above[c] > 0 and this[c] > 0 for c in shared)
    method = PAIRED_LOG_T if logs else PAIRED_T
    d = [math.log(this[c] / above[c]) if logs else this[c] - above[c] for c in shared]
    back = math.exp if logs else float
    if not d:
        return PairedComparison(method, 0, None, None, None, None, None)
    mean = statistics.fmean(d)
    if len(d) < 2:
        return PairedComparison(method, 1, back(mean), None, None, None, None)
    sem = statistics.stdev(d) / math.sqrt(len(d))
    if sem == 0:  # every cycle differs by exactly the same amount: no spread to test against
        same = mean == 0
        return PairedComparison(method, len(d), back(mean), back(mean), back(mean), 1.0 if same else 0.0, not same)
    half = t_critical(confidence, len(d) - 1) * sem
    low, high = mean - half, mean + half
    p = t_p_value(mean / sem, len(d) - 1)
    return PairedComparison(method, len(d), back(mean), back(low), back(high), p, not low <= 0.0 <= high)


@dataclass(frozen=True)
class Ranked:
    """A config's place in a ranking: its rank (None: left out, with ``reason``) and how it compares above."""

    stats: ConfigStats
    rank: int | None
    vs_above: PairedComparison | None = None  # None for the first and for those left out
    reason: str | None = None

    @property
    def mark(self) -> str:
        """``≈``: not distinguishable from the config above; ``?``: not tested (< 2 shared cycles); else empty."""
        if self.vs_above is None or self.vs_above.distinguishable:
            return ""
        return "?" if self.vs_above.distinguishable is None else "≈"


def rank(stats: list[ConfigStats], metric: str, confidence: float = 0.95) -> list[Ranked]:
    """Configs ordered best-first by the centre of ``metric``, each compared with the one just above.

    The comparison is ``paired_compare`` over the cycles both configs have, at ``confidence``.
    Configs in ``unranked`` are not in it.
    """
    spec = METRICS[metric]
    left_out = {id(s) for s, _ in unranked(stats, metric)}
    present = [s for s in stats if id(s) not in left_out]
    present.sort(key=lambda s: s.metrics[metric].value, reverse=not spec.lower_better)
    ranked: list[Ranked] = []
    for i, s in enumerate(present):
        vs = None
        if i:
            above = present[i - 1]
            vs = paired_compare(above.cycles.get(metric, {}), s.cycles.get(metric, {}), spec.positive, confidence)
        ranked.append(Ranked(s, i + 1, vs))
    return ranked


def comparison_note(ranked: list[Ranked], confidence: float) -> str:
    """The legend under a ranking: what ``≈`` and ``?`` mean, and the test behind them."""
    line = (
        f"≈: not distinguishable from the config ranked above at {confidence:.0%} (paired t-test over the cycles"
        " both ran: on log ratios for positive metrics, on differences otherwise)"
    )
    if any(r.mark == "?" for r in ranked):
        line += "; ?: not compared (fewer than 2 cycles in common)"
    return line


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
            f"energy unavailable in every result (no NVML), so ranked by {BY_KEY[FALLBACK_METRIC].phrase}"
            f" instead of {BY_KEY[ENERGY_METRIC].phrase}"
        )
        return Ranking(FALLBACK_METRIC, False, note)
    if rank_by == "above-idle":
        missing = sum(ADJUSTED_METRIC not in s.metrics for s in with_energy)
        if not missing:
            return Ranking(ADJUSTED_METRIC, True, None, beside=ENERGY_METRIC)
        note = (
            f"{missing} of {len(with_energy)} configs have no idle baseline, so all are ranked by"
            f" {BY_KEY[ENERGY_METRIC].phrase} instead of {BY_KEY[ADJUSTED_METRIC].phrase}"
        )
        return Ranking(ENERGY_METRIC, True, note, beside=adjusted)
    return Ranking(ENERGY_METRIC, True, None, beside=adjusted)


def ranked_item(r: Ranked, metric: str, confidence: float) -> dict[str, Any]:
    """One config of ``llem results --json``: its statistics plus its place in the ranking, as plain data.

    Beside every metric's summary (``metrics``) and per-cycle values (``cycles``): ``rank`` (None
    when left out, with ``unranked_reason``), the ranked metric's ``centre``, ``centre_kind``,
    ``ci_low``/``ci_high`` at ``confidence`` with ``ci_method`` and ``n``, and ``vs_above``, the
    paired comparison with the config ranked just above (None for the first and the left out).
    The interval is given at every n >= 2; only tables replace it with the range at n = 2.
    """
    m = r.stats.metrics.get(metric)
    return asdict(r.stats) | {
        "rank": r.rank,
        "ranking_metric": metric,
        "centre": m.value if m else None,
        "centre_kind": m.centre_kind if m else None,
        "ci_low": m.ci_low if m else None,
        "ci_high": m.ci_high if m else None,
        "ci_method": m.ci_method if m else None,
        "confidence": confidence,
        "n": m.n if m else 0,
        "vs_above": asdict(r.vs_above) if r.vs_above else None,
        "unranked_reason": r.reason,
    }


def ranked_order(stats: list[ConfigStats], metric: str, confidence: float = 0.95) -> list[Ranked]:
    """Every config placed by ``metric``: the ranking best first, then those in ``unranked`` (rank None, reason)."""
    left = [Ranked(s, None, None, reason) for s, reason in unranked(stats, metric)]
    return [*rank(stats, metric, confidence), *left]
