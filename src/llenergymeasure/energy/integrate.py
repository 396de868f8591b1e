"""Energy arithmetic: pure functions over readings, unit-tested with exact numbers."""

from __future__ import annotations

import itertools
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


def counter_delta_mj(start_mj: int, end_mj: int, modulus: int = NVML_ENERGY_COUNTER_MODULUS_MJ) -> int:
    """Energy between two readings of a monotonically increasing counter that may wrap at ``modulus``."""
    return (end_mj - start_mj) % modulus


def relative_gap(a: float, b: float) -> float:
    """``|a-b| / max(|a|,|b|)``, 0 for two zeros: how far two independent estimates disagree."""
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0
