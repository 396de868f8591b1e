"""The window's settlement, pure: integration, its bounds, the budget, throttle shares; and sub-windows.

The pure functions get hand-made points with exact answers. Sub-windows are cut from a window a
manual-clock meter measured on the fake NVML, against the fake's ground truth.
"""

from __future__ import annotations

import pytest

from llenergymeasure.energy.integrate import integrate_between, interval_bound
from llenergymeasure.energy.meter import EnergyMeter
from llenergymeasure.energy.nvml import PowerSource
from llenergymeasure.energy.sampler import Sample
from llenergymeasure.energy.settle import (
    ALIASING,
    COUNTER_RESOLUTION_J,
    POWER_EXCURSIONS,
    SENSOR_ACCURACY,
    Budget,
    EdgeReading,
    sampled_energy,
    throttle_shares,
    throttled_reasons,
)
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml
from tests.unit.energy.manual_meter import manual_meter, period_energy_j

LIMIT_W = 700.0
AVERAGED = PowerSource("power_usage_average", 1.0)


def power(t: float, watts: float | None, gpu: int = 0, reasons: int | None = None) -> Sample:
    """A sample with only a power reading (and clock-event bits)."""
    return Sample(t, gpu, watts, None, None, None, None, reasons)


# integrate_between / interval_bound (energy.integrate) -----------------------------------------------------------

RAMP = [(0.0, 100.0), (1.0, 200.0), (3.0, 200.0)]
HUMP = [(0.0, 100.0), (1.0, 300.0), (2.0, 300.0), (3.0, 100.0)]


def test_integral_is_cut_exactly_at_both_edges() -> None:
    # [0.5, 1]: the ramp from 150 to 200 W; [1, 2]: flat 200 W.
    assert integrate_between(RAMP, 0.5, 2.0) == 0.5 * 175.0 + 200.0
    assert integrate_between(RAMP, 0.0, 3.0) == 150.0 + 400.0


def test_integral_holds_the_nearest_reading_beyond_the_samples() -> None:
    assert integrate_between(RAMP, -1.0, 0.5) == 100.0 + 0.5 * 125.0
    assert integrate_between(RAMP, 2.0, 5.0) == 3 * 200.0
    assert integrate_between(RAMP, 1.0, 1.0) == 0.0
    assert integrate_between([], 0.0, 1.0) == 0.0


def test_a_whole_interval_is_bounded_by_half_its_gap_a_partial_one_by_all_of_it() -> None:
    assert interval_bound(HUMP, 0.0, 3.0, LIMIT_W) == 200.0 / 2 + 0.0 + 200.0 / 2
    assert interval_bound(HUMP, 0.25, 2.0, LIMIT_W) == 0.75 * 200.0 + 0.0
    assert interval_bound(HUMP, 2.0, 2.5, LIMIT_W) == 0.5 * 200.0
    assert interval_bound(HUMP, 1.0, 1.0, LIMIT_W) == 0.0


def test_beyond_the_samples_only_the_power_limit_bounds_the_energy() -> None:
    assert interval_bound(HUMP, -1.0, 2.5, LIMIT_W) == LIMIT_W * 1.0 + 100.0 + 0.0 + 0.5 * 200.0
    assert interval_bound(HUMP, 2.5, 4.0, LIMIT_W) == 0.5 * 200.0 + LIMIT_W * 1.0


# sampled_energy ------------------------------------------------------------------------------

# True power steps from 100 to 300 W at t = 5; the 1 s trailing average of it is 100 W up to 5,
# ramps linearly to 300 W over [5, 6], and holds 300 W after. Readings every 0.5 s.


def averaged_reading_w(t: float) -> float:
    return 100.0 + 200.0 * min(max(t - 5.0, 0.0), 1.0)


def step_series(last_s: float) -> list[Sample]:
    return [power(k / 2, averaged_reading_w(k / 2)) for k in range(int(last_s * 2) + 1)]


def averaging_j(*readings_w: float) -> float:
    """The module's per-edge term, A m (P - m) / (2 P), summed over the shifted edges' readings."""
    return sum(1.0 * m * (LIMIT_W - m) / (2 * LIMIT_W) for m in readings_w)


