"""execution.cooldown and warmup until settled through the real CLI and llem-exp, NVML faked at the pynvml boundary.

The host has the fake GPU too, but the cooldown must run in the unit (which owns the GPUs): the
host hands the setting over in the unit's environment, and the unit reads, waits and records.
The fake's temperature and power are steady here, so the waits' exact timing is left to the unit
tests (tests/unit/experiment/test_cooldown.py, test_warmup.py); this checks the wiring end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import llem, manifest, only_campaign_dir, use_fake_nvml

pytestmark = pytest.mark.slow

CAMPAIGN = """name: cool
model: llem/tiny-llama
backend: pytorch
precision: fp32
n_prompts: 2
max_input_tokens: 32
max_output_tokens: 4
warmup: {n_runs: 0, until_settled: true, settle_window_s: 1.0}
baseline: {enabled: false}
energy: {min_window_s: 0}
execution: {n_cycles: 2, cooldown: {enabled: true, poll_s: 0.1, max_wait_s: 30}}
"""


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Host and units import the fake ``pynvml``: one GPU at a steady 200 W and 55 °C."""
    use_fake_nvml(monkeypatch, [200.0])


def test_the_host_passes_the_cooldown_to_each_unit_which_waits_and_records_it(tmp_path: Path, fake_gpu: None) -> None:
    p = tmp_path / "cool.yaml"
    p.write_text(CAMPAIGN)
    llem("campaign", "up", str(p), "--executor", "local", "--gpus", "0", cwd=tmp_path)
    d = only_campaign_dir(tmp_path / "results")
    first, second = (json.loads((d / e["result_file"]).read_text()) for e in manifest(d)["entries"])
    steady = {
        "gpu": 0,
        "uuid": "GPU-fake-0",
        "start_temperature_c": 55.0,
        "start_power_w": 200.0,
        "end_temperature_c": 55.0,
        "end_power_w": 200.0,
        "idle_temperature_c": 55.0,
        "idle_power_w": 200.0,
    }
    bands = {"temperature_band_c": 2.0, "power_band_w": 10.0, "max_wait_s": 30.0}
    assert first["cooldown"] == {
        "outcome": "reached",
        "reason": None,
        "waited_s": 0.0,
        **bands,
        "gpus": [{**steady, "idle_recorded_here": True}],  # the campaign's first unit on GPU-fake-0
    }
    assert second["cooldown"]["gpus"] == [{**steady, "idle_recorded_here": False}]  # read from the campaign folder
    stored = json.loads((d / "thermal" / "idle-GPU-fake-0.json").read_text())
    assert (stored["uuid"], stored["temperature_c"], stored["power_w"]) == ("GPU-fake-0", 55.0, 200.0)
    for result in (first, second):
        settle = result["warmup_settle"]
        assert settle["outcome"] == "settled"
        assert 1.0 <= settle["duration_s"] < 2.0  # steady readings: settled once one window is covered
        assert settle["runs"] == result["warmup_runs"] >= 1
        assert (settle["gpus"][0]["temperature_drift_c"], settle["gpus"][0]["power_change"]) == (0.0, 0.0)
