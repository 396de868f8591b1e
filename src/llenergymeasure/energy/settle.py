"""The end of a measured window, pure: which energy figure to trust, and its whole uncertainty budget.

The meter (``energy.meter``) only reads: counters at the two edges, the power timeseries (with a
tail past the end), counter polls after each edge. This module turns those readings into an
``EnergyMeasurement`` and never touches NVML, so every rule below is unit-tested with exact numbers.

**Counter.** A read at time t returns the counter as of its last update u <= t, so the energy at
an edge lies in ``[v, v_next]``: the value read and the next *different* value read after the edge
(an update that came after it). Its width, the edge's *bracket* ``b``, is the energy of at most one
or two update periods, measured, not assumed. Where the meter aligned an edge to an observed update
(``since_update_max_s``), the bracket is also at most ``ceiling_w x since``. The window's energy then
lies in ``[d - b0, d + b1]`` for the counter delta ``d``. Within each edge's bracket the estimate
sits where the edge falls in its update period (from the probed period ``T`` and the time the next
value was first seen: the update before the edge was about ``T`` earlier), so a counter that
updates continuously gives its plain delta and a 100 ms one an unbiased middle; the bound is the
farther end of the interval from the estimate, whatever the estimate.

**Sampled power.** Instant readings (``NVML_FI_DEV_POWER_INSTANT``, or ``nvmlDeviceGetPowerUsage`` on
GPUs that do not average) are integrated by the trapezoid over exactly ``[t0, t1]``. Between two
samples the power is assumed to move one way (it may step, ramp or hold): the energy of a whole
interval then lies between its two rectangles, and the trapezoid is off by at most half their gap
(``sampling``); a partial interval at an edge by at most the whole gap. A trailing average over
``A`` s (``nvmlDeviceGetPowerUsage`` on Ampere and newer, A = 1 s) is integrated over the window
shifted by ``A/2``, which needs readings up to ``t1 + A/2`` (the meter's tail). The shift is exact
where power is flat across an edge; otherwise, with ``m`` the true mean over ``[t - A/2, t + A/2]``
(the reading at ``t + A/2``) and power within ``[0, P_max]``, the edge's error is at most
``A m (P_max - m) / (2 P_max)`` (at most ``A P_max / 8``): the ``power_averaging`` component.
``P_max`` is the GPU's highest power limit, or twice the highest reading where none is readable.

**Budget.** Components are bounds and add linearly; what llem cannot know (the sensor's own
calibration) is listed under ``not_included``, never counted as zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from llenergymeasure.energy.integrate import counter_delta_mj, integrate_between, interval_bound, relative_gap, value_at
from llenergymeasure.energy.nvml import THROTTLE_BITS, PowerSource, throttle_flags
from llenergymeasure.energy.sampler import Sample

# A counter delta implying more than this mean power per GPU is a counter reset, not a reading.
IMPLAUSIBLE_POWER_W = 10_000.0
# A window shorter than this many counter updates is flagged: at steady power the resolution
# bound is about period/window, so 10 updates keep it near 10 %.
MIN_UPDATES_PER_WINDOW = 10
# NVML reports power in whole mW: each reading is off by up to half of one.
READING_RESOLUTION_W = 0.0005
# The counter is read in whole mJ.
COUNTER_RESOLUTION_J = 0.001
# A reason that slows the GPU must hold for at least this share of the window to mark it throttled.
THROTTLE_SHARE = 0.05
# Violation reasons that slow the work (low utilisation lowers clocks because there is no work;
# below_app/base_clocks aggregate the others).
SLOWING_REASONS = ("power", "thermal", "sync_boost", "board_limit", "reliability")

SENSOR_ACCURACY = "calibration of the GPU's power sensor: NVIDIA publishes no per-board accuracy, so none is included"
COUNTER_LATENCY = "delay between the energy the counter covers and its publication: not documented by NVIDIA"
ALIASING = (
    "a reading that turns between two samples (power faster than energy.sample_interval_ms, or the peak of a"
    " 1 s average) can leave the rectangles the sampling bound assumes"
)
POWER_EXCURSIONS = (
    "instantaneous power above the GPU's highest power limit (brief excursions) is outside the averaging bound"
)


@dataclass(frozen=True)
class Budget:
    """Named uncertainty components in J (bounds, added linearly) and what is knowingly left out."""

    components_j: dict[str, float]
    not_included: dict[str, str] = field(default_factory=dict)

    @property
    def total_j(self) -> float:
        """The whole bound: every included component added."""
        return sum(self.components_j.values())

    def scaled(self, factor: float) -> Budget:
        """The budget of ``factor`` x the figure (per token, per request, a scaled window)."""
        return Budget({k: v * factor for k, v in self.components_j.items()}, dict(self.not_included))

    def plus(self, other: Budget) -> Budget:
        """Budget of a sum or difference of two figures: components add, exclusions merge."""
        out = dict(self.components_j)
        for k, v in other.components_j.items():
            out[k] = out.get(k, 0.0) + v
        return Budget(out, {**self.not_included, **other.not_included})


@dataclass(frozen=True)
class EdgeReading:
    """The counters (mJ per GPU, None where a read failed) at clock time ``t_s``, and what else an edge knows.

    ``since_update_max_s``: per GPU, an upper bound on the time since the counter's last update
    (known when the meter saw that update happen just before the edge). ``violation_ns``: per GPU,
    cumulative clock-violation times. ``unix_s``: the wall clock at the edge.
    """

    t_s: float
    counters_mj: list[int | None]
    since_update_max_s: list[float | None] | None = None
    violation_ns: list[dict[str, int]] | None = None
    unix_s: float | None = None


@dataclass(frozen=True)
class WindowReadings:
    """Everything the meter read for one window; ``settle`` needs nothing else."""

    gpus: tuple[int, ...]
    start: EdgeReading
    end: EdgeReading
    samples: Sequence[Sample]
    polls: Sequence[tuple[float, list[int | None]]]
    method: Literal["auto", "counter", "sampling"]
    sources: Sequence[PowerSource]
    ceilings_w: Sequence[float | None]
    sample_interval_s: float
    update_period_s: float | None = None
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class EnergyMeasurement:
    """Energy of one window with its budget, how it was obtained, and the readings' timeseries."""

    method: Literal["counter", "sampling"]
    start_s: float
    end_s: float
    total_energy_j: float
    per_gpu_energy_j: dict[int, float]
    per_gpu_uncertainty_j: dict[int, float]
    budget: Budget
    sampled_energy_j: float
    sampled_budget: Budget
    counter_sampling_gap: float | None
    sample_count: int
    sample_interval_s: float
    power_source: str
    power_average_s: float
    throttle_share: dict[str, float]
    throttle_method: str | None
    throttle_reasons: list[str]
    samples: list[Sample] = field(repr=False)
    notes: list[str] = field(default_factory=list)
    counter_update_period_s: float | None = None
    start_unix_s: float | None = None
    end_unix_s: float | None = None

    @property
    def duration_s(self) -> float:
        """Length of the window between its recorded edges."""
        return self.end_s - self.start_s

    @property
    def total_energy_uncertainty_j(self) -> float:
        """The whole budget of ``total_energy_j``."""
        return self.budget.total_j

    @property
    def mean_power_w(self) -> float:
        """Average total power over the window."""
        return self.total_energy_j / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def uncertainty_method(self) -> str:
        """``counter_brackets`` or ``sampling``: which reading the budget bounds."""
        return "counter_brackets" if self.method == "counter" else "sampling"


