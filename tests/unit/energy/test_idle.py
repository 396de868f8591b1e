"""The idle baseline against a known answer, and energy above it in the result.

The fake GPU draws a constant idle power until the "engine" starts, then a sine-shaped load; the
fake integrates both exactly, so the baseline and the energy above it have true values to compare
with. Time is a manual clock; the meter's waits sample every 10 ms, as the baseline's sampler does.
"""

from __future__ import annotations

import pytest

from llenergymeasure.energy.idle import IdleBaseline, idle_baseline
from llenergymeasure.energy.meter import EnergyMeasurement, EnergyMeter
from llenergymeasure.experiment.measure import WindowMeasurement
from llenergymeasure.experiment.result import IDLE_DRIFT, build_energy
from llenergymeasure.results.schema import Metrics, distribution
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml
from tests.unit.energy.manual_meter import manual_meter

IDLE_W = 70.0
BASELINE_S = 5.0
N_SUB = 5


def idle_fake(clock: ManualClock, **kwargs: object) -> FakeNvml:
    """One GPU with NVML's granularity (100 ms counter, 1 s averaged power), idle until loaded."""
    args: dict[str, object] = {"idle_w": (IDLE_W,), "base_w": (300.0,), "counter_update_s": 0.1, "power_avg_s": 1.0}
    return FakeNvml(clock=clock, **{**args, **kwargs})  # type: ignore[arg-type]


def probed_meter(fake: FakeNvml, clock: ManualClock) -> EnergyMeter:
    """A meter sampling every 10 ms in its waits, its counter period probed 2 s after the fake's origin."""
    meter = manual_meter(fake, clock, step_s=0.01)
    clock.advance(2.0)
    meter.probe_counter_period()
    return meter


def window(meter: EnergyMeter, length_s: float) -> EnergyMeasurement:
    meter.begin()
    meter.sleep(length_s)
    return meter.end()


def true_mean_w(fake: FakeNvml, start_s: float, end_s: float) -> float:
    return fake.energy_between_j(0, start_s, end_s) / (end_s - start_s)


def test_idle_baseline_is_the_idle_power_within_its_bound() -> None:
    clock = ManualClock()
    fake = idle_fake(clock)
    base = idle_baseline(window(probed_meter(fake, clock), BASELINE_S), N_SUB)
    assert (base.method, base.notes, len(base.sub_window_power_w[0])) == ("counter", [], N_SUB)
    assert base.end_s - base.start_s == pytest.approx(BASELINE_S, abs=1e-9)
    truth_w = true_mean_w(fake, base.start_s, base.end_s)
    assert truth_w == pytest.approx(IDLE_W, rel=1e-12)
    assert abs(base.power_w - truth_w) <= base.uncertainty_w
    assert base.uncertainty_w < 0.05 * IDLE_W
    assert (base.temperature_start_c, base.temperature_end_c) == (55, 55)