def test_averaged_readings_shifted_by_half_the_window_give_the_step_exactly() -> None:
    energy, budget = sampled_energy(step_series(11.0), 2.0, 10.0, AVERAGED, LIMIT_W)
    assert energy == 3 * 100.0 + 5 * 300.0  # the truth over [2, 10]
    assert budget.components_j == pytest.approx(
        {
            "sampling": 0.5 * 100.0 / 2 * 2,  # the two half-second intervals of the ramp
            "reading_resolution": 0.0005 * 8.0,
            "power_averaging": averaging_j(100.0, 300.0),
        },
        rel=1e-12,
    )
    assert budget.not_included == {
        "sensor_accuracy": SENSOR_ACCURACY,
        "aliasing": ALIASING,
        "power_excursions": POWER_EXCURSIONS,
    }


def test_without_the_tail_the_shifted_end_is_bounded_by_the_limit() -> None:
    energy, budget = sampled_energy(step_series(10.0), 2.0, 10.0, AVERAGED, LIMIT_W)
    assert energy == 3 * 100.0 + 5 * 300.0  # the last reading is held: right here, by luck
    assert budget.components_j["sampling"] == pytest.approx(50.0 + LIMIT_W * 0.5, rel=1e-12)


def test_an_edge_on_the_ramp_stays_within_the_averaging_term() -> None:
    energy, budget = sampled_energy(step_series(11.0), 5.2, 10.0, AVERAGED, LIMIT_W)
    truth = 4.8 * 300.0
    # Shifted to [5.7, 10.5]: 0.3 s of the ramp from 240 to 300 W, then 4.5 s at 300 W.
    assert energy == pytest.approx(0.3 * 270.0 + 4.5 * 300.0, rel=1e-12)
    assert budget.components_j["power_averaging"] == pytest.approx(averaging_j(240.0, 300.0), rel=1e-12)
    assert budget.components_j["sampling"] == pytest.approx(0.3 * 100.0, rel=1e-12)  # partial: the whole gap
    assert abs(energy - truth) <= budget.total_j


def test_a_window_shorter_than_the_averaging_is_bounded_by_the_limit() -> None:
    _, budget = sampled_energy(step_series(11.0), 2.0, 2.5, AVERAGED, LIMIT_W)
    assert budget.components_j["power_averaging"] == LIMIT_W * 0.5


def test_instant_readings_are_not_shifted() -> None:
    energy, budget = sampled_energy(step_series(11.0), 2.0, 10.0, PowerSource("instant_field", 0.0), LIMIT_W)
    assert energy == 3 * 100.0 + 0.5 * (100.0 + 300.0) + 4 * 300.0
    assert set(budget.components_j) == {"sampling", "reading_resolution"}
    assert set(budget.not_included) == {"sensor_accuracy", "aliasing"}


def test_failed_readings_are_bridged_and_no_readings_leave_only_the_limit() -> None:
    series = [power(0.0, 100.0), power(1.0, None), power(2.0, 300.0)]
    energy, _ = sampled_energy(series, 0.0, 2.0, PowerSource("instant_field", 0.0), LIMIT_W)
    assert energy == 400.0
    energy, budget = sampled_energy([power(0.0, None)], 0.0, 2.0, AVERAGED, LIMIT_W)
    assert (energy, budget) == (0.0, Budget({"sampling": LIMIT_W * 2.0}, {"sensor_accuracy": SENSOR_ACCURACY}))


# Budget ------------------------------------------------------------------------------------


