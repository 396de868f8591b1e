"""The telemetry section: its defaults, its bounds, and its place (or none) in the config identity."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash, identity


def test_defaults_on_at_one_second() -> None:
    config = ExperimentConfig(model="m", backend="vllm")
    assert (config.telemetry.enabled, config.telemetry.interval_s) == (True, 1.0)


def test_defaults_stay_out_of_the_identity_and_a_changed_setting_does_not() -> None:
    default = ExperimentConfig(model="m", backend="vllm")
    spelled = ExperimentConfig(model="m", backend="vllm", telemetry={"enabled": True, "interval_s": 1.0})
    off = ExperimentConfig(model="m", backend="vllm", telemetry={"enabled": False})
    assert "telemetry" not in identity(default)
    assert config_hash(default) == config_hash(spelled)
    assert identity(off)["telemetry"] == {"enabled": False, "interval_s": 1.0}
    assert config_hash(off) != config_hash(default)


@pytest.mark.parametrize("bad", [{"interval_s": 0}, {"interval_s": 61}, {"every_s": 1}])
def test_bad_settings_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match="telemetry"):
        ExperimentConfig(model="m", backend="vllm", telemetry=bad)