def settle(r: WindowReadings) -> EnergyMeasurement:
    """The window's energy: the counter where it is trusted, else sampled power; every figure with its budget."""
    duration = r.end.t_s - r.start.t_s
    notes = list(r.notes)
    # The sampler's thread and the edges' own samples may append out of order by microseconds.
    r = replace(r, samples=sorted(r.samples, key=lambda s: s.t_s))
    series = {g: [s for s in r.samples if s.gpu == g] for g in r.gpus}
    ceilings = {g: _ceiling(c, series[g]) for g, c in zip(r.gpus, r.ceilings_w, strict=True)}
    sources = dict(zip(r.gpus, r.sources, strict=True))

    sampled: dict[int, tuple[float, Budget]] = {}
    for g in r.gpus:
        sampled[g] = sampled_energy(series[g], r.start.t_s, r.end.t_s, sources[g], ceilings[g])
    sampled_total = sum(e for e, _ in sampled.values())
    sampled_budget = _sum_budgets([b for _, b in sampled.values()])
    for g, c in zip(r.gpus, r.ceilings_w, strict=True):
        if c is None:
            sampled_budget = replace(
                sampled_budget,
                not_included={
                    **sampled_budget.not_included,
                    "power_ceiling": (
                        f"GPU {g} reports no power limit: instantaneous power is assumed at most twice its"
                        " highest reading"
                    ),
                },
            )
    if any(s.assumed for s in r.sources):
        sampled_budget = replace(
            sampled_budget,
            not_included={
                **sampled_budget.not_included,
                "power_averaging_window": (
                    "compute capability unreadable: nvmlDeviceGetPowerUsage assumed to be a 1 s trailing average"
                    " (NVML's documented behaviour on Ampere and newer)"
                ),
            },
        )

    counted: dict[int, tuple[float, float]] | None = None
    counters = [*r.start.counters_mj, *r.end.counters_mj]
    if r.method != "sampling" and counters and all(c is not None for c in counters):
        counted = {}
        for i, g in enumerate(r.gpus):
            got = _counter_energy(r, i, series[g], ceilings[g])
            if got is None:
                notes.append(
                    f"GPU {g}'s energy counter did not change after an edge while the meter waited: its bracket is"
                    " unknown, so sampled power is used"
                )
                counted = None
                break
            counted[g] = got
        if counted:
            worst = max(e for e, _ in counted.values()) / duration if duration > 0 else 0.0
            if worst > IMPLAUSIBLE_POWER_W:
                notes.append(f"energy counter jumped (implied {worst:.0f} W, reset?); used sampled power")
                counted = None
    elif r.method == "counter":
        why = "unsupported on this GPU" if all(c is None for c in counters) else "unreadable at an edge"
        notes.append(f"energy counter {why}; used sampled power")

    missing = sum(1 for s in r.samples if s.power_w is None and r.start.t_s <= s.t_s <= r.end.t_s)
    if missing:
        notes.append(f"{missing} power samples failed and were bridged")
    if counted is not None:
        per_gpu = {g: e for g, (e, _) in counted.items()}
        per_gpu_unc = {g: u for g, (_, u) in counted.items()}
        budget = Budget(
            {"counter_resolution": sum(per_gpu_unc.values())},
            {"sensor_accuracy": SENSOR_ACCURACY, "counter_latency": COUNTER_LATENCY},
        )
        if r.update_period_s is not None and duration < MIN_UPDATES_PER_WINDOW * r.update_period_s:
            notes.append(
                f"window {duration:.3f} s is shorter than {MIN_UPDATES_PER_WINDOW} energy counter updates"
                f" ({r.update_period_s:.3f} s each); set energy.min_window_s to lengthen it"
            )
    else:
        per_gpu = {g: e for g, (e, _) in sampled.items()}
        per_gpu_unc = {g: b.total_j for g, (_, b) in sampled.items()}
        budget = sampled_budget
        if any(s.average_s > 0 for s in r.sources) and duration < max(s.average_s for s in r.sources):
            notes.append(
                f"window {duration:.3f} s is shorter than the power reading's {max(s.average_s for s in r.sources):g} s"
                " averaging: its energy is bounded only by the power limit; set energy.min_window_s"
            )
    total = sum(per_gpu.values())
    shares, method = throttle_shares(r.start, r.end, r.samples, duration)
    kinds = sorted({s.kind for s in r.sources})
    return EnergyMeasurement(
        method="counter" if counted is not None else "sampling",
        start_s=r.start.t_s,
        end_s=r.end.t_s,
        total_energy_j=total,
        per_gpu_energy_j=per_gpu,
        per_gpu_uncertainty_j=per_gpu_unc,
        budget=budget,
        sampled_energy_j=sampled_total,
        sampled_budget=sampled_budget,
        counter_sampling_gap=relative_gap(total, sampled_total) if counted is not None else None,
        sample_count=len({s.t_s for s in r.samples if r.start.t_s <= s.t_s <= r.end.t_s}),
        sample_interval_s=r.sample_interval_s,
        power_source=kinds[0] if len(kinds) == 1 else "mixed:" + "+".join(kinds),
        power_average_s=max((s.average_s for s in r.sources), default=0.0),
        throttle_share=shares,
        throttle_method=method,
        throttle_reasons=throttled_reasons(shares, method),
        samples=list(r.samples),
        notes=notes,
        counter_update_period_s=r.update_period_s if counted is not None else None,
        start_unix_s=r.start.unix_s,
        end_unix_s=r.end.unix_s,
    )


