"""energy.gpu_indices is checked against this machine's GPUs when a campaign is planned."""

from __future__ import annotations

from pathlib import Path

import pytest

from llenergymeasure.campaign.api import plan_campaign
from llenergymeasure.errors import ConfigError

CAMPAIGN = """\
name: gpus
model: llem/tiny-llama
backend: pytorch
experiments:
  - {energy: {gpu_indices: [0]}}
  - {energy: {gpu_indices: [1, 3]}}
"""


def test_gpu_indices_beyond_this_machine_fail_at_plan_time(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(CAMPAIGN)
    with pytest.raises(ConfigError) as err:
        plan_campaign(f, gpu_count=lambda: 2)
    assert str(err.value) == (
        f"{f}: experiments[1]: energy.gpu_indices [3]: this machine has 2 GPU(s) (ordinals 0..1); "
        "fix energy.gpu_indices or leave it unset to measure the GPUs the engine uses"
    )


def test_enough_gpus_or_no_nvml_plans(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(CAMPAIGN)
    assert len(plan_campaign(f, gpu_count=lambda: 4)[1].experiments) == 2
    assert len(plan_campaign(f, gpu_count=lambda: None)[1].experiments) == 2  # a login node: checked where it runs
