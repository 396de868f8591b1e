"""Energy over a sub-window (a server run's steady state) against the fake NVML's ground truth."""

from __future__ import annotations

import pytest

from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.energy.sampler import PowerSampler, Sample
from llenergymeasure.energy.subwindow import EdgeReading, subwindow_energy, trapezoid_between_j
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml


def test_trapezoid_is_cut_exactly_at_both_edges() -> None:
    # Power rises linearly 100 -> 200 W over [0, 2]; the exact integral over [0.5, 1.5] is 150 J.
    assert trapezoid_between_j([0.0, 1.0, 2.0], [100.0, 150.0, 200.0], 0.5, 1.5) == pytest.approx(150.0)
    # A failed sample is bridged; outside the samples the nearest reading is held.
    assert trapezoid_between_j([0.0, 1.0, 2.0], [100.0, None, 200.0], 0.5, 1.5) == pytest.approx(150.0)
    assert trapezoid_between_j([1.0, 2.0], [100.0, 100.0], 0.0, 3.0) == pytest.approx(300.0)
    assert trapezoid_between_j([0.0, 1.0], [100.0, 100.0], 1.0, 1.0) == 0.0


def run_window(fake: FakeNvml, clock: ManualClock, edges: tuple[float, float], total_s: float):
    """Sample every 10 ms over [0, total_s] on the manual clock, reading the counters at both edges."""
    devices = NvmlDevices(fake)
    sampler = PowerSampler(devices, 0.01, clock)
    t_start = clock()
    readings = {}
    while clock() - t_start <= total_s + 1e-9:
        sampler.sample_now()
        for name, at in zip(("start", "end"), edges, strict=True):
            if name not in readings and clock() - t_start >= at:
                readings[name] = EdgeReading(clock(), devices.energy_mj())
        clock.advance(0.01)
    return devices, sampler.samples, readings["start"], readings["end"]


def test_counter_edges_give_the_ground_truth_with_its_bound() -> None:
    clock = ManualClock()
    fake = FakeNvml(n_gpus=2, base_w=(120.0, 250.0), counter_update_s=0.1, clock=clock)
    devices, samples, a, b = run_window(fake, clock, (0.5, 2.5), 3.0)
    e = subwindow_energy(a, b, devices.indices, samples, use_counter=True, update_period_s=0.1)
    truth = sum(fake.energy_between_j(g, a.t_s, b.t_s) for g in range(2))
    assert e.method == "counter"
    assert e.uncertainty_j is not None
    assert abs(e.total_energy_j - truth) <= e.uncertainty_j
    assert e.notes == []


def test_sampling_path_integrates_only_the_sub_window() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, clock=clock)
    devices, samples, a, b = run_window(fake, clock, (0.5, 2.5), 3.0)
    e = subwindow_energy(a, b, devices.indices, samples, use_counter=False, update_period_s=None)
    truth = fake.energy_between_j(0, a.t_s, b.t_s)
    assert e.method == "sampling"
    assert e.uncertainty_j is None
    assert e.total_energy_j == pytest.approx(truth, rel=0.002)


def test_a_sub_window_shorter_than_ten_counter_updates_gets_a_note() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_update_s=0.1, clock=clock)
    devices, samples, a, b = run_window(fake, clock, (0.5, 0.9), 1.0)
    e = subwindow_energy(a, b, devices.indices, samples, use_counter=True, update_period_s=0.1)
    assert len(e.notes) == 1
    assert "shorter than 10 energy counter updates" in e.notes[0]


def test_missing_counter_reading_falls_back_to_samples() -> None:
    samples = [Sample(t, 0, 100.0, None, None, None, None, None) for t in (0.0, 1.0, 2.0)]
    e = subwindow_energy(EdgeReading(0.5, [None]), EdgeReading(1.5, [5]), [0], samples, True, 0.1)
    assert (e.method, e.total_energy_j) == ("sampling", pytest.approx(100.0))