def _ceiling(limit_w: float | None, series: Sequence[Sample]) -> float:
    """Upper bound on instantaneous power: the power limit, else twice the highest reading (at least 1 W)."""
    readings = [s.power_w for s in series if s.power_w is not None]
    if limit_w is not None:
        return max([limit_w, *readings])
    return max(1.0, 2.0 * max(readings)) if readings else 1.0


def _counter_energy(
    r: WindowReadings, i: int, series: Sequence[Sample], ceiling_w: float
) -> tuple[float, float] | None:
    """One GPU's counter energy over the window and its bound, from both edges' brackets.

    ``series`` is that GPU's samples, in time order. None when an edge's bracket is unknown (the
    counter never moved after it): no bound can be given.
    """
    v0 = int(r.start.counters_mj[i])  # type: ignore[arg-type]
    v1 = int(r.end.counters_mj[i])  # type: ignore[arg-type]
    delta_j = counter_delta_mj(v0, v1) / 1000.0
    e0 = _edge_estimate(r, i, series, r.start, v0, ceiling_w)
    e1 = _edge_estimate(r, i, series, r.end, v1, ceiling_w)
    if e0 is None or e1 is None:
        return None
    (x0, b0), (x1, b1) = e0, e1
    # Truth - estimate lies in [(0 - x1) - (b0 - x0), (b1 - x1) - (0 - x0)].
    bound = max(x1 + b0 - x0, b1 - x1 + x0)
    return delta_j + x1 - x0, bound + COUNTER_RESOLUTION_J


