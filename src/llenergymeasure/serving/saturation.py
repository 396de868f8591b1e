"""A saturation sweep's arithmetic (``scenario.saturation``): the rates it tries and which ones held.

GuideLLM's ``sweep`` profile, in one unit: a synchronous phase (one request at a time) gives the
lowest useful rate, a throughput phase (every request at once) the highest the server completes;
``points - 2`` evenly spaced rates strictly between them are then offered as open loops. Pure: the
phases' requests come in, the curve and its verdicts go out.
"""

from __future__ import annotations

from collections.abc import Sequence

from llenergymeasure.serving.arrivals import schedule_rate_per_s
from llenergymeasure.serving.stats import StreamedRequest


def phase_rates(low_per_s: float, high_per_s: float, n: int) -> list[float]:
    """``n`` rates evenly spaced strictly between ``low`` and ``high`` (GuideLLM spaces its sweep the same way).

    ``high`` at or below ``low`` (a server no faster with many requests than with one) leaves
    nothing between: the rates then step up from ``low`` to twice it, so the sweep still probes
    beyond the synchronous rate.
    """
    if n <= 0:
        return []
    if high_per_s <= low_per_s:
        high_per_s = 2.0 * low_per_s
    step = (high_per_s - low_per_s) / (n + 1)
    return [low_per_s + step * (k + 1) for k in range(n)]


def completed_rate_per_s(requests: Sequence[StreamedRequest]) -> float | None:
    """Successful requests finished per second: ``n - 1`` over the span of their completions.

    The estimator ``arrivals.schedule_rate_per_s`` applies to arrivals, so a server that kept up
    completes at the rate requests arrived (completions trail arrivals by a latency that does not
    grow), and one that fell behind completes at its own pace: the ratio of the two is the verdict.
    """
    return schedule_rate_per_s([r.done_s for r in requests if r.ok])


def sustained(offered_per_s: float | None, completed_per_s: float | None, n_failed: int, ratio: float) -> bool | None:
    """Whether a rate held: nothing failed and completions kept ``ratio`` of the offered rate; None if unknown."""
    if offered_per_s is None or completed_per_s is None or offered_per_s <= 0:
        return None
    return n_failed == 0 and completed_per_s >= ratio * offered_per_s


def highest_sustained(rates: Sequence[tuple[float | None, bool | None]]) -> float | None:
    """The highest offered rate that held, over the rate phases; None when none did."""
    held = [rate for rate, ok in rates if ok and rate is not None]
    return max(held) if held else None
