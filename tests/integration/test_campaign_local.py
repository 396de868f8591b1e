"""Whole campaigns through the real CLI with the local executor and the real tiny model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    FAST,
    attempts_that_measured,
    kill_when_unit_runs,
    llem,
    manifest,
    only_campaign_dir,
    start_host,
)

pytestmark = pytest.mark.slow


def test_up_runs_every_unit_and_writes_results(tmp_path: Path, fast_campaign: Path) -> None:
    proc = llem("campaign", "up", str(fast_campaign), "--executor", "local", "--results-dir", "res", cwd=tmp_path)
    d = only_campaign_dir(tmp_path / "res")
    assert d.name.startswith("fast_")
    m = manifest(d)
    assert m["counters"] == {"total": 4, "completed": 4, "failed": 0, "pending": 0, "running": 0, "skipped": 0}
    assert [e["key"] for e in m["entries"]] == ["exp001_c1", "exp001_c2", "exp002_c1", "exp002_c2"]
    for e in m["entries"]:
        result = json.loads((d / e["result_file"]).read_text())
        assert (result["config_hash"], result["cycle"]) == (e["config_hash"], e["cycle"])
        assert e["config_summary"] == {"pytorch.batch_size": 1 if e["exp_id"] == "exp001" else 2}
        assert result["environment"]["launch"] == "warm-start"  # the default
    assert "llem-forkserver ready" in (d / "logs" / "forkserver-pytorch.log").read_text()
    assert "4 units: 4 completed" in proc.stdout
    # An offline unit config leaves scenario out, so images older than server mode still read it.
    assert "scenario" not in (d / "configs" / "exp001.yaml").read_text()
    root = Path("res") / d.name
    assert proc.stdout.splitlines()[-4:] == [
        "next:",
        f"  llem campaign status {root}",
        f"  llem results {root}",
        f"  llem report {root}",
    ]

    status = llem("campaign", "status", "--results-dir", "res", cwd=tmp_path)
    assert "4 units: 4 completed" in status.stdout


def test_failed_unit_does_not_stop_the_campaign_and_resume_retries_it(tmp_path: Path) -> None:
    camp = tmp_path / "c.yaml"
    camp.write_text(f"""
name: mixed
backend: pytorch
precision: fp32
n_prompts: 1
max_output_tokens: 2
warmup: {{n_runs: 0}}
experiments:
  - {{model: {tmp_path / "missing-model"}}}
  - {{model: llem/tiny-llama}}
execution: {{max_retries: 1}}
""")
    # Preflight would refuse the missing model before anything runs; past it, the unit fails alone.
    args = ("campaign", "up", str(camp), "--executor", "local", "--results-dir", "res", "--no-preflight")
    proc = llem(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 1
    d = only_campaign_dir(tmp_path / "res")
    first, second = manifest(d)["entries"]
    assert first["status"] == "failed"
    assert first["error_type"]
    assert first["error_message"]
    assert second["status"] == "completed"

    again = llem("campaign", "resume", str(d), cwd=tmp_path, check=False)
    first, second = manifest(d)["entries"]
    assert (first["status"], first["retry_count"]) == ("failed", 1)
    assert again.returncode == 1
    assert f"  llem campaign resume {d}   # retries the 1 failed" in again.stdout.splitlines()
    # The retry budget is spent: a further resume leaves it failed without running it.
    llem("campaign", "resume", str(d), cwd=tmp_path, check=False)
    assert manifest(d)["entries"][0]["retry_count"] == 1


def dies_within(pid: int, timeout_s: float) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if b"zombie" in Path(f"/proc/{pid}/status").read_bytes().lower():
                return True
        except FileNotFoundError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_sigkill_mid_campaign_then_resume_completes_each_unit_exactly_once(tmp_path: Path, fast_campaign: Path) -> None:
    host = start_host("campaign", "up", str(fast_campaign), "--executor", "local", "--results-dir", "res", cwd=tmp_path)
    d = kill_when_unit_runs(host, tmp_path / "res", 1)
    before = manifest(d)
    assert before["entries"][0]["status"] == "completed"
    assert before["entries"][1]["status"] == "running"
    child = int(before["entries"][1].get("handle", "pid:0").removeprefix("pid:").partition("@")[0])
    assert dies_within(child, 30.0)  # with its host (PDEATHSIG); a loaded machine may take a moment

    proc = llem("campaign", "resume", "--results-dir", "res", cwd=tmp_path)
    assert "4 units: 4 completed" in proc.stdout
    m = manifest(d)
    assert [e["status"] for e in m["entries"]] == ["completed"] * 4
    results = sorted(p.name for p in d.glob("*.json") if p.name.endswith(tuple(f"_c{c}.json" for c in (1, 2))))
    assert results == sorted(e["result_file"] for e in m["entries"])
    for e in m["entries"]:
        stem = e["result_file"].removesuffix(".json")
        assert attempts_that_measured(d, stem) <= (2 if e["key"] == before["entries"][1]["key"] else 1)
        assert json.loads((d / e["result_file"]).read_text())["cycle"] == e["cycle"]


def test_result_written_before_crash_is_adopted_not_rerun(tmp_path: Path, fast_campaign: Path) -> None:
    llem("campaign", "up", str(fast_campaign), "--executor", "local", "--results-dir", "res", cwd=tmp_path)
    d = only_campaign_dir(tmp_path / "res")
    m = manifest(d)
    # Simulate a host killed after the child wrote its result but before the manifest said so.
    m["entries"][3].update(status="running", handle="pid:999999999", completed_at=None)
    (d / "manifest.json").write_text(json.dumps(m))
    stem = m["entries"][3]["result_file"].removesuffix(".json")
    proc = llem("campaign", "resume", str(d), cwd=tmp_path)
    assert "finished before the crash; result kept" in proc.stderr
    assert manifest(d)["entries"][3]["status"] == "completed"
    assert attempts_that_measured(d, stem) == 1


def test_resume_refuses_a_changed_design_unless_forced(tmp_path: Path, fast_campaign: Path) -> None:
    llem("campaign", "up", str(fast_campaign), "--executor", "local", "--results-dir", "res", cwd=tmp_path)
    d = only_campaign_dir(tmp_path / "res")
    fast_campaign.write_text(fast_campaign.read_text().replace("[1, 2]", "[1, 3]"))
    proc = llem("campaign", "resume", str(d), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: {fast_campaign.resolve()}: design changed since this campaign started")
    assert llem("campaign", "resume", str(d), "--force", cwd=tmp_path).returncode == 0


def test_without_warm_start_each_unit_is_a_fresh_interpreter(tmp_path: Path) -> None:
    camp = tmp_path / "cold.yaml"
    camp.write_text("name: cold\n" + FAST + "execution: {n_cycles: 2, warm_start: false}\n")
    llem("campaign", "up", str(camp), "--executor", "local", "--results-dir", "res", cwd=tmp_path)
    d = only_campaign_dir(tmp_path / "res")
    m = manifest(d)
    assert [e["status"] for e in m["entries"]] == ["completed"] * 2
    for e in m["entries"]:
        assert json.loads((d / e["result_file"]).read_text())["environment"]["launch"] == "fresh"
    assert not list((d / "logs").glob("forkserver-*.log"))