def _edge_estimate(
    r: WindowReadings, i: int, series: Sequence[Sample], edge: EdgeReading, value: int, ceiling_w: float
) -> tuple[float, float] | None:
    """Where the energy at ``edge`` lies above the value read there: ``(estimate, bracket width)`` in J.

    The width is up to the next different value read after the edge (an update after it), and where
    the edge followed an observed update, at most ``ceiling_w`` x the time since. The estimate places
    the edge in its update period: the update before it was about ``T`` before the next one was
    first seen. None when the width is unknown.
    """
    later = sorted(
        [(t, c[i]) for t, c in r.polls if t > edge.t_s]
        + [(s.t_s, s.energy_mj) for s in series if s.t_s > edge.t_s]
        + ([(r.end.t_s, r.end.counters_mj[i])] if r.end.t_s > edge.t_s else []),
        key=lambda x: x[0],
    )
    nxt = next(((t, v) for t, v in later if v is not None and v != value), None)
    step = counter_delta_mj(value, int(nxt[1])) / 1000.0 if nxt is not None else None
    since = edge.since_update_max_s[i] if edge.since_update_max_s is not None else None
    widths = []
    if step is not None:
        widths.append(step)
    if since is not None:
        widths.append(ceiling_w * since + COUNTER_RESOLUTION_J)
    if not widths:
        return None
    width = min(widths)
    period = r.update_period_s
    if since is not None and period:
        frac = since / period
    elif nxt is not None and period:
        frac = (edge.t_s - (nxt[0] - period)) / period
    else:
        frac = 0.5
    return min(max(frac, 0.0), 1.0) * (width if step is None else min(step, width)), width


