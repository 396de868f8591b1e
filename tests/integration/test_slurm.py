"""``--executor slurm`` against a real one-node Slurm cluster (scripts/ensure-slurm.sh), tiny model on CPU."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from llenergymeasure.config.campaign import SlurmConfig
from llenergymeasure.dispatch.slurm import SlurmExecutor
from tests.integration.conftest import (
    FAST,
    attempts_that_measured,
    kill_when_running,
    llem,
    manifest,
    only_campaign_dir,
    start_host,
    use_fake_nvml,
)

pytestmark = [pytest.mark.xdist_group("slurm"), pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process (host and jobs, sbatch --export=ALL) imports the fake ``pynvml``: one steady GPU."""
    use_fake_nvml(monkeypatch, [150.0])


def campaign(tmp_path: Path, warm_s: float) -> Path:
    """Units that warm up for about ``warm_s`` before "warmup done" (until settled on the steady fake GPU)."""
    p = tmp_path / "slurm.yaml"
    warmup = f"{{n_runs: 0, until_settled: true, settle_window_s: {warm_s}}}" if warm_s else "{n_runs: 0}"
    body = FAST.replace("warmup: {n_runs: 0}", f"warmup: {warmup}")
    p.write_text(
        f"name: sl\n{body}sweep:\n  pytorch.batch_size: [1, 2]\n"
        "execution: {n_cycles: 2, warm_start: false,"
        " slurm: {poll_s: 0.2, gpus_per_unit: 0, max_jobs: 2, share_nodes: true}}\n"
    )
    return p


def test_a_campaign_runs_as_slurm_jobs_with_job_ids_in_the_manifest(tmp_path: Path) -> None:
    llem(
        "campaign", "up", str(campaign(tmp_path, 0.0)), "--executor", "slurm",
        "--slurm-partition", "debug", "--slurm-arg=--comment=llem test; $(no shell)", cwd=tmp_path,
    )  # fmt: skip
    d = only_campaign_dir(tmp_path / "results")
    m = manifest(d)
    assert m["executor"] == "slurm"
    assert [e["status"] for e in m["entries"]] == ["completed"] * 4
    ids = [e["job_id"] for e in m["entries"]]
    assert all(i and i.isdigit() for i in ids)
    assert len(set(ids)) == 4
    states = SlurmExecutor(SlurmConfig())
    assert {states.state(i).state for i in ids} == {"COMPLETED"}  # type: ignore[union-attr]
    shown = subprocess.run(["scontrol", "show", "job", ids[0]], capture_output=True, text=True, check=True).stdout
    assert "Partition=debug" in shown
    assert "Comment=llem test; $(no shell)" in shown  # passed as one argument, never through a shell
    status = llem("campaign", "status", str(d), cwd=tmp_path, env={"COLUMNS": "400"}).stdout
    assert f"{ids[0]} (COMPLETED)" in status


def test_sigkill_host_while_jobs_run_then_resume_adopts_live_jobs_and_retries_a_cancelled_one(
    tmp_path: Path, fake_gpu: None
) -> None:
    host = start_host("campaign", "up", str(campaign(tmp_path, 6.0)), "--executor", "slurm", cwd=tmp_path)
    d = kill_when_running(host, tmp_path / "results", 2, field="job_id")
    before = {e["key"]: e for e in manifest(d)["entries"]}
    live = {k: e["job_id"] for k, e in before.items() if e["status"] == "running"}
    assert len(live) == 2
    # The jobs outlive the host: Slurm still runs them. One is then cancelled behind llem's back.
    queue = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout.split()
    assert set(live.values()) <= set(queue)
    cancelled_key, adopted_key = sorted(live)
    subprocess.run(["scancel", live[cancelled_key]], check=True)
    _wait_gone(live[cancelled_key])
    llem("campaign", "resume", str(d), cwd=tmp_path)
    after = {e["key"]: e for e in manifest(d)["entries"]}
    assert [e["status"] for e in after.values()] == ["completed"] * 4
    assert (after[adopted_key]["job_id"], after[adopted_key]["retry_count"]) == (live[adopted_key], 0)  # waited on
    assert after[cancelled_key]["job_id"] != live[cancelled_key]  # a failed attempt, retried as a new job
    assert after[cancelled_key]["retry_count"] == 1
    assert len({e["job_id"] for e in after.values()}) == 4
    assert len(list(d.glob("*_c[0-9].json"))) == 4  # one result per unit
    for e in after.values():
        assert attempts_that_measured(d, e["result_file"].removesuffix(".json")) == 1


def _wait_gone(jid: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        queue = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout.split()
        if jid not in queue:
            return
        time.sleep(0.2)
    raise AssertionError(f"job {jid} still queued after scancel")


def test_gpu_settings_are_set_and_put_back_by_each_job_on_its_node_even_when_the_host_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gpu.* under Slurm: the job sets them on its node around llem-exp and puts them back on exit, host or not."""
    from tests.integration.test_gpu_settings import ORIGINAL, RESTORE, calls, driver, fake_env

    for key, value in fake_env(tmp_path).items():  # sbatch --export=ALL: the jobs share the fake driver state
        monkeypatch.setenv(key, value)
    p = tmp_path / "caps.yaml"
    body = FAST.replace("warmup: {n_runs: 0}", "warmup: {n_runs: 0, until_settled: true, settle_window_s: 4.0}")
    p.write_text(
        f"name: caps\n{body}energy: {{min_window_s: 0.2, prefill_split: false}}\n"
        "sweep:\n  gpu.power_limit_w: [300, 400]\n"
        "execution: {warm_start: false, slurm: {poll_s: 0.2, gpus_per_unit: 0, max_jobs: 1, share_nodes: true}}\n"
    )
    host = start_host("campaign", "up", str(p), "--executor", "slurm", cwd=tmp_path)
    d = kill_when_running(host, tmp_path / "results", 1, field="job_id")  # the first job runs on, unwatched
    llem("campaign", "resume", str(d), cwd=tmp_path)
    entries = manifest(d)["entries"]
    assert [e["status"] for e in entries] == ["completed", "completed"]
    assert driver(tmp_path) == {"power_limit_mw": ORIGINAL, "sm": None, "mem": None}
    set_calls = [c for c in calls(tmp_path) if c != ("nvmlDeviceSetPowerManagementLimit", [ORIGINAL])]
    assert set_calls == [
        ("nvmlDeviceSetPowerManagementLimit", [300_000]),
        *RESTORE[1:],
        ("nvmlDeviceSetPowerManagementLimit", [400_000]),
        *RESTORE[1:],
    ]
    for e in entries:  # each job ran under its own limit, read where it ran
        import json

        result = json.loads((d / e["result_file"]).read_text())
        asked = result["config"]["gpu"]["power_limit_w"]
        assert result["environment"]["gpus"][0]["enforced_power_limit_w"] == asked
        assert result["energy"]["notes"] == [n for n in result["energy"]["notes"] if "gpu.power_limit_w" not in n]
