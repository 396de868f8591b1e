"""Energy arithmetic: pure functions over readings, unit-tested with exact numbers."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

# nvmlDeviceGetTotalEnergyConsumption returns an unsigned long long in mJ.
NVML_ENERGY_COUNTER_MODULUS_MJ = 2**64


def trapezoid_energy_j(times_s: Sequence[float], power_w: Sequence[float | None]) -> float:
    """Integrate sampled power over time; samples that failed (None) are bridged by their neighbours."""
    pts = [(t, p) for t, p in zip(times_s, power_w, strict=True) if p is not None]
    total = 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(pts):
        total += (t1 - t0) * (p0 + p1) / 2.0
    return total


def sampling_bound_j(times_s: Sequence[float], power_w: Sequence[float | None]) -> float:
    """Resolution bound of ``trapezoid_energy_j``: half the gap between the left and right Riemann sums.

    Between two samples the true power is unknown; if it stayed anywhere between the two readings,
    the energy of that interval lies between the left and the right rectangle, and the trapezoid
    sits in the middle. The bound grows with power swings and with the sampling interval, and is 0
    at constant power. It cannot see what the readings themselves smooth away (NVML's power is a
    ~1 s average on Ampere and newer), which is why the counter is preferred where it exists.
    """
    pts = [(t, p) for t, p in zip(times_s, power_w, strict=True) if p is not None]
    return sum((t1 - t0) * abs(p1 - p0) / 2.0 for (t0, p0), (t1, p1) in itertools.pairwise(pts))


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


def counter_quantisation_bound_j(update_period_s: float, edge_power_w: float) -> float:
    """Largest error the counter's update period can put on one GPU's window energy, in J.

    A read at time t returns the counter as of its last update, up to one period ``T`` earlier.
    The start read therefore adds the energy of ``[u0, t0]`` and the end read drops that of
    ``[u1, t1]``; each lies in ``[0, P*T)`` for power ``P`` near that edge, and they enter with
    opposite signs, so ``|error| < T * max(P_start, P_end)``. Pass the larger edge power; NVML's
    power readings are themselves averaged, so callers take the max of edge readings and the
    window's mean power as ``edge_power_w``. At constant power the relative bound is ``T / window``.
    """
    return update_period_s * edge_power_w


def relative_gap(a: float, b: float) -> float:
    """``|a-b| / max(|a|,|b|)``, 0 for two zeros: how far two independent estimates disagree."""
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0
