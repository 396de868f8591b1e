"""A meter on a manual clock, for windows measured without sleeping.

The sampler's interval is an hour, so its thread never samples on its own: a test samples with
``sampler.sample_now()`` between clock advances, or hands the meter a ``ticking_sleep``, which
samples as the thread would while the meter waits (its edge polls, the averaging tail).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal

from llenergymeasure.energy.integrate import counter_delta_mj
from llenergymeasure.energy.meter import EnergyMeter
from llenergymeasure.energy.nvml import NvmlDevices
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml


def ticking_sleep(clock: ManualClock, meter: EnergyMeter, step_s: float) -> Callable[[float], None]:
    """A ``sleep`` that moves ``clock`` in steps of at most ``step_s`` and samples after each."""

    def sleep(dt_s: float) -> None:
        target = clock() + dt_s
        while clock() < target:
            clock.advance(min(step_s, target - clock()))
            meter.sampler.sample_now()

    return sleep


def manual_meter(
    fake: FakeNvml,
    clock: ManualClock,
    method: Literal["auto", "counter", "sampling"] = "auto",
    step_s: float | None = None,
) -> EnergyMeter:
    """A meter on ``clock``; with ``step_s``, its waits sample every ``step_s`` (else nothing samples)."""
    meter = EnergyMeter(NvmlDevices(fake), 3600.0, method, clock=clock, sleep=clock.sleep, wall=lambda: 0.0)
    if step_s is not None:
        meter.sleep = ticking_sleep(clock, meter, step_s)
    return meter


def counter_mj(fake: FakeNvml, gpu: int, t: float) -> int:
    """What the fake's energy counter reads at ``t``: its integral up to the last update, in whole mJ."""
    mj = int(fake.energy_between_j(gpu, fake.t0, fake.last_update_at(gpu, t)) * 1000)
    return (fake.counter_start_mj + mj) % fake.counter_modulus


def period_energy_j(fake: FakeNvml, gpu: int, t: float) -> float:
    """Energy the counter adds at its first update after ``t``: the update period holding ``t``."""
    last = fake.last_update_at(gpu, t)
    return counter_delta_mj(counter_mj(fake, gpu, last), counter_mj(fake, gpu, last + fake.counter_update_s)) / 1000.0


def trapezoid_j(times_s: list[float], power_w: list[float | None]) -> float:
    """The trapezoid of the readings over their whole span, failed ones (None) bridged: an oracle apart from src."""
    pts = [(t, p) for t, p in zip(times_s, power_w, strict=True) if p is not None]
    return sum((t1 - t0) * (p0 + p1) / 2.0 for (t0, p0), (t1, p1) in itertools.pairwise(pts))


def half_riemann_gap_j(times_s: list[float], power_w: list[float | None]) -> float:
    """Half the gap between the left and right Riemann sums of the readings (None bridged): an oracle apart from src."""
    pts = [(t, p) for t, p in zip(times_s, power_w, strict=True) if p is not None]
    return sum((t1 - t0) * abs(p1 - p0) / 2.0 for (t0, p0), (t1, p1) in itertools.pairwise(pts))
