"""What each report plot draws, as plain values: which configs, which series, the view, the bars. Pure.

Why the view follows centres and cycle values only: from 2 or 3 cycles an interval spans +-12.7 or
+-4.3 standard errors (a log-t interval of cycles 0.05, 0.1, 3.12 reaches 37 x its centre), so a
view stretched to hold it squashes every point into one line. The view holds what was measured; a
bar reaching past it is cut at the edge and marked there, and the caption says so. Data spanning
more than ``LOG_DECADES`` decades get a log axis, where a factor reads the same at every height.

Why series are scoped: a backend-scoped axis (``pytorch.batch_size``) has no value for another
backend's configs, so its plot holds only its backend's configs, and a series is named only by the
fields that apply to its config (never ``vllm.max_num_seqs=None``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llenergymeasure.results.axes import applies, axis_name, is_numeric, scope_of, value_text
from llenergymeasure.results.stats import ConfigStats, Spread, Summary, spread

LOG_DECADES = 1.5  # data spanning more than this many decades are drawn on a log axis
MARGIN = 0.08  # space either side of the data: a fraction of their span (of their decades on a log axis)
CLIP_NOTE = "bars reaching beyond the view are cut at its edge, marked ▲ / ▼"


@dataclass(frozen=True)
class View:
    """Axis limits and scale chosen from the measured values, never from an interval's bounds."""

    low: float
    high: float
    log: bool


def view_of(values: Sequence[float]) -> View:
    """Limits around ``values`` (centres and cycle values) with a ``MARGIN``; log when they span decades.

    Linear: the span widened by ``MARGIN`` each side, never below 0 for data that are not negative.
    Log (every value > 0, span above ``LOG_DECADES`` decades): ``MARGIN`` of the decades each side.
    """
    xs = [float(v) for v in values if math.isfinite(v)]
    if not xs:
        return View(0.0, 1.0, False)
    lo, hi = min(xs), max(xs)
    if lo > 0 and math.log10(hi / lo) > LOG_DECADES:
        pad = 10 ** (MARGIN * math.log10(hi / lo))
        return View(lo / pad, hi * pad, True)
    span = (hi - lo) or abs(hi) or 1.0
    low = lo - MARGIN * span
    return View(max(low, 0.0) if lo >= 0 else low, hi + MARGIN * span, False)


@dataclass(frozen=True)
class Bar:
    """A bar as drawn: its ends inside the view, and which ends were cut there (marked on the plot)."""

    low: float
    high: float
    cut_low: bool
    cut_high: bool


def bar_in_view(sp: Spread, view: View) -> Bar | None:
    """``sp`` cut to ``view``; None when there is no bar (one cycle)."""
    if sp.low is None or sp.high is None:
        return None
    cut_low, cut_high = sp.low < view.low, sp.high > view.high
    low = min(max(sp.low, view.low), view.high)
    high = max(min(sp.high, view.high), view.low)
    return Bar(low, high, cut_low, cut_high)


def bars_caption(summaries: Sequence[Summary], confidence: float, intervals_at_2: bool) -> str:
    """What a plot's bars are: the interval, the 2 cycles' range where that stands in for it, or none."""
    kinds = {spread(s, intervals_at_2).kind for s in summaries}
    if kinds <= {"none"}:
        return "centre of each config (one cycle: no bars)"
    if "interval" not in kinds:
        return "centre and range of the 2 cycles"
    text = f"centre and {confidence:.0%} CI"
    return f"{text}; 2 cycles: their range" if "range" in kinds else text


