"""Baseline subtraction against a known answer: idle measured on the idle curve, the window under load.

The fake GPUs draw a constant idle power until the "engine" starts, then a sine-shaped load; the
fake integrates both exactly, so energy above idle has a true value to compare with. Time is a
manual clock and the sampler's interval an hour: only the meter's edge readings are taken.
"""

import math
from pathlib import Path

import pytest

from llenergymeasure.config.experiment import BaselineConfig
from llenergymeasure.energy.meter import EnergyMeasurement, EnergyMeter
from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.experiment.baseline import baseline_power_w
from llenergymeasure.experiment.runner import build_energy
from llenergymeasure.results.schema import Energy, Metrics, distribution
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml

IDLE_W = (62.0, 75.0)
COUNTER_S = 0.1
BASELINE_S = 5.0


def fake_gpus(clock: ManualClock) -> FakeNvml:
    """Two GPUs with NVML's granularity (100 ms counter, 1 s averaged power), idle until loaded."""
    return FakeNvml(
        n_gpus=2,
        base_w=(300.0, 420.0),
        amps_w=(60.0, 90.0),
        idle_w=IDLE_W,
        counter_update_s=COUNTER_S,
        counter_phase_s=(0.0, 0.043),
        power_avg_s=1.0,
        clock=clock,
    )


def metrics(output_tokens: int = 1000) -> Metrics:
    d = distribution([1.0])
    return Metrics(
        n_requests=10,
        input_tokens=500,
        output_tokens=output_tokens,
        wall_time_s=20.0,
        output_tokens_per_s=50.0,
        total_tokens_per_s=75.0,
        requests_per_s=0.5,
        latency_s=d,
    )


def window(fake: FakeNvml, clock: ManualClock, devices: NvmlDevices, length_s: float) -> EnergyMeasurement:
    """A measured window of ``length_s`` with the counter period probed first, as the runner does."""
    meter = EnergyMeter(devices, 3600.0, clock=clock)
    meter.probe_counter_period(sleep=clock.sleep, poll_s=0.001)
    meter.begin()
    clock.advance(length_s)
    return meter.end()


def above_idle_j(fake: FakeNvml, t0: float, t1: float) -> float:
    """True energy above the idle curve over ``[t0, t1]``, all GPUs."""
    return sum(fake.energy_between_j(g, t0, t1) - IDLE_W[g] * (t1 - t0) for g in range(fake.n_gpus))


def test_the_fake_integrates_idle_and_load_pieces_exactly() -> None:
    clock = ManualClock()
    fake = fake_gpus(clock)
    clock.advance(2.0)
    fake.start_load()
    clock.advance(3.0)
    fake.stop_load()
    t0, t_on, t_off = fake.t0, fake.t0 + 2.0, fake.t0 + 5.0
    assert fake.load_spans == [(t_on, t_off)]
    assert (fake.power_at(1, t_on - 0.01), fake.power_at(1, t_off)) == (75.0, 75.0)
    assert fake.power_at(1, t_on) == 420.0 + 90.0 * math.sin(2 * math.pi * 2.0 / 0.7)
    whole = fake.energy_between_j(1, t0, t0 + 6.0)
    assert whole == pytest.approx(75.0 * 3.0 + fake.load_energy_between_j(1, t_on, t_off), rel=1e-12)
    assert FakeNvml().energy_between_j(0, 0.0, 0.7) == pytest.approx(150.0 * 0.7)  # no idle_w: one curve


def test_energy_above_idle_is_the_load_minus_idle_integral_within_the_bounds(tmp_path: Path) -> None:
    clock = ManualClock()
    fake = fake_gpus(clock)
    devices = NvmlDevices(fake)
    clock.advance(3.0)
    cfg = BaselineConfig(duration_s=BASELINE_S)
    baseline_w = baseline_power_w(devices, cfg, tmp_path, 3600.0, clock=clock, sleep=clock.sleep)
    # The counter's period can put at most one period of each GPU's power on the idle window.
    baseline_bound_w = COUNTER_S * sum(IDLE_W) / BASELINE_S
    assert abs(baseline_w - sum(IDLE_W)) <= baseline_bound_w

    clock.advance(2.0)  # the model loads, still idle
    fake.start_load()
    clock.advance(1.5)  # warmup: the 1 s averaged power readings are all load by the window
    m = window(fake, clock, devices, 20.0)
    fake.stop_load()
    assert m.duration_s == pytest.approx(20.0, abs=1e-9)

    e: Energy = build_energy(m, None, metrics(), baseline_w, None)
    t0, t1 = m.samples[0].t_s, m.samples[-1].t_s
    truth = above_idle_j(fake, t0, t1)
    # Under load the whole window: the true answer is the load curve's integral less idle power.
    load_j = sum(fake.load_energy_between_j(g, t0, t1) for g in (0, 1))
    assert truth == pytest.approx(load_j - sum(IDLE_W) * 20.0, rel=1e-12)
    assert e.adjusted_energy_j is not None
    assert m.total_energy_uncertainty_j is not None
    bound = m.total_energy_uncertainty_j + m.duration_s * baseline_bound_w
    assert abs(e.adjusted_energy_j - truth) <= bound
    assert bound < 0.02 * truth  # tight enough that a wrong subtraction (say, one GPU's idle) fails
    assert e.adjusted_energy_j == pytest.approx(e.total_energy_j - baseline_w * m.duration_s)  # type: ignore[operator]
    assert e.adjusted_energy_per_output_token_j == pytest.approx(e.adjusted_energy_j / 1000)
    assert (e.adjusted_negative, e.notes) == (False, [])


def test_a_baseline_taken_under_load_makes_an_idle_window_negative_and_flagged(tmp_path: Path) -> None:
    clock = ManualClock()
    fake = fake_gpus(clock)
    devices = NvmlDevices(fake)
    clock.advance(3.0)
    fake.start_load()  # something else was running on the GPU during the baseline
    clock.advance(1.5)
    baseline_w = baseline_power_w(devices, BaselineConfig(duration_s=BASELINE_S), tmp_path, 3600.0, clock, clock.sleep)
    fake.stop_load()
    clock.advance(1.5)
    m = window(fake, clock, devices, 10.0)
    e = build_energy(m, None, metrics(), baseline_w, None)
    assert e.adjusted_energy_j is not None
    assert e.adjusted_energy_j < 0
    assert e.adjusted_negative is True
    assert e.notes == [
        f"energy above idle is negative ({e.adjusted_energy_j:.4g} J): the window drew less than the idle"
        f" baseline ({baseline_w:.4g} W); flagged, and left out of rankings"
    ]


def test_a_fresh_cached_baseline_is_reused_without_measuring(tmp_path: Path) -> None:
    clock = ManualClock()
    fake = fake_gpus(clock)
    devices = NvmlDevices(fake)
    cfg = BaselineConfig(duration_s=BASELINE_S)
    first = baseline_power_w(devices, cfg, tmp_path, 3600.0, clock=clock, sleep=clock.sleep)
    reads, now = fake.power_reads, clock()
    fake.start_load()  # would change the answer if it were measured again
    assert baseline_power_w(devices, cfg, tmp_path, 3600.0, clock=clock, sleep=clock.sleep) == first
    assert (fake.power_reads, clock()) == (reads, now)
