"""execution.cooldown on the unit's side, against the fake NVML's temperature curve and a manual clock."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from llenergymeasure.config.campaign import CooldownConfig
from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.errors import ConfigError
from llenergymeasure.experiment.cooldown import (
    COOLDOWN_ENV,
    cool_down,
    cool_down_from_env,
    cooldown_env,
    cooldown_from_env,
    reference_file,
)
from llenergymeasure.results.schema import Cooldown, GpuCooldown
from tests.fakes.clock import ManualClock
from tests.fakes.nvml import FakeNvml

CFG = CooldownConfig(enabled=True, temperature_band_c=2.0, power_band_w=10.0, max_wait_s=600.0, poll_s=2.0)
BANDS = {"temperature_band_c": 2.0, "power_band_w": 10.0, "max_wait_s": 600.0}


def gpu(clock: ManualClock, n_gpus: int = 1) -> FakeNvml:
    """Idle at 50 W (35 °C on GPU 0, 36 °C on GPU 1); under load 300 W, towards 60 °C; tau 30 s."""
    return FakeNvml(
        clock=clock,
        n_gpus=n_gpus,
        base_w=(300.0,) * n_gpus,
        idle_w=(50.0,) * n_gpus,
        profile="steps",
        steps=((0.0, 300.0),),
        thermal_tau_s=30.0,
        c_per_w=0.1,
    )


def test_the_first_unit_records_the_idle_reference_and_does_not_wait(tmp_path: Path) -> None:
    clock = ManualClock()
    fake = gpu(clock, n_gpus=2)
    out = cool_down(CFG, NvmlDevices(fake), None, tmp_path, clock, clock.sleep)
    assert out == Cooldown(
        outcome="reached",
        waited_s=0.0,
        gpus=[
            GpuCooldown(
                gpu=i,
                uuid=f"GPU-fake-{i}",
                start_temperature_c=35.0 + i,
                start_power_w=50.0,
                end_temperature_c=35.0 + i,
                end_power_w=50.0,
                idle_temperature_c=35.0 + i,
                idle_power_w=50.0,
                idle_recorded_here=True,
            )
            for i in range(2)
        ],
        **BANDS,
    )
    stored = json.loads((tmp_path / "thermal" / "idle-GPU-fake-1.json").read_text())
    assert (stored["uuid"], stored["temperature_c"], stored["power_w"]) == ("GPU-fake-1", 36.0, 50.0)


def test_a_later_unit_waits_until_back_within_the_band_of_the_reference(tmp_path: Path) -> None:
    clock = ManualClock()
    fake = gpu(clock)
    cool_down(CFG, NvmlDevices(fake), None, tmp_path, clock, clock.sleep)  # the first unit: 35 °C, 50 W
    fake.start_load()
    clock.advance(300.0)
    fake.stop_load()  # the previous unit ends hot: ~60 °C; the power drops to idle at once
    hot_c = fake.temperature_at(0, clock())
    out = cool_down(CFG, NvmlDevices(fake), None, tmp_path, clock, clock.sleep)
    # NVML rounds: back in the band (<= 37 °C) once the curve is below 37.5 °C, at
    # 30 s x ln((hot - 35) / 2.5) after the load; the unit sees it at its next 2 s poll.
    expected_s = 2.0 * math.ceil(30.0 * math.log((hot_c - 35.0) / 2.5) / 2.0)
    assert expected_s == 70.0
    assert out == Cooldown(
        outcome="reached",
        waited_s=expected_s,
        gpus=[
            GpuCooldown(
                gpu=0,
                uuid="GPU-fake-0",
                start_temperature_c=60.0,
                start_power_w=50.0,
                end_temperature_c=37.0,
                end_power_w=50.0,
                idle_temperature_c=35.0,
                idle_power_w=50.0,
                idle_recorded_here=False,
            )
        ],
        **BANDS,
    )


def test_the_wait_is_capped(tmp_path: Path) -> None:
    clock = ManualClock()
    fake = gpu(clock)
    cool_down(CFG, NvmlDevices(fake), None, tmp_path, clock, clock.sleep)
    fake.start_load()
    clock.advance(300.0)
    fake.stop_load()
    end_s = clock() + 21.0
    capped = CFG.model_copy(update={"max_wait_s": 21.0})
    out = cool_down(capped, NvmlDevices(fake), None, tmp_path, clock, clock.sleep)
    assert (out.outcome, out.waited_s, out.max_wait_s) == ("capped", 21.0, 21.0)  # polls at 0, 2, ..., 20, then 21
    assert clock() == end_s
    assert out.gpus[0].end_temperature_c == round(fake.temperature_at(0, end_s)) == 47  # 35 + 25 x exp(-21/30)


def test_power_alone_keeps_a_gpu_from_counting_as_idle(tmp_path: Path) -> None:
    clock = ManualClock()
    fake = gpu(clock)
    cool_down(CFG, NvmlDevices(fake), None, tmp_path, clock, clock.sleep)
    clock.advance(1.0)
    fake.start_load()  # busy (another process): 300 W, though not hotter yet
    out = cool_down(CFG.model_copy(update={"max_wait_s": 0.0}), NvmlDevices(fake), None, tmp_path, clock, clock.sleep)
    assert (out.outcome, out.waited_s, out.gpus[0].end_temperature_c, out.gpus[0].end_power_w) == (
        "capped",
        0.0,
        35.0,
        300.0,
    )


def test_without_nvml_the_cooldown_is_unavailable_and_waits_for_nothing(tmp_path: Path) -> None:
    clock = ManualClock()
    out = cool_down(CFG, None, "nvidia-ml-py is not installed", tmp_path, clock, clock.sleep)
    assert out == Cooldown(outcome="unavailable", reason="nvidia-ml-py is not installed", **BANDS)
    assert clock() == 1000.0
    assert not (tmp_path / "thermal").exists()


def test_an_unreadable_reference_is_recorded_anew(tmp_path: Path) -> None:
    clock = ManualClock()
    path = reference_file(tmp_path, "GPU-fake-0")
    path.parent.mkdir()
    path.write_text("{torn")
    out = cool_down(CFG, NvmlDevices(gpu(clock)), None, tmp_path, clock, clock.sleep)
    assert (out.outcome, out.gpus[0].idle_recorded_here) == ("reached", True)
    assert json.loads(path.read_text())["temperature_c"] == 35.0


def test_reference_files_are_named_by_uuid_with_safe_characters(tmp_path: Path) -> None:
    assert reference_file(tmp_path, "GPU-8e3c-01") == tmp_path / "thermal" / "idle-GPU-8e3c-01.json"
    assert reference_file(tmp_path, "MIG-GPU-ab/1/0") == tmp_path / "thermal" / "idle-MIG-GPU-ab_1_0.json"


def test_the_setting_travels_as_json_in_the_environment(tmp_path: Path) -> None:
    env = cooldown_env(CFG)
    assert list(env) == [COOLDOWN_ENV] == ["LLEM_COOLDOWN"]
    assert cooldown_from_env(env) == CFG
    assert cooldown_env(CooldownConfig()) == {}  # off: nothing set
    assert cooldown_from_env({}) is None
    assert cooldown_from_env({COOLDOWN_ENV: ""}) is None
    with pytest.raises(ConfigError) as err:
        cooldown_from_env({COOLDOWN_ENV: '{"max_wait_s": -1}'})
    assert str(err.value) == (
        "LLEM_COOLDOWN: not a cooldown setting (Input should be greater than or equal to 0): '{\"max_wait_s\": -1}'"
    )
    clock = ManualClock()
    assert cool_down_from_env({}, None, None, tmp_path, clock, clock.sleep) is None
    out = cool_down_from_env(env, None, "no GPU", tmp_path, clock, clock.sleep)
    assert out is not None
    assert (out.outcome, out.reason) == ("unavailable", "no GPU")
