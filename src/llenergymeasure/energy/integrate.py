"""Energy arithmetic: pure functions over readings, unit-tested with exact numbers."""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Sequence

# nvmlDeviceGetTotalEnergyConsumption returns an unsigned long long in mJ.
NVML_ENERGY_COUNTER_MODULUS_MJ = 2**64


def counter_delta_mj(start_mj: int, end_mj: int, modulus: int = NVML_ENERGY_COUNTER_MODULUS_MJ) -> int:
    """Energy between two readings of a monotonically increasing counter that may wrap at ``modulus``."""
    return wrapped_delta(start_mj, end_mj, modulus)


def wrapped_delta(start: int, end: int, modulus: int) -> int:
    """Increase of a counter that wraps to 0 at ``modulus``, assuming it wrapped at most once.

    Any unit: NVML's counter is in mJ, Linux RAPL's ``energy_uj`` in uJ.
    """
    return (end - start) % modulus


def counter_update_period_s(readings: Sequence[tuple[float, int | None]]) -> float | None:
    """How often a cumulative counter updates, from ``(timestamp_s, value)`` polls in time order.

    The counter holds its value between updates, so an update is seen at the first poll whose
    value differs from the previous one; the period is the median gap between those change
    times (the median ignores a poll delayed by the scheduler). Each change time is late by up
    to one poll interval, so poll much faster than the period. Needs at least two changes
    (one whole period between them); returns None with fewer, or when a read failed (None).
    A counter that changes on every poll yields the poll interval: an upper bound.
    """
    if any(v is None for _, v in readings):
        return None
    changes = [t1 for (_, v0), (t1, v1) in itertools.pairwise(readings) if v1 != v0]
    if len(changes) < 2:
        return None
    return float(statistics.median(b - a for a, b in itertools.pairwise(changes)))


def relative_gap(a: float, b: float) -> float:
    """``|a-b| / max(|a|,|b|)``, 0 for two zeros: how far two independent estimates disagree."""
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


def value_at(pts: Sequence[tuple[float, float]], t: float) -> float:
    """The piecewise-linear curve through ``pts`` (sorted by time) at ``t``, held flat outside them."""
    if t <= pts[0][0]:
        return pts[0][1]
    if t >= pts[-1][0]:
        return pts[-1][1]
    k = bisect.bisect_right(pts, t, key=lambda p: p[0])
    (ta, pa), (tb, pb) = pts[k - 1], pts[k]
    return pa if tb == ta else pa + (pb - pa) * (t - ta) / (tb - ta)


def integrate_between(pts: Sequence[tuple[float, float]], t_a: float, t_b: float) -> float:
    """Integral over exactly ``[t_a, t_b]`` of the piecewise-linear curve through ``pts`` (held flat outside).

    Linear in the number of samples: an hour at 100 ms is 36,000 of them per GPU.
    """
    if not pts or t_b <= t_a:
        return 0.0
    lo = bisect.bisect_right(pts, t_a, key=lambda p: p[0])
    hi = bisect.bisect_left(pts, t_b, key=lambda p: p[0])
    knots = [(t_a, value_at(pts, t_a)), *pts[lo:hi], (t_b, value_at(pts, t_b))]
    return sum((u1 - u0) * (p0 + p1) / 2.0 for (u0, p0), (u1, p1) in itertools.pairwise(knots))


def interval_bound(pts: Sequence[tuple[float, float]], t_a: float, t_b: float, ceiling_w: float) -> float:
    """Bound on ``integrate_between`` if power moves one way between samples.

    A whole interval between two samples: half the gap between its rectangles. A partial one at an
    edge: the whole gap. Beyond the first or last sample, where the curve is held flat, nothing is
    known but the power limit: ``ceiling_w`` x the uncovered time.
    """
    if t_b <= t_a:
        return 0.0
    total = 0.0
    first, last = pts[0][0], pts[-1][0]
    total += ceiling_w * max(0.0, min(first, t_b) - t_a)
    total += ceiling_w * max(0.0, t_b - max(last, t_a))
    for (ta, pa), (tb, pb) in itertools.pairwise(pts):
        lo, hi = max(ta, t_a), min(tb, t_b)
        if hi <= lo:
            continue
        gap = abs(pb - pa)
        total += (hi - lo) * gap / (2.0 if (lo, hi) == (ta, tb) else 1.0)
    return total
