"""The meter against a fake NVML with known ground truth, on a manual clock: nothing sleeps.

The sampler's interval is an hour, so its thread never samples on its own; the test takes the
samples itself with ``sample_now()`` between clock advances. Every reading is then known exactly:
the counter path must give the fake's integral to the mJ, the sampling path exactly the trapezoid
of the fake's (mW-rounded) readings at the sample times, which lies within its own resolution bound
of the truth.
"""

import pytest

from llenergymeasure.energy.integrate import trapezoid_energy_j
from llenergymeasure.energy.meter import EnergyMeasurement, EnergyMeter
from llenergymeasure.energy.nvml import NvmlDevices, load_pynvml, throttle_flags
from llenergymeasure.errors import EnergyUnavailableError
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml

WINDOW_S = 0.8
STEP_S = 0.005
STEPS = 160  # WINDOW_S / STEP_S


def measure(
    fake: FakeNvml, clock: ManualClock, method: str = "auto", steps: int = STEPS
) -> tuple[EnergyMeasurement, list[float], float]:
    """One window of ``steps`` sample intervals; returns the measurement, the sample times and the truth."""
    meter = EnergyMeter(NvmlDevices(fake), 3600.0, method, clock=clock)  # type: ignore[arg-type]
    clock.advance(2.0)  # away from the fake's t0, in the middle of a sine period
    meter.begin()
    times = [clock()]
    for _ in range(steps - 1):
        clock.advance(STEP_S)
        meter.sampler.sample_now()
        times.append(clock())
    clock.advance(STEP_S)
    m = meter.end()
    times.append(clock())
    truth = sum(fake.energy_between_j(g, times[0], times[-1]) for g in range(fake.n_gpus))
    return m, times, truth


def readings_w(fake: FakeNvml, gpu: int, times: list[float]) -> list[float]:
    """What the fake's power reading was at each time: the curve rounded to mW, as NVML reports it."""
    return [round(fake.power_at(gpu, t) * 1000) / 1000 for t in times]


def test_counter_path_matches_ground_truth() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock)
    m, times, truth = measure(fake, clock)
    assert m.method == "counter"
    assert m.duration_s == pytest.approx(WINDOW_S, abs=1e-9)
    assert m.total_energy_j == pytest.approx(truth, abs=0.001)  # the counter is read in whole mJ
    assert m.sample_count == STEPS + 1
    assert m.sampled_energy_j == pytest.approx(trapezoid_energy_j(times, readings_w(fake, 0, times)), rel=1e-12)
    assert m.counter_sampling_gap is not None
    assert m.counter_sampling_gap < 0.01


def test_sampling_path_is_the_trapezoid_of_the_readings_and_within_its_bound() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, clock=clock)
    m, times, truth = measure(fake, clock)
    assert (m.method, m.sample_count, m.uncertainty_method) == ("sampling", STEPS + 1, "sampling_resolution")
    assert m.total_energy_j == pytest.approx(trapezoid_energy_j(times, readings_w(fake, 0, times)), rel=1e-12)
    assert m.total_energy_uncertainty_j is not None
    assert abs(m.total_energy_j - truth) <= m.total_energy_uncertainty_j
    assert m.total_energy_j == pytest.approx(truth, rel=0.001)


def test_sampling_forced_even_where_counter_exists() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock)
    m, times, truth = measure(fake, clock, method="sampling")
    assert (m.method, m.counter_sampling_gap) == ("sampling", None)
    assert m.total_energy_j == pytest.approx(trapezoid_energy_j(times, readings_w(fake, 0, times)), rel=1e-12)
    assert m.total_energy_j == pytest.approx(truth, rel=0.001)


