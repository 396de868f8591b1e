"""The thermal rules, pure: settled under load and back to idle, on synthetic series with known answers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from llenergymeasure.energy.thermal import (
    Drift,
    IdleBand,
    SettleRule,
    ThermalReading,
    cooldown_verdict,
    describe,
    drift,
    fitted_change,
    is_settled,
    probe_of,
    settle_verdict,
    within_idle,
)
from tests.fakes.clock import ManualClock

RULE = SettleRule(window_s=30.0, max_drift_c=1.0, max_power_change=0.05, max_s=600.0)


def series(
    temps: Sequence[float | None], powers: Sequence[float | None], t0: float = 0.0, dt: float = 1.0
) -> list[ThermalReading]:
    return [ThermalReading(t0 + i * dt, c, p) for i, (c, p) in enumerate(zip(temps, powers, strict=True))]


def test_fitted_change_is_the_least_squares_slope_times_the_span() -> None:
    assert fitted_change([(0.0, 40.0), (1.0, 40.5), (2.0, 41.0)], 10.0) == 5.0
    # Whole-degree flicker: the end readings differ by 1 °C, the line through all four by 0.2 °C/s.
    assert fitted_change([(0.0, 50.0), (1.0, 51.0), (2.0, 50.0), (3.0, 51.0)], 10.0) == 2.0
    assert fitted_change([(0.0, 50.0), (1.0, 51.0), (2.0, 51.0), (3.0, 50.0), (4.0, 50.0)], 4.0) == pytest.approx(-0.4)
    assert fitted_change([(0.0, 50.0)], 10.0) is None
    assert fitted_change([(1.0, 50.0), (1.0, 52.0)], 10.0) is None  # no two distinct times


def test_drift_waits_for_the_readings_to_cover_the_window() -> None:
    rising = series([40.0 + 0.5 * i for i in range(41)], [200.0] * 41)
    assert drift(rising[:30], now_s=29.0, window_s=30.0) is None  # first reading at 0 > 29 - 30
    assert drift(rising, now_s=30.0, window_s=30.0) == Drift(
        temperature_c=15.0, power_w=0.0, mean_power_w=200.0, n_readings=31
    )
    assert drift(rising, now_s=40.0, window_s=30.0) == Drift(15.0, 0.0, 200.0, 31)  # readings 10..40


def test_drift_includes_the_last_reading_before_the_window_and_ignores_later_ones() -> None:
    sparse = [ThermalReading(t, 50.0 + t / 3, 100.0 + t) for t in (0.0, 3.0, 6.0, 9.0, 12.0, 15.0)]
    d = drift(sparse, now_s=12.0, window_s=10.0)
    assert d is not None
    assert d.n_readings == 5  # 0 (covers the start at 2), 3, 6, 9, 12; not 15
    assert d.temperature_c == pytest.approx(10.0 / 3)
    assert d.power_w == pytest.approx(10.0)
    assert d.mean_power_w == 106.0
    assert d.power_change == pytest.approx(10.0 / 106.0)


def test_drift_of_a_gpu_reporting_nothing_judges_nothing() -> None:
    d = drift(series([None] * 5, [None] * 5), now_s=4.0, window_s=4.0)
    assert d == Drift(None, None, None, 5)
    assert d.power_change is None
    assert is_settled(d, RULE)


def test_power_change_is_a_fraction_of_the_mean() -> None:
    assert Drift(None, -10.0, 200.0, 3).power_change == 0.05
    assert Drift(None, 0.0, 0.0, 3).power_change == 0.0
    assert Drift(None, 1.0, 0.0, 3).power_change == math.inf


def test_is_settled_bounds_both_quantities_up_and_down() -> None:
    assert is_settled(Drift(1.0, 10.0, 200.0, 30), RULE)  # exactly at both limits
    assert is_settled(Drift(-1.0, -10.0, 200.0, 30), RULE)
    assert not is_settled(Drift(1.5, 0.0, 200.0, 30), RULE)
    assert not is_settled(Drift(-1.5, 0.0, 200.0, 30), RULE)  # cooling under load is not steady either
    assert not is_settled(Drift(0.0, 10.5, 200.0, 30), RULE)
    assert is_settled(Drift(None, 0.0, 200.0, 30), RULE)  # temperature unreadable: power alone


def test_settle_verdict_on_a_ramp_that_levels_off() -> None:
    # 40 °C rising 0.2 °C/s for 100 s, then flat at 60 °C; power steady.
    temps = [40.0 + 0.2 * min(t, 100) for t in range(201)]
    one = series(temps, [300.0] * 201)
    verdict, drifts = settle_verdict([one], started_s=0.0, now_s=100.0, rule=RULE)
    assert verdict == "waiting"
    assert drifts[0] is not None
    assert drifts[0].temperature_c == pytest.approx(6.0)  # 0.2 °C/s over 30 s
    verdict, drifts = settle_verdict([one], 0.0, 130.0, RULE)
    assert (verdict, drifts[0]) == ("settled", Drift(0.0, 0.0, 300.0, 31))
    # The ramp's last 5 s in the window [105 - 30, 105] still tilt the line too much.
    assert settle_verdict([one], 0.0, 105.0, RULE)[0] == "waiting"


def test_settle_verdict_needs_every_gpu_and_is_capped() -> None:
    flat = series([60.0] * 701, [300.0] * 701)
    rising = series([40.0 + 0.1 * t for t in range(701)], [300.0] * 701)
    assert settle_verdict([flat], 0.0, 30.0, RULE)[0] == "settled"
    assert settle_verdict([flat], 0.0, 29.0, RULE)[0] == "waiting"  # not covered yet
    assert settle_verdict([flat, rising], 0.0, 599.0, RULE)[0] == "waiting"
    verdict, drifts = settle_verdict([flat, rising], 0.0, 600.0, RULE)
    assert verdict == "capped"
    assert drifts[1] is not None
    assert drifts[1].temperature_c == pytest.approx(3.0)


def test_within_idle_is_one_sided_and_inclusive() -> None:
    ref = ThermalReading(0.0, 35.0, 60.0)
    band = IdleBand(temperature_c=2.0, power_w=10.0)
    assert within_idle(ThermalReading(5.0, 37.0, 70.0), ref, band)
    assert within_idle(ThermalReading(5.0, 30.0, 40.0), ref, band)  # cooler than the reference: idle enough
    assert not within_idle(ThermalReading(5.0, 38.0, 60.0), ref, band)
    assert not within_idle(ThermalReading(5.0, 35.0, 70.5), ref, band)
    assert within_idle(ThermalReading(5.0, None, 65.0), ref, band)  # temperature unreadable: power alone
    assert within_idle(ThermalReading(5.0, 36.0, 900.0), ThermalReading(0.0, 35.0, None), band)


def test_cooldown_verdict_waits_for_every_gpu_and_is_capped() -> None:
    refs = [ThermalReading(0.0, 35.0, 60.0), ThermalReading(0.0, 40.0, 70.0)]
    band = IdleBand(2.0, 10.0)
    cool = ThermalReading(100.0, 36.0, 61.0)
    assert cooldown_verdict([cool, ThermalReading(100.0, 42.0, 80.0)], refs, band, 0.0, 600.0) == "reached"
    hot = ThermalReading(100.0, 50.0, 80.0)
    assert cooldown_verdict([cool, hot], refs, band, 0.0, 600.0) == "waiting"
    assert cooldown_verdict([cool, hot], refs, band, 0.0, 100.0) == "capped"
    assert cooldown_verdict([cool, hot], refs, band, 0.0, 100.5) == "waiting"


class Source:
    indices: tuple[int, ...] = (3, 5)

    def temperature_c(self) -> list[float | None]:
        return [40.0, None]

    def power_w(self) -> list[float | None]:
        return [100.5, 80.0]


def test_probe_stamps_every_gpu_with_one_clock_reading() -> None:
    clock = ManualClock(12.5)
    probe = probe_of(Source(), clock)
    assert probe is not None
    assert probe.gpus == (3, 5)
    assert probe.read() == [ThermalReading(12.5, 40.0, 100.5), ThermalReading(12.5, None, 80.0)]
    assert probe_of(None, clock) is None


def test_describe_for_the_log() -> None:
    latest = [ThermalReading(1.0, 61.0, 250.4), ThermalReading(1.0, None, 80.0)]
    assert describe((0, 1), latest) == "GPU 0: 61 °C 250 W, GPU 1: ? °C 80 W"
    refs = [ThermalReading(0.0, 35.0, 60.0), ThermalReading(0.0, 36.0, None)]
    assert describe((0, 1), latest, refs) == "GPU 0: 61 °C 250 W (idle 35 °C 60 W), GPU 1: ? °C 80 W (idle 36 °C ? W)"