def sampled_energy(
    series: Sequence[Sample], t0: float, t1: float, source: PowerSource, ceiling_w: float
) -> tuple[float, Budget]:
    """One GPU's energy over ``[t0, t1]`` from its power readings, with the budget of that figure."""
    pts = readings(series)
    if not pts:
        return 0.0, Budget({"sampling": ceiling_w * max(0.0, t1 - t0)}, {"sensor_accuracy": SENSOR_ACCURACY})
    duration = max(0.0, t1 - t0)
    shift = source.average_s / 2.0
    a, b = t0 + shift, t1 + shift
    energy = integrate_between(pts, a, b)
    sampling = interval_bound(pts, a, b, ceiling_w)
    comps = {"sampling": sampling, "reading_resolution": READING_RESOLUTION_W * duration}
    excluded = {"sensor_accuracy": SENSOR_ACCURACY, "aliasing": ALIASING}
    if source.average_s > 0:
        avg = source.average_s
        if duration >= avg:
            comps["power_averaging"] = sum(
                avg * m * (ceiling_w - m) / (2.0 * ceiling_w)
                for m in (min(max(value_at(pts, t), 0.0), ceiling_w) for t in (a, b))
            )
        else:
            comps["power_averaging"] = ceiling_w * duration
        excluded["power_excursions"] = POWER_EXCURSIONS
    return energy, Budget(comps, excluded)


def readings(series: Sequence[Sample]) -> list[tuple[float, float]]:
    """``(time, power)`` of the samples that read, in time order, the first reading of any one time kept."""
    out: list[tuple[float, float]] = []
    for s in sorted(series, key=lambda x: x.t_s):
        if s.power_w is not None and (not out or s.t_s > out[-1][0]):
            out.append((s.t_s, float(s.power_w)))
    return out


def throttle_shares(
    start: EdgeReading, end: EdgeReading, samples: Sequence[Sample], duration_s: float
) -> tuple[dict[str, float], str | None]:
    """Share of the window each clock-slowing reason held: NVML's violation time where read, else the sampled bits.

    Violation counters are cumulative ns per GPU; the share is their increase over the window, the
    largest over the GPUs. Without them, the share of sampling ticks with each clock-event bit set.
    """
    if duration_s <= 0:
        return {}, None
    if start.violation_ns and end.violation_ns and any(start.violation_ns):
        shares: dict[str, float] = {}
        for v0, v1 in zip(start.violation_ns, end.violation_ns, strict=True):
            for name, ns0 in v0.items():
                if name in v1:
                    share = max(0.0, (v1[name] - ns0) / 1e9 / duration_s)
                    shares[name] = max(shares.get(name, 0.0), min(1.0, share))
        return shares, "violation_time"
    inside = [s for s in samples if start.t_s <= s.t_s <= end.t_s and s.throttle_reasons is not None]
    ticks = sorted({s.t_s for s in inside})
    if not ticks:
        return {}, None
    shares = {}
    for name in THROTTLE_BITS:
        hit = {s.t_s for s in inside if name in throttle_flags(s.throttle_reasons)}
        shares[name] = len(hit) / len(ticks)
    return shares, "sampled_clock_event_bits"


def throttled_reasons(shares: Mapping[str, float], method: str | None) -> list[str]:
    """Reasons that slow the GPU and held for at least ``THROTTLE_SHARE`` of the window."""
    slowing = SLOWING_REASONS if method == "violation_time" else tuple(THROTTLE_BITS)
    return [name for name in slowing if shares.get(name, 0.0) >= THROTTLE_SHARE]


def _sum_budgets(budgets: Sequence[Budget]) -> Budget:
    out = Budget({})
    for b in budgets:
        out = out.plus(b)
    return out