def test_counter_wrap_during_window() -> None:
    """The counter is set to wrap exactly mid-window on a manual clock, so the wrap is inside it."""
    clock = ManualClock()
    fake = FakeNvml(clock=clock)
    begin_s, window_s = fake.t0 + 1.0, 2.0
    mid_mj = int(fake.energy_between_j(0, fake.t0, begin_s + window_s / 2) * 1000)
    fake.counter_start_mj = fake.counter_modulus - mid_mj
    meter = EnergyMeter(NvmlDevices(fake), 3600.0, clock=clock)  # only the edge samples: no thread timing
    clock.advance(begin_s - clock())
    before = fake.nvmlDeviceGetTotalEnergyConsumption(0)
    meter.begin()
    clock.advance(window_s)
    after = fake.nvmlDeviceGetTotalEnergyConsumption(0)
    m = meter.end()
    assert after < before  # the raw counter wrapped between the two edges
    assert m.method == "counter"
    truth = fake.energy_between_j(0, begin_s, begin_s + window_s)
    assert m.total_energy_j == pytest.approx(truth, abs=0.002)  # mJ reads at both edges, nothing else


def test_missing_power_samples_are_bridged() -> None:
    clock = ManualClock()
    fake = FakeNvml(counter_supported=False, fail_power_every=3, clock=clock)
    m, times, truth = measure(fake, clock)
    # Reads 3, 6, 9, ... failed: the trapezoid runs over the others only.
    kept = [i for i in range(len(times)) if (i + 1) % 3 != 0]
    expected = trapezoid_energy_j([times[i] for i in kept], [readings_w(fake, 0, times)[i] for i in kept])
    assert m.total_energy_j == pytest.approx(expected, rel=1e-12)
    assert m.total_energy_j == pytest.approx(truth, rel=0.005)
    assert m.notes == [f"{len(times) - len(kept)} power samples failed and were bridged"]
    assert len(times) - len(kept) == 53


def test_counter_reset_falls_back_to_sampling() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock)
    meter = EnergyMeter(NvmlDevices(fake), 3600.0, clock=clock)
    meter.begin()
    clock.advance(0.3)
    fake.counter_start_mj = -(10**12)  # driver reload: the counter jumps backwards
    m = meter.end()
    # The counter went from 0 to 10**12 mJ below its start, which reads as almost 2**64 mJ gained.
    delta_mj = (int(fake.energy_between_j(0, fake.t0, clock()) * 1000) - 10**12) % 2**64
    assert m.method == "sampling"
    implied_w = delta_mj / 1000 / m.duration_s
    assert m.notes == [f"energy counter jumped (implied {implied_w:.0f} W, reset?); used sampled power"]


def test_multi_gpu_sums_and_keeps_per_gpu() -> None:
    clock = ManualClock()
    fake = FakeNvml(n_gpus=2, base_w=(100.0, 300.0), clock=clock)
    m, times, truth = measure(fake, clock)
    assert m.total_energy_j == pytest.approx(truth, abs=0.002)
    assert set(m.per_gpu_energy_j) == {0, 1}
    for g in (0, 1):
        assert m.per_gpu_energy_j[g] == pytest.approx(fake.energy_between_j(g, times[0], times[-1]), abs=0.001)
    assert m.per_gpu_energy_j[1] > 2 * m.per_gpu_energy_j[0]


def test_throttle_reasons_are_flagged() -> None:
    clock = ManualClock()
    m, *_ = measure(FakeNvml(throttle=0x20 | 0x4, clock=clock), clock, steps=10)
    assert m.throttle_reasons == ["sw_power_cap", "sw_thermal"]
    assert throttle_flags(0x1) == []


def test_no_nvml_gives_a_clear_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import pynvml

    def fail() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)
    with pytest.raises(EnergyUnavailableError, match="no NVIDIA driver or GPU is visible"):
        load_pynvml()


def test_bad_gpu_index() -> None:
    with pytest.raises(EnergyUnavailableError, match=r"^GPU index \[3\] not present; this machine has 1 GPUs$"):
        NvmlDevices(FakeNvml(), (3,))


def test_info_and_driver() -> None:
    d = NvmlDevices(FakeNvml())
    (info,) = d.info()
    assert (info.name, info.power_limit_w, info.energy_counter_supported) == ("Fake H100", 700.0, True)
    assert d.driver() == {"driver_version": "550.54.15", "cuda_driver_version": "12.4"}
