"""Counter resolution on a fake with NVML's real granularity: 100 ms counter, 1 s averaged power.

Time is a manual clock, so nothing sleeps; the sampler's interval is long enough that only its
synchronous first and last samples are taken.
"""

import pytest

from llenergymeasure.energy.meter import EnergyMeasurement, EnergyMeter
from llenergymeasure.energy.nvml import NvmlDevices
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml


def coarse_fake(clock: ManualClock) -> FakeNvml:
    """Three GPUs with different known curves and counters that update out of phase."""
    return FakeNvml(
        n_gpus=3,
        base_w=(100.0, 220.0, 400.0),
        amps_w=(10.0, 40.0, 90.0),
        period_s=0.7,
        counter_update_s=0.1,
        counter_phase_s=(0.0, 0.037, 0.071),
        power_avg_s=1.0,
        clock=clock,
    )


def measure(window_s: float, start_s: float = 5.013) -> tuple[EnergyMeasurement, FakeNvml, float, float]:
    clock = ManualClock()
    fake = coarse_fake(clock)
    clock.advance(start_s)
    meter = EnergyMeter(NvmlDevices(fake), interval_s=3600.0, clock=clock)
    meter.probe_counter_period(sleep=clock.sleep, poll_s=0.001)
    meter.begin()
    t0 = clock()
    clock.advance(window_s)
    m = meter.end()
    return m, fake, t0, t0 + m.duration_s


def test_update_period_is_estimated_near_100ms() -> None:
    m, *_ = measure(2.0)
    assert m.counter_update_period_s == pytest.approx(0.1, abs=0.0011)  # within one poll


def test_true_energy_lies_within_the_reported_uncertainty() -> None:
    for start in (5.0, 5.013, 5.05, 5.099):  # different phases of the window against the updates
        m, fake, t0, t1 = measure(0.55, start)
        assert m.per_gpu_uncertainty_j is not None
        for g in range(3):
            truth = fake.energy_between_j(g, t0, t1)
            assert abs(m.per_gpu_energy_j[g] - truth) <= m.per_gpu_uncertainty_j[g]
        truth_total = sum(fake.energy_between_j(g, t0, t1) for g in range(3))
        assert abs(m.total_energy_j - truth_total) <= (m.total_energy_uncertainty_j or 0.0)


def test_uncertainty_is_period_times_larger_of_edge_readings_and_mean() -> None:
    m, fake, t0, t1 = measure(3.0)
    assert m.per_gpu_uncertainty_j is not None
    assert m.counter_update_period_s is not None
    for g in range(3):
        edges = [fake.energy_between_j(g, t - 1.0, t) for t in (t0, t1)]  # the 1 s averaged readings, in J/s
        mean = m.per_gpu_energy_j[g] / m.duration_s
        expected = m.counter_update_period_s * max(mean, *edges)
        assert m.per_gpu_uncertainty_j[g] == pytest.approx(expected, rel=1e-4)  # readings are rounded to mW
    assert m.total_energy_uncertainty_j == pytest.approx(sum(m.per_gpu_uncertainty_j.values()))


def test_relative_uncertainty_shrinks_with_longer_windows() -> None:
    short, *_ = measure(0.5)
    long, *_ = measure(5.0)
    rel_short = (short.total_energy_uncertainty_j or 0.0) / short.total_energy_j
    rel_long = (long.total_energy_uncertainty_j or 0.0) / long.total_energy_j
    # Same power scale, 10x the window: about a tenth of the relative bound (~2 % vs ~20 %).
    assert rel_long == pytest.approx(rel_short / 10, rel=0.15)
    assert 0.015 < rel_long < 0.025


def test_short_window_is_flagged_long_window_is_not() -> None:
    short, *_ = measure(0.5)
    long, *_ = measure(1.5)
    assert short.notes == [
        "window 0.500 s is shorter than 10 energy counter updates (0.100 s each); "
        "set energy.min_window_s to lengthen it"
    ]
    assert long.notes == []


def test_no_period_without_a_counter_and_sampling_gets_the_riemann_bound() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, clock=clock)
    meter = EnergyMeter(NvmlDevices(fake), interval_s=3600.0, clock=clock)
    assert meter.probe_counter_period(sleep=clock.sleep) is None
    meter.begin()
    t0 = clock()
    clock.advance(1.0)
    m = meter.end()
    # Two samples, at the edges: half the gap between the left and right rectangles.
    p0, p1 = round(fake.power_at(0, t0) * 1000) / 1000, round(fake.power_at(0, t0 + 1.0) * 1000) / 1000
    assert (m.method, m.counter_update_period_s, m.uncertainty_method) == ("sampling", None, "sampling_resolution")
    assert m.total_energy_uncertainty_j == pytest.approx(abs(p1 - p0) / 2)


def test_counter_that_never_changes_in_time_leaves_the_period_unknown() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_update_s=10.0, clock=clock)
    clock.advance(1.0)
    meter = EnergyMeter(NvmlDevices(fake), interval_s=3600.0, clock=clock)
    assert meter.probe_counter_period(sleep=clock.sleep, max_s=1.5) is None
    meter.begin()
    clock.advance(20.0)
    m = meter.end()
    assert m.total_energy_uncertainty_j is None
    assert m.notes == ["energy counter update period unknown (fewer than 2 changes in 1.5 s); no uncertainty given"]