def cycle_offsets(n: int, step: float) -> list[float]:
    """Horizontal offsets of ``n`` cycle points around their centre: alternate sides, none on it.

    Why never 0: a cycle drawn at its centre's x hides under the centre marker.
    """
    return [(1 if i % 2 == 0 else -1) * step * (1 + 0.5 * (i // 2)) for i in range(n)]


def series_offsets(k: int, width: float = 0.6) -> list[float]:
    """Offsets of ``k`` series around each x position, so series at one x stand side by side."""
    return [(i - (k - 1) / 2) * width / k for i in range(k)]


def order_key(value: Any) -> tuple[int, Any]:
    """Numbers in numeric order, then anything else by its text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, value_text(value))


def backend(s: ConfigStats, backend_of: Mapping[str, str]) -> str:
    """The backend of a config: its label when the backend is swept, else ``backend_of``."""
    return str(s.label.get("config.backend") or backend_of.get(s.config_hash) or "?")


def applies_to(s: ConfigStats, dim: str, backend_of: Mapping[str, str]) -> bool:
    """Whether ``dim`` has a value for config ``s``; with its backend unknown, whether it holds one."""
    b = backend(s, backend_of)
    return applies(dim, b) if b != "?" else s.label.get(dim) is not None


def swept_text(s: ConfigStats, dims: Sequence[str], backend_of: Mapping[str, str]) -> str:
    """``name=value`` of the ``dims`` that apply to this config's backend, for series and point labels."""
    return ", ".join(f"{axis_name(d)}={value_text(s.label.get(d))}" for d in dims if applies_to(s, d, backend_of))


@dataclass(frozen=True)
class Point:
    """One config on a by-dimension plot: its x value, the summary of the metric and each cycle's value."""

    config_hash: str
    x: Any
    summary: Summary
    cycles: tuple[float, ...]


@dataclass(frozen=True)
class DimensionSeries:
    """What a by-dimension plot draws: the x values in order, and one series per other swept combination."""

    dimension: str
    metric: str
    scope: str | None  # the backend a scoped axis belongs to: only its configs are drawn
    xs: list[str]  # tick texts in order
    numeric: bool  # whether lines may join a series' points
    series: dict[str, list[Point]]  # name ("" for a single series) -> points in x order
    left_out: int = 0  # configs with the metric that the scoped axis does not apply to


def dimension_series(
    stats: Sequence[ConfigStats],
    dimension: str,
    dims: Sequence[str],
    metric: str,
    backend_of: Mapping[str, str],
) -> DimensionSeries | None:
    """``metric`` against ``dimension`` over the configs it applies to; None when none has the metric.

    Series are the combinations of the other swept fields that vary among those configs, each named
    by the fields that apply to it; a 2-D sweep (batch size x precision) becomes a line per precision.
    """
    scope = scope_of(dimension)
    with_metric = [s for s in stats if metric in s.metrics]
    configs = [s for s in with_metric if applies_to(s, dimension, backend_of)]
    if not configs:
        return None

    def varies(d: str) -> bool:
        texts = {value_text(s.label.get(d)) for s in configs if applies_to(s, d, backend_of)}
        return len(texts) > 1

    others = [d for d in dims if d != dimension and varies(d)]
    configs.sort(key=lambda s: [order_key(s.label.get(d)) for d in [*others, dimension]])
    series: dict[str, list[Point]] = {}
    for s in configs:
        by_cycle = s.cycles.get(metric, {})
        point = Point(
            s.config_hash, s.label.get(dimension), s.metrics[metric], tuple(by_cycle[c] for c in sorted(by_cycle))
        )
        series.setdefault(swept_text(s, others, backend_of), []).append(point)
    values = sorted(
        {value_text(s.label.get(dimension)): s.label.get(dimension) for s in configs}.values(), key=order_key
    )
    xs = [value_text(v) for v in values]
    return DimensionSeries(dimension, metric, scope, xs, is_numeric(values), series, len(with_metric) - len(configs))


@dataclass(frozen=True)
class Pair:
    """One config on a scatter of two metrics: both summaries and the (x, y) of every cycle that has both."""

    stats: ConfigStats
    x: Summary
    y: Summary
    cycles: tuple[tuple[float, float], ...]


def pairs(stats: Sequence[ConfigStats], x: str, y: str) -> list[Pair]:
    """Configs with both ``x`` and ``y``, each cycle paired by its number (a cycle measures both at once)."""
    out = []
    for s in stats:
        if x in s.metrics and y in s.metrics:
            cx, cy = s.cycles.get(x, {}), s.cycles.get(y, {})
            out.append(Pair(s, s.metrics[x], s.metrics[y], tuple((cx[c], cy[c]) for c in sorted(set(cx) & set(cy)))))
    return out
