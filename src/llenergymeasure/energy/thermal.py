"""Thermal state of a unit's GPUs, pure: whether it has settled under load, whether it is back to idle.

Two questions llem asks about temperature and power, answered from readings alone, so each rule is
unit-tested with exact numbers on synthetic series. The readings come from ``NvmlDevices`` through
a ``ThermalProbe``; the loops that wait (``experiment.warmup``, ``experiment.cooldown``) own the
clock and the sleep.

**Settled** (``warmup.until_settled``): over the trailing ``window_s``, every GPU's temperature
changes by at most ``max_drift_c`` and its power by at most ``max_power_change`` of its mean
power. A change is the least-squares slope through every reading of the window times the window's
length, not the difference of its two end readings: NVML reports whole degrees, so two end readings
of a GPU at rest can differ by 1 °C, and power under load swings with every batch; a line through
all the readings averages both. A fall counts like a rise: a GPU that came hot from the previous
unit and cools under a lighter load is not in its steady state either. Nothing counts as settled
before the readings cover the whole window (one at or before its start), and ``max_s`` after the
first reading caps the wait.

**Back to idle** (``execution.cooldown``): every GPU's latest temperature is at most
``temperature_c`` above its idle reference and its power at most ``power_w`` above it. One-sided on
purpose: a GPU cooler than its reference is idle enough, and waiting for it to warm up would be
absurd. ``max_wait_s`` caps the wait.

A quantity a GPU does not report (None) is not judged on that GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

SettleVerdict = Literal["settled", "waiting", "capped"]
CooldownVerdict = Literal["reached", "waiting", "capped"]


@dataclass(frozen=True)
class ThermalReading:
    """One GPU at clock time ``t_s``: temperature in °C and board power in W (None: unreadable)."""

    t_s: float
    temperature_c: float | None
    power_w: float | None


class ThermalSource(Protocol):
    """What a probe reads: per-GPU temperature and power, in the order of ``indices`` (``NvmlDevices``)."""

    @property
    def indices(self) -> tuple[int, ...]:
        """The GPUs' CUDA ordinals, in reading order."""
        ...

    def temperature_c(self) -> list[float | None]:
        """Per-GPU temperature in °C."""
        ...

    def power_w(self) -> list[float | None]:
        """Per-GPU board power in W."""
        ...


@dataclass(frozen=True)
class ThermalProbe:
    """Reads every GPU of a unit at once; ``gpus`` are their CUDA ordinals, in the order ``read`` returns."""

    gpus: tuple[int, ...]
    read: Callable[[], list[ThermalReading]]


def probe_of(source: ThermalSource | None, clock: Callable[[], float]) -> ThermalProbe | None:
    """A probe over ``source`` (None without one): each read stamps every GPU's readings with one clock reading."""
    if source is None:
        return None
    devices = source

    def read() -> list[ThermalReading]:
        t_s = clock()
        temps, powers = devices.temperature_c(), devices.power_w()
        return [ThermalReading(t_s, c, p) for c, p in zip(temps, powers, strict=True)]

    return ThermalProbe(tuple(source.indices), read)


@dataclass(frozen=True)
class SettleRule:
    """When a GPU under load counts as settled (see the module docstring)."""

    window_s: float
    max_drift_c: float
    max_power_change: float  # a fraction of the window's mean power
    max_s: float


@dataclass(frozen=True)
class Drift:
    """One GPU's change over a trailing window: each quantity's fitted slope times the window's length.

    ``temperature_c`` and ``power_w`` are signed; None where the window holds fewer than two
    readings of that quantity at distinct times.
    """

    temperature_c: float | None
    power_w: float | None
    mean_power_w: float | None
    n_readings: int

    @property
    def power_change(self) -> float | None:
        """``|power_w|`` as a fraction of the mean power (infinite for a change from a mean of 0 W or below)."""
        if self.power_w is None or self.mean_power_w is None:
            return None
        if self.mean_power_w <= 0.0:
            return 0.0 if self.power_w == 0.0 else math.inf
        return abs(self.power_w) / self.mean_power_w


