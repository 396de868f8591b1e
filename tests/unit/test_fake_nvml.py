"""The fake NVML's own ground truth: power profiles, the instant field, violation time, the shim's JSON."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from tests.fakes.clock import ManualClock
from tests.fakes.nvml import (
    NVML_FI_DEV_POWER_AVERAGE,
    NVML_FI_DEV_POWER_INSTANT,
    NVML_PERF_POLICY_POWER,
    NVML_PERF_POLICY_THERMAL,
    FakeNvml,
    NVMLError,
    fake_args_from_json,
)

SHIM = Path(__file__).resolve().parents[1] / "fakes" / "pynvml_shim" / "pynvml.py"


def test_defaults_keep_the_sine_and_todays_readings() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock)
    w = 2 * math.pi / 0.7
    t0 = fake.t0
    assert fake.power_at(0, t0 + 0.1) == pytest.approx(150.0 + 60.0 * math.sin(w * 0.1), rel=1e-12)
    expected_j = 150.0 * 2.0 - 60.0 / w * (math.cos(w * 2.0) - 1.0)
    assert fake.energy_between_j(0, t0, t0 + 2.0) == pytest.approx(expected_j, rel=1e-12)
    assert fake.nvmlDeviceGetClockInfo(0, 1) == 1980
    assert fake.nvmlDeviceGetClockInfo(0, 2) == 2619
    assert fake.nvmlDeviceGetCudaComputeCapability(0) == (8, 0)  # no averaging: GA100
    assert FakeNvml(clock=ManualClock(), power_avg_s=1.0).nvmlDeviceGetCudaComputeCapability(0) == (9, 0)
    assert fake.nvmlDeviceGetPowerManagementLimit(0) == 700_000
    assert fake.nvmlDeviceGetPowerManagementDefaultLimit(0) == 700_000
    assert fake.nvmlDeviceGetEnforcedPowerLimit(0) == 650_000
    assert fake.nvmlDeviceGetViolationStatus(0, NVML_PERF_POLICY_POWER).violationTime == 0
    [instant] = fake.nvmlDeviceGetFieldValues(0, [NVML_FI_DEV_POWER_INSTANT])
    assert instant.nvmlReturn == 3


def test_steps_power_and_energy_across_steps() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock, profile="steps", steps=((0.0, 100.0), (2.0, 300.0), (5.0, 50.0)))
    t0 = fake.t0
    assert [fake.power_at(0, t0 + x) for x in (-1.0, 0.0, 1.999, 2.0, 4.5, 5.0, 100.0)] == [
        100.0,
        100.0,
        100.0,
        300.0,
        300.0,
        50.0,
        50.0,
    ]
    assert fake.energy_between_j(0, t0 + 1.0, t0 + 3.0) == pytest.approx(100.0 * 1 + 300.0 * 1, rel=1e-12)
    assert fake.energy_between_j(0, t0 - 1.0, t0 + 6.0) == pytest.approx(100.0 * 3 + 300.0 * 3 + 50.0 * 1, rel=1e-12)
    clock.advance(3.0)
    assert fake.nvmlDeviceGetTotalEnergyConsumption(0) == 500_000  # 100 W x 2 s + 300 W x 1 s
    assert fake.nvmlDeviceGetPowerUsage(0) == 300_000


def test_steps_offset_per_gpu_from_base_w() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock, n_gpus=2, base_w=(150.0, 170.0), profile="steps", steps=((0.0, 100.0), (1.0, 200.0)))
    t0 = fake.t0
    assert (fake.power_at(0, t0 + 1.5), fake.power_at(1, t0 + 1.5)) == (200.0, 220.0)
    assert fake.energy_between_j(1, t0, t0 + 2.0) == pytest.approx(120.0 + 220.0, rel=1e-12)


def test_square_wave_energy_over_two_and_a_half_periods() -> None:
    clock = ManualClock()
    # period 2 s, high (300 W) for the first 0.5 s of each, low (100 W) for the other 1.5 s
    fake = FakeNvml(clock=clock, profile="square", low_w=100.0, high_w=300.0, period_s=2.0, duty=0.25)
    t0 = fake.t0
    assert [fake.power_at(0, t0 + x) for x in (0.0, 0.49, 0.5, 1.99, 2.0, -1.75, -1.0)] == [
        300.0,
        300.0,
        100.0,
        100.0,
        300.0,
        300.0,
        100.0,
    ]
    # 2 x (300 x 0.5 + 100 x 1.5) + (300 x 0.5 + 100 x 0.5)
    assert fake.energy_between_j(0, t0, t0 + 5.0) == pytest.approx(800.0, rel=1e-12)
    # unaligned: 0.25..0.5 high, 0.5..2 low, 2..2.5 high, 2.5..2.75 low
    assert fake.energy_between_j(0, t0 + 0.25, t0 + 2.75) == pytest.approx(75.0 + 150.0 + 150.0 + 25.0, rel=1e-12)
    assert fake.energy_between_j(0, t0 - 1.5, t0) == pytest.approx(150.0, rel=1e-12)  # before t0: low only


def test_square_wave_offset_and_average_reading() -> None:
    clock = ManualClock()
    fake = FakeNvml(
        clock=clock, n_gpus=2, base_w=(0.0, 10.0), profile="square", period_s=0.5, duty=0.5, power_avg_s=1.0
    )
    clock.advance(3.0)
    assert fake.nvmlDeviceGetPowerUsage(0) == 200_000  # two full periods of (300 + 100) / 2
    assert fake.nvmlDeviceGetPowerUsage(1) == 210_000


def test_idle_and_load_spans_on_top_of_steps() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock, profile="steps", steps=((0.0, 100.0), (2.0, 300.0)), idle_w=(50.0,))
    t0 = fake.t0
    fake.load_spans.append((t0 + 1.0, t0 + 3.0))
    assert [fake.power_at(0, t0 + x) for x in (0.5, 1.5, 2.5, 3.5)] == [50.0, 100.0, 300.0, 50.0]
    assert fake.energy_between_j(0, t0, t0 + 4.0) == pytest.approx(50.0 + 100.0 + 300.0 + 50.0, rel=1e-12)


def test_temperature_is_fixed_unless_the_thermal_model_is_on() -> None:
    fake = FakeNvml(clock=ManualClock(), n_gpus=2)
    assert [fake.nvmlDeviceGetTemperature(h, 0) for h in (0, 1)] == [55, 56]


def test_temperature_lags_the_load_by_its_time_constant_and_reads_whole_degrees() -> None:
    clock = ManualClock()
    fake = FakeNvml(
        clock=clock, n_gpus=2, idle_w=(50.0, 100.0), profile="steps", steps=((0.0, 300.0),), thermal_tau_s=30.0
    )
    assert fake.temperature_at(0, clock()) == 35.0  # equilibrium at t0: 30 + 0.1 x 50
    clock.advance(10.0)
    fake.start_load()  # GPU 0 heads for 60 °C, GPU 1 (offset +0 W in steps, ambient + 1) for 61 °C
    clock.advance(30.0)
    assert fake.temperature_at(0, clock()) == pytest.approx(35.0 + 25.0 * (1 - math.exp(-1.0)), rel=1e-12)
    assert fake.temperature_at(1, clock()) == pytest.approx(31.0 + 10.0 + 20.0 * (1 - math.exp(-1.0)), rel=1e-12)
    assert fake.nvmlDeviceGetTemperature(0, 0) == 51  # 50.80 rounded
    fake.stop_load()
    clock.advance(60.0)
    hot = 25.0 * (1 - math.exp(-1.0))
    assert fake.temperature_at(0, clock()) == pytest.approx(35.0 + hot * math.exp(-2.0), rel=1e-12)


def test_temperature_follows_the_mean_of_a_sine_or_square_load() -> None:
    clock = ManualClock()
    sine = FakeNvml(clock=clock, base_w=(200.0,), thermal_tau_s=5.0, c_per_w=0.2)
    square = FakeNvml(clock=clock, profile="square", low_w=100.0, high_w=300.0, duty=0.25, thermal_tau_s=5.0)
    clock.advance(1000.0)
    assert sine.temperature_at(0, clock()) == 70.0  # always loaded: equilibrium at its mean, 200 W
    assert square.temperature_at(0, clock()) == 45.0  # 30 + 0.1 x 150 W


def test_counter_holds_between_updates() -> None:
    clock = ManualClock(start_s=0.0)  # t0 = 0: update times k * 0.1 s carry no cancellation error
    fake = FakeNvml(clock=clock, profile="steps", steps=((0.0, 200.0),), counter_update_s=0.1)
    clock.advance(0.25)
    assert fake.nvmlDeviceGetTotalEnergyConsumption(0) == 40_000  # last update at 0.2 s
    clock.advance(0.04)
    assert fake.nvmlDeviceGetTotalEnergyConsumption(0) == 40_000
    clock.advance(0.02)
    assert fake.nvmlDeviceGetTotalEnergyConsumption(0) == 60_000  # updated at 0.3 s


def test_instant_field_is_true_power_while_power_usage_is_the_trailing_mean() -> None:
    clock = ManualClock()
    fake = FakeNvml(
        clock=clock, profile="steps", steps=((0.0, 100.0), (5.0, 300.0)), power_avg_s=1.0, instant_supported=True
    )
    clock.advance(5.25)
    assert fake.nvmlDeviceGetPowerUsage(0) == 150_000  # (0.75 s x 100 W + 0.25 s x 300 W) / 1 s
    instant, average, other = fake.nvmlDeviceGetFieldValues(0, [(NVML_FI_DEV_POWER_INSTANT, 0), 185, 999])
    assert (instant.fieldId, instant.scopeId, instant.nvmlReturn, instant.valueType) == (186, 0, 0, 1)
    assert instant.value.uiVal == 300_000
    assert (instant.value.ulVal, instant.value.ullVal, instant.value.siVal) == (300_000, 300_000, 300_000)
    assert instant.timestamp == 1_005_250_000
    assert instant.latencyUsec == 0
    assert (average.fieldId, average.nvmlReturn, average.valueType, average.value.uiVal) == (185, 0, 1, 150_000)
    assert (other.fieldId, other.nvmlReturn) == (999, 3)
    assert (fake.power_reads, fake.field_power_reads) == (1, 2)
    clock.advance(0.75)
    [instant] = fake.nvmlDeviceGetFieldValues(0, [NVML_FI_DEV_POWER_INSTANT])
    assert (instant.value.uiVal, fake.nvmlDeviceGetPowerUsage(0)) == (300_000, 300_000)


def test_unsupported_instant_field_sets_the_entry_return_not_an_exception() -> None:
    fake = FakeNvml(clock=ManualClock(), profile="steps", steps=((0.0, 100.0),))
    instant, average = fake.nvmlDeviceGetFieldValues(0, [NVML_FI_DEV_POWER_INSTANT, NVML_FI_DEV_POWER_AVERAGE])
    assert (instant.nvmlReturn, instant.value.uiVal) == (fake.NVML_ERROR_NOT_SUPPORTED, 0)
    assert (average.nvmlReturn, average.value.uiVal) == (fake.NVML_SUCCESS, 100_000)
    assert fake.field_power_reads == 1


def test_fail_power_every_applies_to_field_entries() -> None:
    fake = FakeNvml(
        clock=ManualClock(), profile="steps", steps=((0.0, 100.0),), instant_supported=True, fail_power_every=2
    )
    entries = fake.nvmlDeviceGetFieldValues(0, [186, 186, 186, 186])
    assert [e.nvmlReturn for e in entries] == [0, 15, 0, 15]
    assert [e.value.uiVal for e in entries] == [100_000, 0, 100_000, 0]
    assert fake.nvmlDeviceGetPowerUsage(0) == 100_000  # its own count: first read


def test_violation_time_accumulates_from_t0() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock, violation_shares={NVML_PERF_POLICY_THERMAL: 0.25})
    clock.advance(10.0)
    thermal = fake.nvmlDeviceGetViolationStatus(0, NVML_PERF_POLICY_THERMAL)
    assert (thermal.referenceTime, thermal.violationTime) == (1_010_000_000, 2_500_000_000)
    assert fake.nvmlDeviceGetViolationStatus(0, fake.NVML_PERF_POLICY_POWER).violationTime == 0
    with pytest.raises(NVMLError) as invalid:
        fake.nvmlDeviceGetViolationStatus(0, 7)
    assert invalid.value.value == 2
    off = FakeNvml(clock=clock, violation_supported=False)
    with pytest.raises(NVMLError) as unsupported:
        off.nvmlDeviceGetViolationStatus(0, NVML_PERF_POLICY_THERMAL)
    assert unsupported.value.value == 3


def test_clocks_compute_capability_and_limits_are_settable() -> None:
    fake = FakeNvml(
        clock=ManualClock(),
        sm_clock_mhz=1410,
        mem_clock_mhz=1593,
        compute_capability=(8, 0),
        enforced_limit_mw=400_000,
        management_limit_mw=None,
    )
    assert (fake.nvmlDeviceGetClockInfo(0, fake.NVML_CLOCK_SM), fake.nvmlDeviceGetClockInfo(0, 2)) == (1410, 1593)
    assert fake.nvmlDeviceGetCudaComputeCapability(0) == (8, 0)
    assert fake.nvmlDeviceGetEnforcedPowerLimit(0) == 400_000
    for call in (fake.nvmlDeviceGetPowerManagementLimit, fake.nvmlDeviceGetPowerManagementDefaultLimit):
        with pytest.raises(NVMLError):
            call(0)
    with pytest.raises(NVMLError):
        FakeNvml(clock=ManualClock(), compute_capability=None).nvmlDeviceGetCudaComputeCapability(0)


def test_constants_match_pynvml() -> None:
    real = pytest.importorskip("pynvml")
    fake = FakeNvml(clock=ManualClock())
    names = [
        n for n in dir(real) if n.startswith(("NVML_PERF_POLICY_", "NVML_VALUE_TYPE_")) and not n.endswith("COUNT")
    ]
    names += ["NVML_FI_DEV_POWER_INSTANT", "NVML_FI_DEV_POWER_AVERAGE", "NVML_SUCCESS", "NVML_ERROR_NOT_SUPPORTED"]
    names += ["NVML_CLOCK_SM", "NVML_CLOCK_MEM", "NVML_CLOCK_GRAPHICS"]
    names += [
        "NVML_ERROR_INVALID_ARGUMENT",
        "NVML_ERROR_NO_PERMISSION",
        "NVML_ERROR_NOT_FOUND",
        "NVML_ERROR_GPU_IS_LOST",
    ]
    assert len(names) > 20
    assert {n: getattr(fake, n) for n in names} == {n: getattr(real, n) for n in names}


def test_bad_profiles_are_refused() -> None:
    with pytest.raises(ValueError, match="profile must be"):
        FakeNvml(clock=ManualClock(), profile="ramp")
    with pytest.raises(ValueError, match="sorted"):
        FakeNvml(clock=ManualClock(), profile="steps")
    with pytest.raises(ValueError, match="sorted"):
        FakeNvml(clock=ManualClock(), profile="steps", steps=((1.0, 1.0), (0.0, 2.0)))


def test_json_args_become_the_field_types() -> None:
    text = json.dumps(
        {
            "base_w": [100.0, 120.0],
            "profile": "steps",
            "steps": [[0, 80], [1.5, 200]],
            "violation_shares": {"1": 0.25},
            "compute_capability": [8, 0],
            "load_spans": [[1, 2]],
            "enforced_limit_mw": None,
        }
    )
    args = fake_args_from_json(text)
    assert args["base_w"] == (100.0, 120.0)
    assert args["steps"] == ((0.0, 80.0), (1.5, 200.0))
    assert args["violation_shares"] == {1: 0.25}
    assert args["compute_capability"] == (8, 0)
    assert args["load_spans"] == [(1.0, 2.0)]
    assert args["enforced_limit_mw"] is None
    assert fake_args_from_json("") == {}


def test_the_shim_builds_its_fake_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "LLEM_FAKE_NVML",
        json.dumps(
            {
                "n_gpus": 2,
                "base_w": [100.0, 110.0],
                "profile": "steps",
                "steps": [[0, 120.0]],
                "instant_supported": True,
                "violation_shares": {"0": 0.5},
                "compute_capability": [8, 9],
            }
        ),
    )
    spec = importlib.util.spec_from_file_location("_llem_test_pynvml_shim", SHIM)
    assert spec is not None
    assert spec.loader is not None
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)  # not registered as "pynvml": the real one stays importable
    fake = shim.fake()
    assert (fake.t0, fake.steps, fake.violation_shares) == (0.0, ((0.0, 120.0),), {0: 0.5})
    assert shim.nvmlDeviceGetCudaComputeCapability(0) == (8, 9)
    assert shim.NVML_FI_DEV_POWER_INSTANT == 186
    assert shim.nvmlDeviceGetPowerUsage(1) == 130_000
    [instant] = shim.nvmlDeviceGetFieldValues(1, [shim.NVML_FI_DEV_POWER_INSTANT])
    assert (instant.nvmlReturn, instant.value.uiVal) == (0, 130_000)
    assert shim.nvmlDeviceGetViolationStatus(0, 0).violationTime > 0


def test_settings_getters_keep_todays_values_until_something_is_set() -> None:
    fake = FakeNvml(clock=ManualClock())
    readings = (
        fake.nvmlDeviceGetPowerManagementLimit(0),
        fake.nvmlDeviceGetEnforcedPowerLimit(0),
        fake.nvmlDeviceGetPowerManagementDefaultLimit(0),
        [fake.nvmlDeviceGetClockInfo(0, kind) for kind in (0, 1, 2)],
    )
    assert readings == (700_000, 650_000, 700_000, [2619, 1980, 2619])  # graphics read as memory: kept
    fake.nvmlDeviceResetGpuLockedClocks(0)  # nothing locked: a reset changes no reading
    fake.nvmlDeviceResetMemoryLockedClocks(0)
    assert fake.nvmlDeviceGetEnforcedPowerLimit(0) == 650_000
    assert [fake.nvmlDeviceGetClockInfo(0, kind) for kind in (0, 1, 2)] == [2619, 1980, 2619]


def test_settings_are_enforced_and_read_back_like_a_driver() -> None:
    fake = FakeNvml(clock=ManualClock(), n_gpus=2)
    assert fake.nvmlDeviceGetPowerManagementLimitConstraints(0) == [100_000, 700_000]
    assert fake.nvmlDeviceGetSupportedMemoryClocks(0) == [2619, 1593]
    assert fake.nvmlDeviceGetSupportedGraphicsClocks(0, 1593)[:3] == [1980, 1890, 1755]
    fake.nvmlDeviceSetPowerManagementLimit(1, 300_000)
    fake.nvmlDeviceSetGpuLockedClocks(1, 900, 1200)
    fake.nvmlDeviceSetMemoryLockedClocks(1, 1593, 1593)
    assert (fake.nvmlDeviceGetPowerManagementLimit(1), fake.nvmlDeviceGetEnforcedPowerLimit(1)) == (300_000, 300_000)
    assert [fake.nvmlDeviceGetClockInfo(1, kind) for kind in (0, 1, 2)] == [1200, 1200, 1593]
    assert fake.nvmlDeviceGetEnforcedPowerLimit(0) == 650_000  # the other GPU is untouched
    for bad, code in (
        (lambda: fake.nvmlDeviceSetPowerManagementLimit(0, 99_999), 2),
        (lambda: fake.nvmlDeviceSetGpuLockedClocks(0, 1200, 900), 2),
        (lambda: fake.nvmlDeviceSetGpuLockedClocks(0, 1000, 1000), 2),
        (lambda: fake.nvmlDeviceSetMemoryLockedClocks(0, 1600, 1600), 2),
        (lambda: fake.nvmlDeviceGetSupportedGraphicsClocks(0, 1600), 6),
        (lambda: FakeNvml(clock=ManualClock(), can_set=False).nvmlDeviceResetGpuLockedClocks(0), 4),
        (lambda: FakeNvml(clock=ManualClock(), management_limit_mw=None).nvmlDeviceSetPowerManagementLimit(0, 1), 3),
        (lambda: FakeNvml(clock=ManualClock(), supported_mem_clocks=()).nvmlDeviceResetMemoryLockedClocks(0), 3),
    ):
        with pytest.raises(NVMLError) as err:
            bad()
        assert err.value.value == code
    fake.nvmlDeviceResetGpuLockedClocks(1)
    assert fake.settings(1) == {"power_limit_mw": 300_000, "sm_clocks": None, "mem_clocks": [1593, 1593]}
    assert fake_args_from_json('{"supported_sm_clocks": [1500], "limit_constraints_mw": [1, 2]}') == {
        "supported_sm_clocks": (1500,),
        "limit_constraints_mw": (1, 2),
    }
