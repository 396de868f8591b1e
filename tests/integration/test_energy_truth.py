"""Every energy figure of a real ``llem-exp`` run lies within its stated bound of the truth.

``llem-exp`` runs as a process on the built-in tiny model; ``pynvml`` is the fake (the shim on
PYTHONPATH), whose power is known at every instant on CLOCK_MONOTONIC. The truth of each figure
is computed here from the window edges the result records, as an external meter would: the
window's energy, the idle baseline's mean power over its own edges, above-idle energy, per-token
figures, and the differential prefill/decode split of the two windows' true energies. A bound wider
than a few percent on a counter window fails too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.nvml import FakeNvml, fake_args_from_json
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.slow

SHIM = ROOT / "tests" / "fakes" / "pynvml_shim"

CONFIG = """
model: llem/tiny-llama
backend: pytorch
precision: fp32
n_prompts: 4
max_input_tokens: 32
max_output_tokens: 8
warmup: {n_runs: 1}
baseline: {enabled: true, duration_s: 2.0, sub_windows: 4}
energy: {min_window_s: 2.5, prefill_split: %s}
"""

# (name, fake NVML arguments, prefill split): the counter with 1 s-averaged power beside it, a
# square wave read only through the 1 s average, steps (a 30 % duty square wave) read through the
# instant field, and a constant draw read only through the 1 s average (the review's demo, whose
# idle-to-load step is in tests/unit/energy/test_ground_truth.py on a manual clock).
CASES: list[tuple[str, dict[str, Any], bool]] = [
    (
        "counter_square",
        {
            "profile": "square",
            "low_w": 120.0,
            "high_w": 380.0,
            "period_s": 1.3,
            "counter_update_s": 0.1,
            "power_avg_s": 1.0,
        },
        True,
    ),
    (
        "average_square",
        {
            "profile": "square",
            "low_w": 90.0,
            "high_w": 310.0,
            "period_s": 2.2,
            "counter_supported": False,
            "power_avg_s": 1.0,
        },
        False,
    ),
    (
        "instant_steps",
        {
            "profile": "square",
            "low_w": 70.0,
            "high_w": 300.0,
            "period_s": 0.9,
            "duty": 0.3,
            "counter_supported": False,
            "instant_supported": True,
            "power_avg_s": 1.0,
        },
        False,
    ),
    (
        "average_constant",
        {"profile": "sine", "base_w": [300.0], "amp_w": 0.0, "counter_supported": False, "power_avg_s": 1.0},
        False,
    ),
]


def run_llem_exp(tmp_path: Path, fake_json: dict[str, Any], prefill: bool) -> dict[str, Any]:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG % ("true" if prefill else "false"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SHIM), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "LLEM_FAKE_NVML": json.dumps(fake_json),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llenergymeasure.experiment.entrypoint",
            str(cfg),
            "--out",
            str(tmp_path),
            "--stem",
            "r",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / "r.json").read_text())


def within(name: str, reported: float, truth: float, bound: float, failures: list[str]) -> None:
    if abs(reported - truth) > bound + 1e-9:
        failures.append(
            f"{name}: reported {reported:.6g}, truth {truth:.6g}, off {reported - truth:+.4g} > {bound:.4g}"
        )


@pytest.mark.parametrize(("case", "fake_json", "prefill"), CASES, ids=[c[0] for c in CASES])
def test_every_energy_figure_lies_within_its_bound(
    tmp_path: Path, case: str, fake_json: dict[str, Any], prefill: bool
) -> None:
    result = run_llem_exp(tmp_path, fake_json, prefill)
    fake = FakeNvml(**fake_args_from_json(json.dumps(fake_json)))
    fake.t0 = 0.0  # the shim's origin: CLOCK_MONOTONIC's zero, shared by every process
    e = result["energy"]
    tokens = result["metrics"]["output_tokens"]
    requests = result["metrics"]["n_requests"]
    t0, t1 = e["window_start_monotonic_s"], e["window_end_monotonic_s"]
    assert t1 - t0 == pytest.approx(e["duration_s"], abs=1e-9)
    truth = fake.energy_between_j(0, t0, t1)
    b0, b1 = e["baseline_window_start_monotonic_s"], e["baseline_window_end_monotonic_s"]
    idle_w = fake.energy_between_j(0, b0, b1) / (b1 - b0)
    failures: list[str] = []
    unc = e["total_energy_uncertainty_j"]
    within("total_energy_j", e["total_energy_j"], truth, unc, failures)
    within("per_gpu_energy_j[0]", e["per_gpu_energy_j"]["0"], truth, e["per_gpu_energy_uncertainty_j"]["0"], failures)
    within("sampled_energy_j", e["sampled_energy_j"], truth, e["sampled_energy_uncertainty_j"], failures)
    within(
        "energy_per_output_token_j",
        e["energy_per_output_token_j"],
        truth / tokens,
        e["energy_per_output_token_uncertainty_j"],
        failures,
    )
    within(
        "energy_per_request_j",
        e["energy_per_request_j"],
        truth / requests,
        e["energy_per_request_uncertainty_j"],
        failures,
    )
    within("baseline_power_w", e["baseline_power_w"], idle_w, e["baseline_power_uncertainty_w"], failures)
    adjusted_truth = truth - idle_w * (t1 - t0)
    within("adjusted_energy_j", e["adjusted_energy_j"], adjusted_truth, e["adjusted_energy_uncertainty_j"], failures)
    within(
        "adjusted_energy_per_output_token_j",
        e["adjusted_energy_per_output_token_j"],
        adjusted_truth / tokens,
        e["adjusted_energy_per_output_token_uncertainty_j"],
        failures,
    )
    assert e["uncertainty_budget"]["total_j"] == pytest.approx(unc)
    assert sum(e["uncertainty_budget"]["components_j"].values()) == pytest.approx(unc)
    assert "sensor_accuracy" in e["uncertainty_budget"]["not_included"]
    assert e["adjusted_uncertainty_budget"]["components_j"]["baseline"] == pytest.approx(
        e["baseline_power_uncertainty_w"] * e["duration_s"]
    )
    if prefill:
        # The differential split of the true energies (experiment/phases.py): per input token of each
        # window's prompts, the line through the two windows' (decode tokens, energy); prefill is its
        # intercept times the main window's input tokens, decode J/token its slope. Per input token, not
        # per pass: how many passes (so which prompt sets) fit a window depends on the machine's load,
        # and the sets' lengths differ; a per-pass truth disagreed with the method on a loaded machine.
        m = result["metrics"]
        p0, p1 = e["prefill_window_start_monotonic_s"], e["prefill_window_end_monotonic_s"]
        split_truth = fake.energy_between_j(0, p0, p1)
        n_long, n_short = m["input_tokens"], e["split_window_input_tokens"]
        x_long, x_short = m["decode_tokens"] / n_long, e["split_window_decode_tokens"] / n_short
        e_long, e_short = truth / n_long, split_truth / n_short
        slope = (e_long - e_short) / (x_long - x_short)
        prefill_truth = (e_short - slope * x_short) * n_long
        assert e["phase_split_method"] == "differential"
        within("prefill_energy_j", e["prefill_energy_j"], prefill_truth, e["prefill_energy_uncertainty_j"], failures)
        within(
            "decode_energy_j", e["decode_energy_j"], truth - prefill_truth, e["decode_energy_uncertainty_j"], failures
        )
        within(
            "energy_per_decode_token_j",
            e["energy_per_decode_token_j"],
            slope,
            e["energy_per_decode_token_uncertainty_j"],
            failures,
        )
    assert failures == []
    if e["method"] == "counter":
        # About one counter update's energy at the highest power (the end edge's bracket; the start is
        # pinned to an update within a few polls): under 2 % of a 10 s window of this wave.
        assert unc <= 1.2 * 0.1 * fake_json["high_w"] + 0.01 * 700.0
        assert e["power_source"] == "power_usage_average"
        assert e["uncertainty_method"] == "counter_brackets"
    expected_source = "instant_field" if fake_json.get("instant_supported") else "power_usage_average"
    assert e["power_source"] == expected_source
    assert e["power_average_window_s"] == (0.0 if expected_source == "instant_field" else 1.0)
    assert e["window_end_unix_s"] - e["window_start_unix_s"] == pytest.approx(t1 - t0, abs=0.01)
    assert e["baseline_state"] == "loaded"
    if case == "average_constant":  # the shift removes the averaging's lag: it read -3.8 % before
        assert abs(e["total_energy_j"] - truth) <= 0.001 * truth
