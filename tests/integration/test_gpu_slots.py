"""Units on several GPU slots at once: the real CLI and llem-exp, NVML faked at the pynvml boundary.

The fake gives each GPU its own constant power, so a unit's energy over its window divided by the
window's length is the power of exactly the GPUs it was given: one GPU's figure, never a sum.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
from pathlib import Path

import pytest

from tests.integration.conftest import (
    FAST,
    attempts_that_measured,
    kill_when_running,
    llem,
    manifest,
    only_campaign_dir,
    use_fake_nvml,
    wait_running,
)

pytestmark = pytest.mark.slow

POWER_W = (100.0, 200.0, 400.0)  # GPU 0, 1, 2: every sum of two or more differs from each one


@pytest.fixture
def fake_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process the test starts (host and units) imports the fake ``pynvml`` with 3 GPUs."""
    use_fake_nvml(monkeypatch, POWER_W)


def campaign(tmp_path: Path, warm_s: float, n_cycles: int = 1, baseline: bool = False) -> Path:
    """Units that warm up for about ``warm_s`` before "warmup done": until settled, which on the fake's steady
    temperature and power takes one settle window."""
    p = tmp_path / "slots.yaml"
    warmup = f"{{n_runs: 0, until_settled: true, settle_window_s: {warm_s}}}" if warm_s else "{n_runs: 0}"
    body = FAST.replace("warmup: {n_runs: 0}", f"warmup: {warmup}")
    if baseline:
        body = body.replace("baseline: {enabled: false}", "baseline: {enabled: true, duration_s: 0.3}")
    p.write_text(f"name: slots\n{body}sweep:\n  pytorch.batch_size: [1, 2]\nexecution: {{n_cycles: {n_cycles}}}\n")
    return p


def results_of(d: Path) -> dict[str, dict]:
    m = manifest(d)
    return {e["key"]: json.loads((d / e["result_file"]).read_text()) for e in m["entries"]}


def test_each_unit_measures_only_its_own_gpu(tmp_path: Path, fake_gpus: None) -> None:
    llem(
        "campaign",
        "up",
        str(campaign(tmp_path, 1.0, n_cycles=2, baseline=True)),
        "--executor",
        "local",
        "--gpus",
        "2,0",
        cwd=tmp_path,
    )
    d = only_campaign_dir(tmp_path / "results")
    m = manifest(d)
    assert m["gpus"] == "2,0"
    entries = {e["key"]: e for e in m["entries"]}
    assert [e["status"] for e in entries.values()] == ["completed"] * 4
    slots = {e["key"]: (e["slot"], tuple(e["gpus"])) for e in entries.values()}
    assert set(slots.values()) == {("gpu2", ("GPU-fake-2",)), ("gpu0", ("GPU-fake-0",))}
    for key, result in results_of(d).items():
        slot, (uuid,) = slots[key]
        env, energy = result["environment"], result["energy"]
        assert (env["slot"], env["cuda_visible_devices"]) == (slot, uuid)
        assert [g["uuid"] for g in env["gpus"]] == [uuid]
        index = int(uuid.removeprefix("GPU-fake-"))
        assert list(energy["per_gpu_energy_j"]) == ["0"]  # keyed by the unit's own CUDA ordinal: its slot's GPU
        assert energy["total_energy_j"] / energy["duration_s"] == pytest.approx(POWER_W[index], rel=0.02)
        assert energy["baseline_power_w"] == pytest.approx(POWER_W[index], rel=0.02)  # idle power of its own GPU
    # Both slots worked at the same time: some two units' run intervals overlap.
    spans = sorted((e["started_at"], e["completed_at"]) for e in entries.values())
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans))


def test_a_gpu_the_host_lacks_is_refused_before_anything_starts(tmp_path: Path, fake_gpus: None) -> None:
    proc = llem(
        "campaign", "up", str(campaign(tmp_path, 0.0)), "--executor", "local", "--gpus", "7", cwd=tmp_path, check=False
    )
    assert proc.returncode == 1
    assert "--gpus 7: no GPU 7 on this host (NVML sees: 0=GPU-fake-0, 1=GPU-fake-1, 2=GPU-fake-2)" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_sigkill_while_two_slots_run_then_resume_runs_every_unit_once(tmp_path: Path, fake_gpus: None) -> None:
    from tests.integration.conftest import start_host

    host = start_host(
        "campaign", "up", str(campaign(tmp_path, 4.0, n_cycles=2)), "--executor", "local", "--gpus", "all", cwd=tmp_path
    )
    d = kill_when_running(host, tmp_path / "results", 2)
    before = manifest(d)
    done_before = {e["key"]: e["result_file"] for e in before["entries"] if e["status"] == "completed"}
    mtimes = {k: (d / f).stat().st_mtime_ns for k, f in done_before.items()}
    llem("campaign", "resume", str(d), cwd=tmp_path)
    after = manifest(d)
    assert [e["status"] for e in after["entries"]] == ["completed"] * 4
    assert len(list(d.glob("*_c[0-9].json"))) == 4  # one result per unit
    for key, f in done_before.items():  # finished before the kill: kept, never run again
        assert (d / f).stat().st_mtime_ns == mtimes[key]
    for e in after["entries"]:
        assert attempts_that_measured(d, e["result_file"].removesuffix(".json")) == 1
        assert e["slot"] in ("gpu0", "gpu1", "gpu2")


def test_a_unit_wider_than_the_gpus_given_is_refused_before_anything_starts(tmp_path: Path, fake_gpus: None) -> None:
    p = tmp_path / "tp.yaml"
    p.write_text("name: tp\nmodel: m\nbackend: vllm\nvllm: {tensor_parallel_size: 2}\n")
    proc = llem("campaign", "up", str(p), "--executor", "local", "--gpus", "1", cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert (
        f"{p}: exp001 needs 2 GPUs per unit (tensor_parallel_size) but --gpus gives 1; "
        "list more GPUs or lower tensor_parallel_size"
    ) in proc.stderr
    assert not (tmp_path / "results").exists()


def test_ctrl_c_stops_every_running_unit_and_puts_it_back_to_pending(tmp_path: Path, fake_gpus: None) -> None:
    from tests.integration.conftest import start_host

    host = start_host(
        "campaign", "up", str(campaign(tmp_path, 30.0)), "--executor", "local", "--gpus", "all", cwd=tmp_path
    )
    d = wait_running(tmp_path / "results", 2)
    pids = [int(e["handle"][4:].split("@")[0]) for e in manifest(d)["entries"] if e["status"] == "running"]
    host.send_signal(signal.SIGINT)
    assert host.wait(timeout=60) != 0
    entries = manifest(d)["entries"]
    assert [e["status"] for e in entries] == ["pending"] * 2  # both were running; neither is lost or failed
    assert [e["retry_count"] for e in entries] == [0, 0]
    for pid in pids:  # the units are stopped, not left measuring
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
