"""The meter against a fake NVML with known ground truth: within 0.5% on every path."""

import time

import pytest

from llenergymeasure.energy.meter import EnergyMeter
from llenergymeasure.energy.nvml import NvmlDevices, load_pynvml, throttle_flags
from llenergymeasure.errors import EnergyUnavailableError
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml


def measure(fake: FakeNvml, method: str = "auto", window_s: float = 0.8, interval_s: float = 0.005):
    devices = NvmlDevices(fake)
    meter = EnergyMeter(devices, interval_s, method)  # type: ignore[arg-type]
    meter.begin()
    t0 = meter._t0
    time.sleep(window_s)
    m = meter.end()
    t1 = t0 + m.duration_s
    truth = sum(fake.energy_between_j(g, t0, t1) for g in range(fake.n_gpus))
    return m, truth


def test_counter_path_matches_ground_truth() -> None:
    m, truth = measure(FakeNvml())
    assert m.method == "counter"
    assert m.total_energy_j == pytest.approx(truth, rel=0.005)
    assert m.counter_sampling_gap is not None
    assert m.counter_sampling_gap < 0.01


def test_sampling_path_matches_ground_truth() -> None:
    m, truth = measure(FakeNvml(counter_supported=False))
    assert m.method == "sampling"
    assert m.total_energy_j == pytest.approx(truth, rel=0.005)
    assert m.sample_count > 50


def test_sampling_forced_even_where_counter_exists() -> None:
    m, truth = measure(FakeNvml(), method="sampling")
    assert m.method == "sampling"
    assert m.total_energy_j == pytest.approx(truth, rel=0.005)


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
    m, truth = measure(FakeNvml(counter_supported=False, fail_power_every=3))
    assert m.total_energy_j == pytest.approx(truth, rel=0.005)
    assert any("power samples failed" in n for n in m.notes)


def test_counter_reset_falls_back_to_sampling() -> None:
    fake = FakeNvml()
    devices = NvmlDevices(fake)
    meter = EnergyMeter(devices, 0.005)
    meter.begin()
    time.sleep(0.3)
    fake.counter_start_mj = -(10**12)  # driver reload: the counter jumps backwards
    m = meter.end()
    assert m.method == "sampling"
    assert any("reset" in n for n in m.notes)


def test_multi_gpu_sums_and_keeps_per_gpu() -> None:
    fake = FakeNvml(n_gpus=2, base_w=(100.0, 300.0))
    m, truth = measure(fake)
    assert m.total_energy_j == pytest.approx(truth, rel=0.005)
    assert set(m.per_gpu_energy_j) == {0, 1}
    assert m.per_gpu_energy_j[1] > 2 * m.per_gpu_energy_j[0]


def test_throttle_reasons_are_flagged() -> None:
    m, _ = measure(FakeNvml(throttle=0x20 | 0x4), window_s=0.05)
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
