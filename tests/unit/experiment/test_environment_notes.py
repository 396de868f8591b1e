"""Where the unit runs: the power limit its campaign asked for, checked against what its GPUs hold."""

from __future__ import annotations

from llenergymeasure.experiment.environment import settings_notes


def test_a_gpu_at_another_limit_is_named_and_one_at_the_asked_limit_is_not() -> None:
    gpus = [
        {"index": 0, "uuid": "GPU-a", "enforced_power_limit_w": 300.0},
        {"index": 1, "uuid": "GPU-b", "enforced_power_limit_w": 700.0},
        {"index": 2, "uuid": "GPU-c", "enforced_power_limit_w": None},
    ]
    assert settings_notes(300.0, gpus) == [
        "gpu.power_limit_w 300 W was asked, but GPU 1 (GPU-b) held 700 W when the unit started: its figures are"
        " not at the asked limit",
        "gpu.power_limit_w 300 W was asked, but GPU 2 (GPU-c) held an unreadable limit when the unit started:"
        " its figures are not at the asked limit",
    ]
    assert settings_notes(None, gpus) == []
