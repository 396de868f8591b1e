"""Counter resolution on a fake with NVML's real granularity: 100 ms counter, 1 s averaged power.

Time is a manual clock, so nothing sleeps; the meter's waits sample every 10 ms, as its thread would.
"""

import pytest

from llenergymeasure.energy.meter import POLL_S, EnergyMeasurement
from llenergymeasure.energy.settle import COUNTER_RESOLUTION_J
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml
from tests.unit.energy.manual_meter import manual_meter, period_energy_j

PERIOD_S = 0.1
LIMIT_W = 700.0  # the fake's highest power limit: the meter's ceiling on instantaneous power


def coarse_fake(clock: ManualClock) -> FakeNvml:
    """Three GPUs with different known curves and counters that update out of phase."""
    return FakeNvml(
        n_gpus=3,
        base_w=(100.0, 220.0, 400.0),
        amps_w=(10.0, 40.0, 90.0),
        period_s=0.7,
        counter_update_s=PERIOD_S,
        counter_phase_s=(0.0, 0.037, 0.071),
        power_avg_s=1.0,
        clock=clock,
    )


def measure(window_s: float, start_s: float = 5.013) -> tuple[EnergyMeasurement, FakeNvml, float | None]:
    """A window of ``window_s`` after the probe, as the runner measures one; and the probed period."""
    clock = ManualClock()
    fake = coarse_fake(clock)
    clock.advance(start_s)
    meter = manual_meter(fake, clock, step_s=0.01)
    period = meter.probe_counter_period()
    meter.begin()
    meter.sleep(window_s)
    return meter.end(), fake, period


def test_update_period_is_estimated_near_100ms() -> None:
    m, _, period = measure(2.0)
    assert period == pytest.approx(PERIOD_S, abs=POLL_S)  # each change is seen within one poll
    assert m.counter_update_period_s == period


def test_true_energy_lies_within_the_reported_uncertainty() -> None:
    for start in (5.0, 5.013, 5.05, 5.099):  # different phases of the window against the updates
        m, fake, _ = measure(0.55, start)
        truth = [fake.energy_between_j(g, m.start_s, m.end_s) for g in range(3)]
        for g in range(3):
            assert abs(m.per_gpu_energy_j[g] - truth[g]) <= m.per_gpu_uncertainty_j[g]
        assert abs(m.total_energy_j - sum(truth)) <= m.total_energy_uncertainty_j
        assert abs(m.sampled_energy_j - sum(truth)) <= m.sampled_budget.total_j


def test_each_edge_is_bracketed_by_at_most_the_update_period_holding_it() -> None:
    """The end's bracket is that period's energy; the aligned start's at most that, or the limit since the update."""
    m, fake, _ = measure(3.0)
    for g in range(3):
        truth = fake.energy_between_j(g, m.start_s, m.end_s)
        assert abs(m.per_gpu_energy_j[g] - truth) <= m.per_gpu_uncertainty_j[g]
        b1 = period_energy_j(fake, g, m.end_s)
        since_update_s = m.start_s - fake.last_update_at(g, m.start_s)
        b0 = min(period_energy_j(fake, g, m.start_s), LIMIT_W * (since_update_s + POLL_S)) + 0.002
        # The bound is the farther end of [delta - b0, delta + b1] from the estimate.
        assert m.per_gpu_uncertainty_j[g] - COUNTER_RESOLUTION_J <= b0 + b1 + 1e-9
        assert m.per_gpu_uncertainty_j[g] >= b1 / 2
    assert m.total_energy_uncertainty_j == pytest.approx(sum(m.per_gpu_uncertainty_j.values()), rel=1e-12)


def test_relative_uncertainty_shrinks_with_longer_windows() -> None:
    short, *_ = measure(0.5)
    long, *_ = measure(5.0)
    rel_short = short.total_energy_uncertainty_j / short.total_energy_j
    rel_long = long.total_energy_uncertainty_j / long.total_energy_j
    # The brackets do not grow with the window: 10x the window, about a tenth of the relative bound.
    assert rel_long == pytest.approx(rel_short / 10, rel=0.2)
    assert 0.01 < rel_long < 0.025


def test_short_window_is_flagged_long_window_is_not() -> None:
    short, *_ = measure(0.5)
    long, *_ = measure(1.5)
    assert short.notes == [
        "window 0.500 s is shorter than 10 energy counter updates (0.100 s each); "
        "set energy.min_window_s to lengthen it"
    ]
    assert long.notes == []


def test_no_period_without_a_counter_and_sampling_gets_its_budget() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, power_avg_s=1.0, clock=clock)
    meter = manual_meter(fake, clock, step_s=0.01)
    assert meter.probe_counter_period() is None
    clock.advance(2.0)
    meter.begin()
    meter.sleep(2.0)
    m = meter.end()
    truth = fake.energy_between_j(0, m.start_s, m.end_s)
    assert (m.method, m.counter_update_period_s, m.uncertainty_method) == ("sampling", None, "sampling")
    assert set(m.budget.components_j) == {"sampling", "reading_resolution", "power_averaging"}
    assert abs(m.total_energy_j - truth) <= m.total_energy_uncertainty_j
    assert m.notes == []


def test_counter_that_never_changes_in_time_leaves_the_period_unknown() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_update_s=10.0, clock=clock)
    clock.advance(1.0)
    meter = manual_meter(fake, clock, step_s=0.1)
    assert meter.probe_counter_period(max_s=1.5) is None
    meter.begin()
    meter.sleep(20.0)
    m = meter.end()
    # A counter that did not move after an edge gives no bracket, so no bound: sampled power is used.
    assert (m.method, m.counter_update_period_s) == ("sampling", None)
    assert m.notes == [
        "energy counter update period unknown (fewer than 2 changes in 1.5 s)",
        "GPU 0's energy counter did not change after an edge while the meter waited: its bracket is unknown,"
        " so sampled power is used",
    ]
    truth = fake.energy_between_j(0, m.start_s, m.end_s)
    assert abs(m.total_energy_j - truth) <= m.total_energy_uncertainty_j
