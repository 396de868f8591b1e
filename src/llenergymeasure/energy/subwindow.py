"""Energy over a sub-window of a measured window (a server run's steady state).

The meter measures one window with begin()/end(). A sub-window's edges are only known while the
work runs, so the caller reads the energy counters at each edge (``EdgeReading``) and this module
turns the two readings, plus the meter's timeseries, into energy with the same rules as the meter:
the counter delta where the counter was used, else sampled power integrated over exactly
``[start, end]`` (linear interpolation at the edges). Pure functions, unit-tested with exact numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from llenergymeasure.energy.integrate import counter_delta_mj, counter_quantisation_bound_j
from llenergymeasure.energy.meter import MIN_UPDATES_PER_WINDOW
from llenergymeasure.energy.sampler import Sample


@dataclass(frozen=True)
class EdgeReading:
    """The energy counters (mJ, one per GPU, None where a read failed) at clock time ``t_s``."""

    t_s: float
    counters_mj: list[int | None]


@dataclass(frozen=True)
class SubWindowEnergy:
    """Energy between two edges, how it was obtained, and its resolution bound (counter only)."""

    start_s: float
    end_s: float
    total_energy_j: float
    per_gpu_energy_j: dict[int, float]
    method: str
    uncertainty_j: float | None
    notes: list[str]


def trapezoid_between_j(times_s: Sequence[float], power_w: Sequence[float | None], t_a: float, t_b: float) -> float:
    """Integral of sampled power over ``[t_a, t_b]`` exactly: the piecewise-linear curve is cut at both edges.

    Failed samples (None) are bridged by their neighbours; outside the sampled span the nearest
    sample's power is held.
    """
    pts = [(t, p) for t, p in zip(times_s, power_w, strict=True) if p is not None]
    if not pts or t_b <= t_a:
        return 0.0

    def at(t: float) -> float:
        if t <= pts[0][0]:
            return pts[0][1]
        if t >= pts[-1][0]:
            return pts[-1][1]
        for (t0, p0), (t1, p1) in itertools.pairwise(pts):
            if t0 <= t <= t1:
                return p0 if t1 == t0 else p0 + (p1 - p0) * (t - t0) / (t1 - t0)
        raise AssertionError("unreachable")  # pragma: no cover

    knots = [t_a, *(t for t, _ in pts if t_a < t < t_b), t_b]
    return sum((t1 - t0) * (at(t0) + at(t1)) / 2.0 for t0, t1 in itertools.pairwise(knots))


def subwindow_energy(
    start: EdgeReading,
    end: EdgeReading,
    gpus: Sequence[int],
    samples: Sequence[Sample],
    use_counter: bool,
    update_period_s: float | None,
) -> SubWindowEnergy:
    """Energy between two edge readings; ``use_counter`` is whether the whole-window meter trusted the counter.

    The counter's resolution bound is the meter's: per GPU ``period x max(edge power, mean power)``,
    edge power from the samples nearest each edge. A sub-window shorter than
    ``MIN_UPDATES_PER_WINDOW`` counter updates gets a note, as a short whole window does.
    """
    duration = end.t_s - start.t_s
    notes: list[str] = []
    counters = [*start.counters_mj, *end.counters_mj]
    per_gpu: dict[int, float]
    uncertainty: float | None = None
    if use_counter and counters and all(c is not None for c in counters):
        per_gpu = {
            gpu: counter_delta_mj(int(c0), int(c1)) / 1000.0  # type: ignore[arg-type]
            for gpu, c0, c1 in zip(gpus, start.counters_mj, end.counters_mj, strict=True)
        }
        method = "counter"
        if update_period_s is not None:
            uncertainty = 0.0
            for gpu, energy_j in per_gpu.items():
                mean_w = energy_j / duration if duration > 0 else 0.0
                uncertainty += counter_quantisation_bound_j(
                    update_period_s, max([mean_w, *_edge_powers(samples, gpu, start.t_s, end.t_s)])
                )
    else:
        per_gpu = {
            gpu: trapezoid_between_j(
                [s.t_s for s in samples if s.gpu == gpu],
                [s.power_w for s in samples if s.gpu == gpu],
                start.t_s,
                end.t_s,
            )
            for gpu in gpus
        }
        method = "sampling"
    if update_period_s is not None and duration < MIN_UPDATES_PER_WINDOW * update_period_s:
        notes.append(
            f"steady-state window {duration:.3f} s is shorter than {MIN_UPDATES_PER_WINDOW} energy counter updates"
            f" ({update_period_s:.3f} s each): its energy is coarse; send more requests (n_prompts)"
        )
    return SubWindowEnergy(start.t_s, end.t_s, sum(per_gpu.values()), per_gpu, method, uncertainty, notes)


def _edge_powers(samples: Sequence[Sample], gpu: int, t_a: float, t_b: float) -> list[float]:
    """Power readings of the samples nearest each edge."""
    mine = [s for s in samples if s.gpu == gpu and s.power_w is not None]
    if not mine:
        return []
    near = [min(mine, key=lambda s: abs(s.t_s - t)) for t in (t_a, t_b)]
    return [s.power_w for s in near if s.power_w is not None]
