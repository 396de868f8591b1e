"""The idle baseline from one settled idle window, pure: the median of sub-windows, with a bound on it.

The baseline is subtracted from a window ``D`` s long as ``baseline_w x D``, so its error enters
above-idle energy multiplied by ``D``: it needs its own bound. The window is cut into equal
sub-windows and each GPU's baseline is the median of their mean powers (robust to one transient:
a fan step, another process's blip). The bound covers the distance from that median to the
whole window's true mean power: ``|median - mean| + budget / length``, where ``mean`` is the
settled window's energy / length and ``budget`` its whole uncertainty.

Sub-window powers come from the counter where the window used it, between samples at which the
counter changed (so each edge sits within one sampling interval after an update, not up to a
whole update period), else from sampled power over each sub-window.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field

from llenergymeasure.energy.integrate import counter_delta_mj, integrate_between
from llenergymeasure.energy.settle import EnergyMeasurement, readings


@dataclass(frozen=True)
class IdleBaseline:
    """Per-GPU idle power (median of sub-windows) and its bound, the window it came from, what it saw."""

    per_gpu_power_w: dict[int, float]
    per_gpu_uncertainty_w: dict[int, float]
    sub_window_power_w: dict[int, list[float]]
    method: str
    start_s: float
    end_s: float
    start_unix_s: float | None
    end_unix_s: float | None
    temperature_start_c: float | None
    temperature_end_c: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def power_w(self) -> float:
        """Idle power of all the unit's GPUs together."""
        return sum(self.per_gpu_power_w.values())

    @property
    def uncertainty_w(self) -> float:
        """Bound on ``power_w``: the per-GPU bounds added."""
        return sum(self.per_gpu_uncertainty_w.values())


def idle_baseline(m: EnergyMeasurement, n_sub: int) -> IdleBaseline:
    """The baseline of a settled idle window ``m``, cut into ``n_sub`` sub-windows."""
    duration = m.duration_s
    power: dict[int, float] = {}
    unc: dict[int, float] = {}
    subs: dict[int, list[float]] = {}
    notes: list[str] = []
    for gpu, energy_j in m.per_gpu_energy_j.items():
        mean_w = energy_j / duration if duration > 0 else 0.0
        parts = counter_sub_powers(m, gpu, n_sub) if m.method == "counter" else sampled_sub_powers(m, gpu, n_sub)
        if len(parts) < n_sub:
            notes.append(
                f"GPU {gpu}: only {len(parts)} of {n_sub} idle sub-windows could be read; the baseline is the"
                " whole window's mean"
            )
            parts = [mean_w]
        median_w = float(statistics.median(parts))
        subs[gpu] = parts
        power[gpu] = median_w
        unc[gpu] = abs(median_w - mean_w) + (m.per_gpu_uncertainty_j[gpu] / duration if duration > 0 else 0.0)
    return IdleBaseline(
        per_gpu_power_w=power,
        per_gpu_uncertainty_w=unc,
        sub_window_power_w=subs,
        method=m.method,
        start_s=m.start_s,
        end_s=m.end_s,
        start_unix_s=m.start_unix_s,
        end_unix_s=m.end_unix_s,
        temperature_start_c=hottest(m, first=True),
        temperature_end_c=hottest(m, first=False),
        notes=notes,
    )


def counter_sub_powers(m: EnergyMeasurement, gpu: int, n_sub: int) -> list[float]:
    """Mean power of ``n_sub`` consecutive sub-windows, each between two samples where the counter changed."""
    mine = [s for s in m.samples if s.gpu == gpu and m.start_s <= s.t_s <= m.end_s and s.energy_mj is not None]
    changes = [(b.t_s, int(b.energy_mj)) for a, b in itertools.pairwise(mine) if b.energy_mj != a.energy_mj]  # type: ignore[arg-type]
    if len(changes) < n_sub + 1:
        return []
    first, last = changes[0][0], changes[-1][0]
    picked: list[tuple[float, int]] = []
    for k in range(n_sub + 1):
        target = first + (last - first) * k / n_sub
        nearest = min(changes, key=lambda c: abs(c[0] - target))
        if picked and nearest[0] <= picked[-1][0]:
            return []
        picked.append(nearest)
    return [
        counter_delta_mj(e0, e1) / 1000.0 / (t1 - t0) for (t0, e0), (t1, e1) in itertools.pairwise(picked) if t1 > t0
    ]


def sampled_sub_powers(m: EnergyMeasurement, gpu: int, n_sub: int) -> list[float]:
    """Mean power of ``n_sub`` equal sub-windows from the power readings (shifted as the window's figure was)."""
    pts = readings([s for s in m.samples if s.gpu == gpu])
    if not pts or m.duration_s <= 0:
        return []
    shift = m.power_average_s / 2.0
    step = m.duration_s / n_sub
    out = []
    for k in range(n_sub):
        a = m.start_s + k * step + shift
        out.append(integrate_between(pts, a, a + step) / step)
    return out


def hottest(m: EnergyMeasurement, first: bool) -> float | None:
    """Highest GPU temperature at the window's first (or last) sampling tick inside it."""
    inside = [s for s in m.samples if m.start_s <= s.t_s <= m.end_s] or list(m.samples)
    if not inside:
        return None
    tick = inside[0].t_s if first else inside[-1].t_s
    temps = [s.temperature_c for s in inside if s.t_s == tick and s.temperature_c is not None]
    return max(temps) if temps else None
