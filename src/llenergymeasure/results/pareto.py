"""The Pareto frontier of a load sweep: configs no other config beats on both axes.

Pure: points in, frontier indices out, so it is unit-tested on exact cases. Each axis says whether
lower is better (latency, J/token) or higher (tokens/s, the fallback without energy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def dominates(a: tuple[float, float], b: tuple[float, float], lower_x: bool = True, lower_y: bool = True) -> bool:
    """Whether ``a`` is at least as good as ``b`` on both axes and strictly better on one."""
    sx = 1.0 if lower_x else -1.0
    sy = 1.0 if lower_y else -1.0
    ax, ay, bx, by = sx * a[0], sy * a[1], sx * b[0], sy * b[1]
    return ax <= bx and ay <= by and (ax < bx or ay < by)


def pareto_front(points: Sequence[tuple[float, float]], lower_x: bool = True, lower_y: bool = True) -> list[int]:
    """Indices of the non-dominated points, ordered along the x axis (best x first); ties both kept."""
    front = [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p, lower_x, lower_y) for j, q in enumerate(points) if j != i)
    ]
    return sorted(front, key=lambda i: (points[i][0] if lower_x else -points[i][0], i))


TPOT_P90 = "serving.tpot_ms.p90"
# The energy axis, best first: the steady state (the load the config is meant to hold), else the
# whole run; without energy anywhere (no NVML) the trade-off is drawn against throughput instead.
Y_CHOICES: tuple[tuple[str, str, bool], ...] = (
    ("serving.steady_state.energy_per_output_token_j", "J / output token (steady state)", True),
    ("serving.whole_run.energy_per_output_token_j", "J / output token (whole run)", True),
    ("serving.whole_run.output_tokens_per_s", "output tokens / s", False),
)


@dataclass(frozen=True)
class ParetoAxes:
    """Which summarised metrics the Pareto plot uses, and which way is better on y."""

    x: str
    y: str
    y_label: str
    lower_y: bool


def pareto_axes(available: Sequence[set[str]]) -> ParetoAxes | None:
    """Axes for configs whose summarised metric names are ``available``; None without a server run."""
    if not any(TPOT_P90 in names for names in available):
        return None
    for metric, label, lower in Y_CHOICES:
        if any(metric in names and TPOT_P90 in names for names in available):
            return ParetoAxes(TPOT_P90, metric, label, lower)
    return None