def test_budget_scales_adds_and_totals() -> None:
    a = Budget({"sampling": 2.0, "reading_resolution": 0.5}, {"sensor_accuracy": "why"})
    b = Budget({"sampling": 1.0, "baseline": 4.0}, {"idle_drift": "drift"})
    assert a.total_j == 2.5
    assert a.scaled(0.5) == Budget({"sampling": 1.0, "reading_resolution": 0.25}, {"sensor_accuracy": "why"})
    assert a.plus(b) == Budget(
        {"sampling": 3.0, "reading_resolution": 0.5, "baseline": 4.0}, {"sensor_accuracy": "why", "idle_drift": "drift"}
    )
    assert a.plus(b).total_j == 7.5
    assert a == Budget({"sampling": 2.0, "reading_resolution": 0.5}, {"sensor_accuracy": "why"})  # unchanged
    assert Budget({}).total_j == 0


# throttle_shares / throttled_reasons -------------------------------------------------------


def test_violation_time_share_is_the_largest_over_gpus_within_0_and_1() -> None:
    s = 1_000_000_000
    start = EdgeReading(
        10.0, [None, None], violation_ns=[{"power": 0, "thermal": s, "low_utilization": 0}, {"power": 0}]
    )
    end = EdgeReading(
        14.0,
        [None, None],
        violation_ns=[{"power": 1 * s, "thermal": 0, "low_utilization": 9 * s}, {"power": 2 * s, "thermal": s}],
    )
    shares, method = throttle_shares(start, end, [], 4.0)
    assert (shares, method) == ({"power": 0.5, "thermal": 0.0, "low_utilization": 1.0}, "violation_time")
    # Low utilisation lowers clocks for want of work: not a slowdown.
    assert throttled_reasons(shares, method) == ["power"]


def test_without_violation_times_the_ticks_with_each_bit_set_are_counted() -> None:
    start, end = EdgeReading(1.0, [None, None], violation_ns=[{}, {}]), EdgeReading(5.0, [None, None])
    samples = [
        power(0.0, 1.0, 0, 0x20),  # before the window
        power(1.0, 1.0, 0, 0x4),
        power(1.0, 1.0, 1, 0x0),
        power(2.0, 1.0, 0, 0x0),
        power(2.0, 1.0, 1, 0x4 | 0x20),  # either GPU marks the tick
        power(3.0, 1.0, 0, None),  # no reading: not a tick
        power(4.0, 1.0, 0, 0x0),
        power(5.0, 1.0, 0, 0x0),
        power(6.0, 1.0, 0, 0x4),  # after the window
    ]
    shares, method = throttle_shares(start, end, samples, 4.0)
    assert method == "sampled_clock_event_bits"
    assert shares == {
        "sw_power_cap": 0.5,
        "hw_slowdown": 0.0,
        "sw_thermal": 0.25,
        "hw_thermal": 0.0,
        "hw_power_brake": 0.0,
    }
    assert throttled_reasons(shares, method) == ["sw_power_cap", "sw_thermal"]


def test_no_throttle_figure_without_a_window_or_ticks() -> None:
    edge = EdgeReading(1.0, [None])
    assert throttle_shares(edge, edge, [power(1.0, 1.0, 0, 0x4)], 0.0) == ({}, None)
    assert throttle_shares(edge, EdgeReading(2.0, [None]), [power(1.5, 1.0)], 1.0) == ({}, None)


def test_a_reason_counts_from_five_percent_of_the_window() -> None:
    assert throttled_reasons({"power": 0.05, "thermal": 0.0499}, "violation_time") == ["power"]
    assert throttled_reasons({"hw_slowdown": 0.05, "power": 1.0}, "sampled_clock_event_bits") == ["hw_slowdown"]


# EnergyMeter.sub_window ----------------------------------------------------------------------


def window_with_sub_window(
    fake: FakeNvml, clock: ManualClock, edges_s: tuple[float, float], total_s: float
) -> tuple[EnergyMeter, EdgeReading, EdgeReading]:
    """A ``total_s`` window sampled every 10 ms, read at ``edges_s`` after its start (a server's steady state)."""
    meter = manual_meter(fake, clock, step_s=0.01)
    clock.advance(2.0)
    meter.probe_counter_period()
    meter.begin()
    meter.sleep(edges_s[0])
    a = meter.reading()
    meter.sleep(edges_s[1] - edges_s[0])
    b = meter.reading()
    meter.sleep(total_s - edges_s[1])
    meter.end()
    return meter, a, b


