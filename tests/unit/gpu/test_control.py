"""Applying and restoring GPU settings against the fake NVML driver, with the exact calls it recorded."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from llenergymeasure.errors import GpuSettingsError
from llenergymeasure.gpu.control import apply, capabilities, enforced, read_state, restore
from llenergymeasure.gpu.settings import Capabilities, State, Target
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml

SM = (1980, 1890, 1755, 1620, 1530, 1410, 1305, 1200, 1095, 990, 900, 810, 705)
SHIM = Path(__file__).resolve().parents[2] / "fakes" / "pynvml_shim" / "pynvml.py"


def call(name: str, args: list[int], t: float, error: int | None = None, gpu: int = 0) -> dict[str, object]:
    return {"gpu": gpu, "call": name, "args": args, "t": t, "error": error}


def test_apply_then_restore_round_trip_with_the_exact_calls() -> None:
    clock = ManualClock()
    fake = FakeNvml(clock=clock, n_gpus=2)
    before = read_state(fake, 0)
    assert before == State("GPU-fake-0", 0, 700_000)
    assert enforced(fake, 0) == {"enforced_power_limit_w": 650.0, "sm_clock_mhz": 1980, "mem_clock_mhz": 2619}
    apply(fake, 0, Target.of(250, [900, 1410], 1593))
    assert enforced(fake, 0) == {"enforced_power_limit_w": 250.0, "sm_clock_mhz": 1410, "mem_clock_mhz": 1593}
    assert enforced(fake, 1) == {"enforced_power_limit_w": 650.0, "sm_clock_mhz": 1980, "mem_clock_mhz": 2619}
    clock.advance(5.0)
    restore(fake, 0, before)
    restore(fake, 0, before)  # idempotent
    assert enforced(fake, 0) == {"enforced_power_limit_w": 700.0, "sm_clock_mhz": 1980, "mem_clock_mhz": 2619}
    assert fake.settings(0) == {"power_limit_mw": 700_000, "sm_clocks": None, "mem_clocks": None}
    put_back = [
        call("nvmlDeviceSetPowerManagementLimit", [700_000], 1005.0),
        call("nvmlDeviceResetGpuLockedClocks", [], 1005.0),
        call("nvmlDeviceResetMemoryLockedClocks", [], 1005.0),
    ]
    assert fake.settings_calls == [
        call("nvmlDeviceSetPowerManagementLimit", [250_000], 1000.0),
        call("nvmlDeviceSetGpuLockedClocks", [900, 1410], 1000.0),
        call("nvmlDeviceSetMemoryLockedClocks", [1593, 1593], 1000.0),
        *put_back,
        *put_back,
    ]


def test_capabilities_probe_without_changing_anything() -> None:
    fake = FakeNvml(clock=ManualClock(), n_gpus=2)
    assert capabilities(fake, [1]) == [
        Capabilities("GPU-fake-1", 1, 100_000, 700_000, SM, (2619, 1593), settable=True, why_not=None)
    ]
    assert fake.settings_calls == [call("nvmlDeviceSetPowerManagementLimit", [700_000], 1000.0, gpu=1)]
    assert fake.nvmlDeviceGetEnforcedPowerLimit(1) == 700_000  # the management limit it already had
    no_pm = FakeNvml(clock=ManualClock(), management_limit_mw=None, supported_mem_clocks=())
    assert capabilities(no_pm, [0]) == [
        Capabilities("GPU-fake-0", 0, None, None, (), (), settable=False, why_not="not supported")
    ]


def test_out_of_range_and_unsupported_values_raise_one_line() -> None:
    fake = FakeNvml(clock=ManualClock())
    cases = [
        (Target.of(800, None, None), "cannot set gpu.power_limit_w to 800 W on GPU 0: NVML: invalid argument"),
        (
            Target.of(None, 1500, None),
            "cannot set gpu.sm_clock_mhz to [1500, 1500] MHz on GPU 0: NVML: invalid argument",
        ),
        (
            Target.of(None, [1980, 900], None),
            "cannot set gpu.sm_clock_mhz to [1980, 900] MHz on GPU 0: NVML: invalid argument",
        ),
        (
            Target.of(None, None, 1600),
            "cannot set gpu.memory_clock_mhz to [1600, 1600] MHz on GPU 0: NVML: invalid argument",
        ),
    ]
    for target, message in cases:
        with pytest.raises(GpuSettingsError) as err:
            apply(fake, 0, target)
        assert str(err.value) == message
    assert fake.settings(0) == {"power_limit_mw": None, "sm_clocks": None, "mem_clocks": None}
    assert [c["error"] for c in fake.settings_calls] == [2, 2, 2, 2]
    with pytest.raises(GpuSettingsError) as err:
        read_state(fake, 5)
    assert str(err.value) == "NVML cannot open GPU 5 (NVML: invalid argument)"


def test_without_permission_nothing_changes_and_restore_tries_every_step() -> None:
    fake = FakeNvml(clock=ManualClock(), can_set=False)
    [cap] = capabilities(fake, [0])
    assert (cap.settable, cap.why_not) == (False, "no permission")
    with pytest.raises(GpuSettingsError) as err:
        apply(fake, 0, Target.of(250, None, None))
    assert str(err.value) == "cannot set gpu.power_limit_w to 250 W on GPU 0: NVML: no permission"
    with pytest.raises(GpuSettingsError) as err:
        restore(fake, 0, State("GPU-fake-0", 0, 700_000))
    assert str(err.value) == "cannot restore the power limit of GPU 0 to 700 W (GPU-fake-0): NVML: no permission"
    assert [(c["call"], c["error"]) for c in fake.settings_calls] == [
        ("nvmlDeviceSetPowerManagementLimit", 4),  # the probe
        ("nvmlDeviceSetPowerManagementLimit", 4),
        ("nvmlDeviceSetPowerManagementLimit", 4),
        ("nvmlDeviceResetGpuLockedClocks", 4),
        ("nvmlDeviceResetMemoryLockedClocks", 4),
    ]


def test_restore_tolerates_unsupported_resets_and_checks_the_gpu() -> None:
    fake = FakeNvml(clock=ManualClock(), n_gpus=2, supported_sm_clocks=())
    restore(fake, 0, State("GPU-fake-0", 0, None))
    assert [(c["call"], c["error"]) for c in fake.settings_calls] == [
        ("nvmlDeviceResetGpuLockedClocks", 3),
        ("nvmlDeviceResetMemoryLockedClocks", None),
    ]
    with pytest.raises(GpuSettingsError) as err:
        restore(fake, 1, State("GPU-fake-0", 0, 700_000))
    assert str(err.value) == "cannot restore GPU 1: it is now GPU-fake-1, not GPU-fake-0 whose state was saved"


def test_a_settings_file_is_one_driver_state_for_several_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "driver.json")
    clock = ManualClock()
    host, unit = FakeNvml(clock=clock, settings_file=path), FakeNvml(clock=clock, settings_file=path)
    before = read_state(host, 0)
    apply(unit, 0, Target.of(300, 1410, None))
    assert enforced(host, 0) == {"enforced_power_limit_w": 300.0, "sm_clock_mhz": 1410, "mem_clock_mhz": 2619}
    assert json.loads(Path(path).read_text()) == {
        "0": {"mem_clocks": None, "power_limit_mw": 300_000, "sm_clocks": [1410, 1410]}
    }
    clock.advance(2.0)
    restarted = FakeNvml(clock=clock, settings_file=path)  # the host again, after SIGKILL
    restore(restarted, 0, before)
    assert enforced(unit, 0) == {"enforced_power_limit_w": 700.0, "sm_clock_mhz": 1980, "mem_clock_mhz": 2619}
    lines = [json.loads(line) for line in Path(path + ".calls").read_text().splitlines()]
    assert lines == [
        call("nvmlDeviceSetPowerManagementLimit", [300_000], 1000.0),
        call("nvmlDeviceSetGpuLockedClocks", [1410, 1410], 1000.0),
        call("nvmlDeviceSetPowerManagementLimit", [700_000], 1002.0),
        call("nvmlDeviceResetGpuLockedClocks", [], 1002.0),
        call("nvmlDeviceResetMemoryLockedClocks", [], 1002.0),
    ]
    assert unit.settings_calls == lines[:2]


def test_the_shim_takes_the_settings_keys_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "driver.json")
    env = {"limit_constraints_mw": [150_000, 400_000], "management_limit_mw": 400_000, "default_limit_mw": 400_000}
    env |= {"supported_sm_clocks": [1500, 1000], "supported_mem_clocks": [1800], "can_set": True}
    monkeypatch.setenv("LLEM_FAKE_NVML", json.dumps({**env, "settings_file": path}))
    spec = importlib.util.spec_from_file_location("_llem_test_pynvml_shim_gpu", SHIM)
    assert spec is not None
    assert spec.loader is not None
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)  # not registered as "pynvml"
    [cap] = capabilities(shim, [0])
    assert cap == Capabilities("GPU-fake-0", 0, 150_000, 400_000, (1500, 1000), (1800,), settable=True, why_not=None)
    assert shim.nvmlDeviceGetPowerManagementDefaultLimit(0) == 400_000
    apply(shim, 0, Target.of(None, [1000, 1500], 1800))
    assert json.loads(Path(path).read_text())["0"] == {
        "mem_clocks": [1800, 1800],
        "power_limit_mw": 400_000,  # the probe wrote the limit it had (the management limit, clamped by nobody)
        "sm_clocks": [1000, 1500],
    }