def test_a_transient_moves_the_median_less_than_the_mean_and_the_bound_holds() -> None:
    clock = ManualClock()
    # 70 W with one 1 s spike to 400 W, 2.3 s into the 5 s window (relative to the fake's origin).
    fake = FakeNvml(
        profile="steps",
        steps=((0.0, IDLE_W), (4.3, 400.0), (5.3, IDLE_W)),
        counter_update_s=0.1,
        power_avg_s=1.0,
        clock=clock,
    )
    m = window(probed_meter(fake, clock), BASELINE_S)
    assert m.start_s < fake.t0 + 4.3
    assert fake.t0 + 5.3 < m.end_s
    base = idle_baseline(m, N_SUB)
    truth_w = true_mean_w(fake, base.start_s, base.end_s)
    assert truth_w == pytest.approx(IDLE_W + 330.0 / BASELINE_S, rel=1e-9)
    assert abs(base.power_w - IDLE_W) < 0.01 * abs(truth_w - IDLE_W)
    assert abs(base.power_w - truth_w) <= base.uncertainty_w
    assert sorted(base.sub_window_power_w[0])[N_SUB // 2] == base.power_w


def test_too_few_counter_changes_leave_the_whole_window_mean() -> None:
    clock = ManualClock()
    fake = idle_fake(clock)
    meter = manual_meter(fake, clock)  # only the edges are sampled: no counter change inside
    clock.advance(2.0)
    m = window(meter, BASELINE_S)
    base = idle_baseline(m, N_SUB)
    assert base.notes == ["GPU 0: only 0 of 5 idle sub-windows could be read; the baseline is the whole window's mean"]
    assert base.per_gpu_power_w == {0: m.per_gpu_energy_j[0] / m.duration_s}
    assert base.per_gpu_uncertainty_w == {0: m.per_gpu_uncertainty_j[0] / m.duration_s}
    assert abs(base.power_w - IDLE_W) <= base.uncertainty_w


def test_without_a_counter_the_sub_windows_come_from_sampled_power() -> None:
    clock = ManualClock()
    fake = idle_fake(clock, counter_supported=False)
    base = idle_baseline(window(probed_meter(fake, clock), BASELINE_S), N_SUB)
    assert (base.method, base.notes) == ("sampling", [])
    assert base.sub_window_power_w[0] == pytest.approx([IDLE_W] * N_SUB, rel=1e-12)
    assert abs(base.power_w - IDLE_W) <= base.uncertainty_w


# energy above idle in the result -----------------------------------------------------------


def metrics(output_tokens: int = 1000) -> Metrics:
    return Metrics(
        n_requests=10,
        input_tokens=500,
        output_tokens=output_tokens,
        wall_time_s=20.0,
        output_tokens_per_s=50.0,
        total_tokens_per_s=75.0,
        requests_per_s=0.5,
        latency_s=distribution([1.0]),
    )


def measured(m: EnergyMeasurement) -> WindowMeasurement:
    """The window as the runner hands it over, without CPU energy."""
    return WindowMeasurement(
        start_s=m.start_s,
        end_s=m.end_s,
        start_unix_s=0.0,
        end_unix_s=0.0,
        gpu=m,
        cpu=None,
        no_cpu_reason="no RAPL (test)",
        cpu_time=None,
        concurrent_units=1,
    )


def baseline_then_window(loaded_baseline: bool, window_s: float) -> tuple[FakeNvml, IdleBaseline, EnergyMeasurement]:
    """An idle baseline (taken under load if asked), then a window under load (idle if the baseline was not)."""
    clock = ManualClock()
    fake = idle_fake(clock)
    meter = probed_meter(fake, clock)
    if loaded_baseline:
        fake.start_load()  # something else was running on the GPU during the baseline
    base = idle_baseline(window(meter, BASELINE_S), N_SUB)
    if loaded_baseline:
        fake.stop_load()
    else:
        fake.start_load()  # the engine starts its work
    clock.advance(0.5)
    m = window(meter, window_s)
    return fake, base, m


def test_energy_above_idle_is_the_load_less_the_idle_mean_within_its_budget() -> None:
    fake, base, m = baseline_then_window(loaded_baseline=False, window_s=10.0)
    e = build_energy(measured(m), None, metrics(), base, None)
    truth = fake.energy_between_j(0, m.start_s, m.end_s) - true_mean_w(fake, base.start_s, base.end_s) * m.duration_s
    assert e.adjusted_energy_j == m.total_energy_j - base.power_w * m.duration_s
    assert e.adjusted_energy_uncertainty_j is not None
    assert abs(e.adjusted_energy_j - truth) <= e.adjusted_energy_uncertainty_j
    assert e.adjusted_energy_uncertainty_j < 0.02 * truth  # tight enough that a wrong subtraction fails
    budget = e.adjusted_uncertainty_budget
    assert budget is not None
    assert budget.components_j == {
        "counter_resolution": m.budget.components_j["counter_resolution"],
        "baseline": base.uncertainty_w * m.duration_s,
    }
    assert budget.not_included == {**m.budget.not_included, "idle_drift": IDLE_DRIFT}
    assert e.adjusted_energy_uncertainty_j == budget.total_j
    assert e.adjusted_energy_per_output_token_j == pytest.approx(e.adjusted_energy_j / 1000, rel=1e-12)
    assert (e.baseline_power_w, e.baseline_power_uncertainty_w) == (base.power_w, base.uncertainty_w)
    assert (e.adjusted_negative, e.notes) == (False, [])


def test_a_baseline_taken_under_load_makes_an_idle_window_negative_and_flagged() -> None:
    _, base, m = baseline_then_window(loaded_baseline=True, window_s=5.0)
    e = build_energy(measured(m), None, metrics(), base, None)
    assert e.adjusted_energy_j is not None
    assert e.adjusted_energy_j < 0
    assert e.adjusted_negative is True
    assert e.notes == [
        f"energy above idle is negative ({e.adjusted_energy_j:.4g} J): the window drew less than the idle"
        f" baseline ({base.power_w:.4g} W); flagged, and left out of rankings"
    ]