def fitted_change(points: Sequence[tuple[float, float]], span_s: float) -> float | None:
    """The least-squares slope through ``(t, value)`` points times ``span_s``; None for under two distinct times."""
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    sxx = sum((t - mean_t) ** 2 for t, _ in points)
    if sxx == 0.0:
        return None
    sxy = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return sxy / sxx * span_s


def drift(series: Sequence[ThermalReading], now_s: float, window_s: float) -> Drift | None:
    """One GPU's change over ``[now_s - window_s, now_s]``; None until its readings cover that window.

    ``series`` is in time order. The window's readings are the last one at or before its start
    (which proves the coverage) and every later one up to ``now_s``.
    """
    start_s = now_s - window_s
    before = [i for i, r in enumerate(series) if r.t_s <= start_s]
    if not before:
        return None
    window = [r for r in series[before[-1] :] if r.t_s <= now_s]
    temps = [(r.t_s, r.temperature_c) for r in window if r.temperature_c is not None]
    powers = [(r.t_s, r.power_w) for r in window if r.power_w is not None]
    return Drift(
        temperature_c=fitted_change(temps, window_s),
        power_w=fitted_change(powers, window_s),
        mean_power_w=sum(p for _, p in powers) / len(powers) if powers else None,
        n_readings=len(window),
    )


def is_settled(d: Drift, rule: SettleRule) -> bool:
    """Whether one GPU's drift is within the rule (a quantity it does not report is not judged)."""
    temperature_ok = d.temperature_c is None or abs(d.temperature_c) <= rule.max_drift_c
    change = d.power_change
    return temperature_ok and (change is None or change <= rule.max_power_change)


def settle_verdict(
    series: Sequence[Sequence[ThermalReading]], started_s: float, now_s: float, rule: SettleRule
) -> tuple[SettleVerdict, list[Drift | None]]:
    """``settled`` once every GPU is (``is_settled``), else ``capped`` from ``rule.max_s`` after ``started_s``.

    Also returns each GPU's drift at ``now_s`` (None: its readings do not cover the window yet),
    which the result records.
    """
    drifts = [drift(s, now_s, rule.window_s) for s in series]
    if all(d is not None and is_settled(d, rule) for d in drifts):
        return "settled", drifts
    if now_s - started_s >= rule.max_s:
        return "capped", drifts
    return "waiting", drifts


@dataclass(frozen=True)
class IdleBand:
    """How far above its idle reference a GPU may be and still count as idle."""

    temperature_c: float
    power_w: float


def within_idle(now: ThermalReading, reference: ThermalReading, band: IdleBand) -> bool:
    """Whether ``now`` is at most the band above ``reference`` in both quantities (one missing: not judged)."""
    temperature_ok = (
        now.temperature_c is None
        or reference.temperature_c is None
        or now.temperature_c <= reference.temperature_c + band.temperature_c
    )
    power_ok = now.power_w is None or reference.power_w is None or now.power_w <= reference.power_w + band.power_w
    return temperature_ok and power_ok


def cooldown_verdict(
    latest: Sequence[ThermalReading],
    references: Sequence[ThermalReading],
    band: IdleBand,
    started_s: float,
    max_wait_s: float,
) -> CooldownVerdict:
    """``reached`` once every GPU's latest reading is within the band of its reference, else ``capped`` at the cap.

    ``latest`` and ``references`` are per GPU, in one order; the time is the latest readings'.
    """
    if all(within_idle(n, r, band) for n, r in zip(latest, references, strict=True)):
        return "reached"
    now_s = max((r.t_s for r in latest), default=started_s)
    return "capped" if now_s - started_s >= max_wait_s else "waiting"


def describe(gpus: Sequence[int], latest: Sequence[ThermalReading], references: Sequence[ThermalReading] = ()) -> str:
    """Each GPU's latest temperature and power, with its idle reference where given: one log line."""
    parts = []
    for i, (gpu, now) in enumerate(zip(gpus, latest, strict=True)):
        text = f"GPU {gpu}: {_num(now.temperature_c, '°C')} {_num(now.power_w, 'W')}"
        if references:
            ref = references[i]
            text += f" (idle {_num(ref.temperature_c, '°C')} {_num(ref.power_w, 'W')})"
        parts.append(text)
    return ", ".join(parts)


def _num(x: float | None, unit: str) -> str:
    return f"{x:.0f} {unit}" if x is not None else f"? {unit}"