def test_sub_window_counter_is_bracketed_by_the_updates_around_its_edges() -> None:
    clock = ManualClock()
    fake = FakeNvml(n_gpus=2, base_w=(120.0, 250.0), counter_update_s=0.1, power_avg_s=1.0, clock=clock)
    meter, a, b = window_with_sub_window(fake, clock, (0.5, 2.5), 3.0)
    e = meter.sub_window(a, b, counter=True)
    assert (e.method, e.start_s, e.end_s, e.notes) == ("counter", a.t_s, b.t_s, [])
    for g in (0, 1):
        # Unaligned edges: each bracket is the whole update period holding the edge; the bound is the
        # farther end of [delta - b0, delta + b1] from the estimate, so at most b0 + b1, at least half.
        b0, b1 = period_energy_j(fake, g, a.t_s), period_energy_j(fake, g, b.t_s)
        bound = e.per_gpu_uncertainty_j[g] - COUNTER_RESOLUTION_J
        assert (b0 + b1) / 2 - 1e-9 <= bound <= b0 + b1 + 1e-9
        error = abs(e.per_gpu_energy_j[g] - fake.energy_between_j(g, a.t_s, b.t_s))
        assert error <= e.per_gpu_uncertainty_j[g]
        # Placed by the phase of its update period, the estimate is within 10 ms of power of the truth.
        assert error <= 0.011 * (120.0, 250.0)[g] * 2
    truth = sum(fake.energy_between_j(g, a.t_s, b.t_s) for g in (0, 1))
    assert abs(e.total_energy_j - truth) <= e.total_energy_uncertainty_j


def test_sub_window_sampling_integrates_only_the_sub_window() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, clock=clock)  # instantaneous readings
    meter, a, b = window_with_sub_window(fake, clock, (0.5, 2.5), 3.0)
    e = meter.sub_window(a, b, counter=False)
    truth = fake.energy_between_j(0, a.t_s, b.t_s)
    assert (e.method, set(e.budget.components_j)) == ("sampling", {"sampling", "reading_resolution"})
    assert abs(e.total_energy_j - truth) <= e.total_energy_uncertainty_j
    assert e.total_energy_j == pytest.approx(truth, rel=0.002)


def test_sub_window_of_averaged_power_reads_the_shift_past_its_end() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, power_avg_s=1.0, clock=clock)
    meter, a, b = window_with_sub_window(fake, clock, (0.5, 2.5), 3.0)
    e = meter.sub_window(a, b, counter=False)
    truth = fake.energy_between_j(0, a.t_s, b.t_s)
    assert set(e.budget.components_j) == {"sampling", "reading_resolution", "power_averaging"}
    assert abs(e.total_energy_j - truth) <= e.total_energy_uncertainty_j


def test_a_sub_window_shorter_than_ten_counter_updates_gets_a_note() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_update_s=0.1, clock=clock)
    meter, a, b = window_with_sub_window(fake, clock, (0.5, 0.9), 1.0)
    e = meter.sub_window(a, b, counter=True)
    assert e.notes == [
        "window 0.400 s is shorter than 10 energy counter updates (0.100 s each); set energy.min_window_s to"
        " lengthen it"
    ]


def test_a_missing_counter_reading_falls_back_to_samples() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock)
    meter, a, b = window_with_sub_window(fake, clock, (0.5, 2.5), 3.0)
    e = meter.sub_window(EdgeReading(a.t_s, [None]), b, counter=True)
    assert (e.method, e.notes) == ("sampling", ["energy counter unreadable at an edge; used sampled power"])
    assert e.total_energy_j == pytest.approx(fake.energy_between_j(0, a.t_s, b.t_s), rel=0.002)


def test_a_sub_window_needs_a_finished_window() -> None:
    meter = manual_meter(FakeNvml(clock=ManualClock()), ManualClock())
    with pytest.raises(RuntimeError, match=r"^sub_window\(\) needs a finished window$"):
        meter.sub_window(EdgeReading(0.0, [0]), EdgeReading(1.0, [1]), counter=True)
