"""The pure half of GPU settings: fields to a Target, and the exact lines that refuse one."""

from __future__ import annotations

import pytest

from llenergymeasure.gpu.settings import Capabilities, State, Target, problems

SM = (1980, 1890, 1755, 1620, 1530, 1410, 1305, 1200, 1095, 990, 900, 810, 705)


def caps(index: int = 0, **kw: object) -> Capabilities:
    args: dict[str, object] = {
        "uuid": f"GPU-fake-{index}",
        "index": index,
        "limit_min_mw": 100_000,
        "limit_max_mw": 700_000,
        "sm_clocks": SM,
        "mem_clocks": (2619, 1593),
        "settable": True,
        "why_not": None,
    }
    args.update(kw)
    return Capabilities(**args)  # type: ignore[arg-type]


def test_target_of_converts_units_and_single_clocks() -> None:
    assert Target.of(212.5, 1410, 1593) == Target(212_500, (1410, 1410), (1593, 1593))
    assert Target.of(300.0004, [900, 1980], None) == Target(300_000, (900, 1980), None)
    assert Target.of(None, (1200, 1755), None) == Target(None, (1200, 1755), None)
    assert Target.of(None, None, None).is_empty
    assert not Target.of(None, None, 1593).is_empty
    assert Target.of(250, 1410, 2619).fields() == ["gpu.power_limit_w", "gpu.sm_clock_mhz", "gpu.memory_clock_mhz"]
    with pytest.raises(ValueError, match=r"gpu.sm_clock_mhz must be one value or \[min, max\], not \[1, 2, 3\]"):
        Target.of(None, [1, 2, 3], None)


def test_a_target_within_every_gpu_has_no_problems() -> None:
    assert problems(Target.of(250, [900, 1980], 1593), [caps(0), caps(1)], "campaign.yaml") == []


def test_power_out_of_range_names_field_gpu_range_and_fix() -> None:
    lines = problems(Target.of(800, None, None), [caps(0), caps(1, limit_max_mw=750_000)], "campaign.yaml")
    assert lines == [
        "campaign.yaml: gpu.power_limit_w 800 W is outside GPU 0 (GPU-fake-0)'s range 100-700 W; "
        "choose a value in that range",
        "campaign.yaml: gpu.power_limit_w 800 W is outside GPU 1 (GPU-fake-1)'s range 100-750 W; "
        "choose a value in that range",
    ]
    assert problems(Target.of(99.5, None, None), [caps()], "c.yaml") == [
        "c.yaml: gpu.power_limit_w 99.5 W is outside GPU 0 (GPU-fake-0)'s range 100-700 W; choose a value in that range"
    ]


def test_unsupported_clocks_list_the_eight_nearest() -> None:
    lines = problems(Target.of(None, [1500, 1980], 1600), [caps()], "campaign.yaml")
    assert lines == [
        "campaign.yaml: gpu.sm_clock_mhz 1500 MHz is not a supported SM clock of GPU 0 (GPU-fake-0); "
        "nearest supported: 1890, 1755, 1620, 1530, 1410, 1305, 1200, 1095; choose one of those",
        "campaign.yaml: gpu.memory_clock_mhz 1600 MHz is not a supported memory clock of GPU 0 (GPU-fake-0); "
        "nearest supported: 2619, 1593; choose one of those",
    ]


def test_reversed_clock_range_and_unsupported_locks() -> None:
    assert problems(Target.of(None, [1980, 900], None), [caps()], "c.yaml") == [
        "c.yaml: gpu.sm_clock_mhz [1980, 900] has min above max; write [min, max]"
    ]
    no_locks = caps(sm_clocks=(), mem_clocks=(), limit_min_mw=None, limit_max_mw=None)
    assert problems(Target.of(250, 1410, 1593), [no_locks], "c.yaml") == [
        "c.yaml: gpu.power_limit_w: GPU 0 (GPU-fake-0) does not support power limits; drop gpu.power_limit_w",
        "c.yaml: gpu.sm_clock_mhz: GPU 0 (GPU-fake-0) does not support locking SM clocks; drop gpu.sm_clock_mhz",
        "c.yaml: gpu.memory_clock_mhz: GPU 0 (GPU-fake-0) does not support locking memory clocks; "
        "drop gpu.memory_clock_mhz",
    ]


def test_missing_permission_is_one_line_per_field_for_all_gpus() -> None:
    denied = [caps(0, settable=False, why_not="no permission"), caps(1, settable=False, why_not="no permission")]
    assert problems(Target.of(250, 1410, None), denied, "campaign.yaml") == [
        "campaign.yaml: gpu.power_limit_w needs permission to change GPU settings (NVML: no permission); "
        "run llem as root (its host process sets them, under --executor docker too) or with CAP_SYS_ADMIN,"
        " or drop gpu.* from the campaign",
        "campaign.yaml: gpu.sm_clock_mhz needs permission to change GPU settings (NVML: no permission); "
        "run llem as root (its host process sets them, under --executor docker too) or with CAP_SYS_ADMIN,"
        " or drop gpu.* from the campaign",
    ]
    refused = caps(settable=False, why_not="not supported", limit_min_mw=None, limit_max_mw=None)
    assert problems(Target.of(None, 1410, None), [refused], "c.yaml") == [
        "c.yaml: gpu.sm_clock_mhz cannot be applied: GPU 0 (GPU-fake-0) refuses setting changes (NVML: not supported);"
        " drop gpu.sm_clock_mhz"
    ]
    assert problems(Target.of(None, None, None), denied, "c.yaml") == []


def test_state_round_trips_through_json_form() -> None:
    state = State("GPU-fake-0", 0, 650_000)
    assert state.to_dict() == {"uuid": "GPU-fake-0", "index": 0, "power_limit_mw": 650_000}
    assert State.from_dict(state.to_dict()) == state
    assert State.from_dict({"uuid": "GPU-x", "index": 2, "power_limit_mw": None}) == State("GPU-x", 2, None)
