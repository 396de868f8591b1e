"""Slurm faults injected through stand-ins that wrap the real commands (tests/fakes/slurm_faults.py).

The real one-node cluster runs every job; only the answers the host gets are disturbed: controller
errors and timeouts, a host SIGKILLed between recording a job and releasing it, and one killed
after ``sbatch`` but before recording. Afterwards every unit has exactly one run and one result.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from llenergymeasure.config.campaign import SlurmConfig
from llenergymeasure.dispatch.base import RecordError, UnitJob
from llenergymeasure.dispatch.slurm import SlurmExecutor
from llenergymeasure.errors import ExecutorError
from tests.fakes.slurm_faults import calls, fired, install, path_with
from tests.integration.conftest import FAST, attempts_that_measured, llem, manifest, only_campaign_dir, start_host

pytestmark = [pytest.mark.xdist_group("slurm"), pytest.mark.slurm, pytest.mark.slow]

SLURM = "{poll_s: 0.2, gpus_per_unit: 0, max_jobs: 2, share_nodes: true, command_timeout_s: 2, patience_s: 120}"


def campaign(tmp_path: Path, energy: str = "") -> Path:
    """One config, two cycles: two units, submitted at once (``energy``: an ``energy:`` line, e.g. a longer window)."""
    p = tmp_path / "faults.yaml"
    p.write_text(f"name: sf\n{FAST}{energy}execution: {{n_cycles: 2, warm_start: false, slurm: {SLURM}}}\n")
    return p


def unit_job(tmp_path: Path, run_id: str = "r1") -> UnitJob:
    """One unit in folder ``tmp_path``, for the executor alone."""
    (tmp_path / "logs").mkdir(exist_ok=True)
    return UnitJob(
        key="e_c1", backend="pytorch", service="pytorch", campaign_dir=tmp_path, config_file=tmp_path / "e.yaml",
        stem="e_c1", config_hash="0" * 16, cycle=1, timeout_s=60, idle_timeout_s=60,
        log_file=tmp_path / "logs" / "e_c1.log", run_id=run_id,
    )  # fmt: skip


def job_fields(jid: str) -> dict[str, str]:
    shown = subprocess.run(["scontrol", "show", "job", "-o", jid], capture_output=True, text=True, check=True)
    return dict(f.split("=", 1) for f in shown.stdout.split() if "=" in f)


def job_state(jid: str) -> str:
    return job_fields(jid)["JobState"]


def campaign_jobs(d: Path) -> dict[str, str]:
    """Job id -> name of every queued job running in campaign folder ``d``."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%j|%Z"], capture_output=True, text=True, check=True).stdout
    return {i: n for i, n, w in (line.split("|") for line in out.splitlines()) if w == str(d.resolve())}


def assert_exactly_once(d: Path) -> dict[str, dict]:
    """Every unit completed, with its own job, one result file and one measured attempt."""
    entries = {e["key"]: e for e in manifest(d)["entries"]}
    assert [e["status"] for e in entries.values()] == ["completed"] * 2
    assert len({e["job_id"] for e in entries.values()}) == 2
    assert sorted(p.name for p in d.glob("*_c[0-9].json")) == sorted(e["result_file"] for e in entries.values())
    for e in entries.values():
        assert attempts_that_measured(d, e["result_file"].removesuffix(".json")) == 1
        assert job_state(e["job_id"]) == "COMPLETED"
    return entries


def test_controller_errors_and_timeouts_are_asked_again_never_a_failed_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 3: failing ``scontrol show job`` and ``sacct`` (no accounting) and a timeout mean "ask again"."""
    bin_dir = install(
        tmp_path / "bin", [("scontrol", "show", "fail", 6), ("sacct", "*", "fail", 6), ("scontrol", "show", "hang", 1)]
    )
    monkeypatch.setenv("PATH", path_with(bin_dir))
    llem("campaign", "up", str(campaign(tmp_path)), "--executor", "slurm", cwd=tmp_path)
    entries = assert_exactly_once(only_campaign_dir(tmp_path / "results"))
    assert [e["retry_count"] for e in entries.values()] == [0, 0]
    assert fired(bin_dir) == {"0": 6, "1": 6, "2": 1}


def test_a_host_killed_between_recording_and_release_is_resumed_by_releasing_the_adopted_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 1 (the adopted held job is released) and item 4 (another executor is refused while it is queued).

    The resume's first ``scontrol show job`` answers fail, so the adopted job's first poll (and,
    before, the one question asked at adoption) is UNKNOWN: a later poll that sees it held by the
    user releases it. Asked only once at adoption, it stayed held and ``resume`` waited for ever.
    """
    bin_dir = install(tmp_path / "bin", [("scontrol", "release", "kill-host", 1)])
    monkeypatch.setenv("PATH", path_with(bin_dir))
    host = start_host("campaign", "up", str(campaign(tmp_path)), "--executor", "slurm", cwd=tmp_path)
    assert host.wait(timeout=120) == -9
    d = only_campaign_dir(tmp_path / "results")
    held = [e for e in manifest(d)["entries"] if e["status"] == "running" and e["job_id"]]
    assert held
    assert all(job_state(e["job_id"]) == "PENDING" for e in held)
    # The job whose release killed the host is still held (the other one may have been released first).
    by_user = {e["job_id"] for e in held if job_fields(e["job_id"])["Reason"] == "JobHeldUser"}
    assert by_user
    other = llem("campaign", "resume", str(d), "--executor", "local", cwd=tmp_path, check=False)
    assert other.returncode == 1
    assert f"error: {d}: {len(held)} unit(s) still run under --executor slurm (" in other.stderr
    assert "resume with --executor slurm to wait for them, or stop them first" in other.stderr
    flaky = install(tmp_path / "bin2", [("scontrol", "show", "fail", 4)])
    monkeypatch.setenv("PATH", path_with(flaky))
    llem("campaign", "resume", str(d), cwd=tmp_path, timeout=300)
    entries = assert_exactly_once(d)
    for e in held:  # the adopted job ran the unit; nothing was submitted twice
        assert (entries[e["key"]]["job_id"], entries[e["key"]]["retry_count"]) == (e["job_id"], 0)
    assert fired(flaky) == {"0": 4}
    # Every job held by the user was released, and of the jobs the dead host left only held ones; one
    # whose hold Slurm had not yet reported when it was looked at above (Reason still being set) may be
    # among them. A unit the host died before submitting was submitted (held) and released by resume.
    released = {c.split()[2] for c in calls(flaky) if c.startswith("scontrol release ")}
    held_keys = {e["key"] for e in held}
    submitted_by_resume = {e["job_id"] for k, e in entries.items() if k not in held_keys}
    assert submitted_by_resume <= released
    assert by_user <= released - submitted_by_resume <= {e["job_id"] for e in held}


def test_a_host_killed_after_sbatch_before_recording_leaves_a_stray_that_resume_cancels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 5: the held job nobody recorded is found by its name and folder, and cancelled."""
    bin_dir = install(tmp_path / "bin", [("sbatch", "*", "kill-host-after", 1)])
    monkeypatch.setenv("PATH", path_with(bin_dir))
    host = start_host("campaign", "up", str(campaign(tmp_path)), "--executor", "slurm", cwd=tmp_path)
    assert host.wait(timeout=120) == -9
    d = only_campaign_dir(tmp_path / "results")
    recorded = {e["job_id"] for e in manifest(d)["entries"]}
    # The other unit's sbatch may have returned too before the host died: one or two strays.
    strays = sorted(i for i in campaign_jobs(d) if i not in recorded)
    assert strays
    assert all(campaign_jobs(d)[i].startswith("llem.") for i in strays)
    assert [job_state(i) for i in strays] == ["PENDING"] * len(strays)
    proc = llem("campaign", "resume", str(d), cwd=tmp_path, timeout=300)
    (line,) = [x for x in proc.stderr.splitlines() if "submitted but never recorded" in x]
    head, _, listed = line.partition("submitted but never recorded: ")
    assert head.endswith(f"cancelled {len(strays)} job(s) ")
    assert sorted(listed.split(", ")) == [f"slurm:{i}" for i in strays]
    assert [job_state(i) for i in strays] == ["CANCELLED"] * len(strays)
    assert_exactly_once(d)
    assert {c.split()[1] for c in calls(bin_dir) if c.startswith("scancel ")} == set(strays)


def test_a_torn_manifest_of_a_slurm_campaign_is_rebuilt_for_slurm_and_its_running_job_adopted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 11 on Slurm: the rebuilt manifest keeps the executor `up` recorded in the snapshot.

    The host dies right after releasing a job, and the manifest is then emptied (a power cut). The
    rebuilt manifest has no handles; `resume` (no --executor) runs under Slurm again and adopts
    the released job by its name instead of submitting the unit twice; `--executor local` is
    refused while the campaign's jobs are queued. Before, the snapshot did not record the executor
    and the rebuilt manifest said local: both resumes ran the units locally beside the job.
    The 20 s window keeps the released job running until `resume` looks for it.
    """
    bin_dir = install(tmp_path / "bin", [("scontrol", "release", "kill-host-after", 1)])
    monkeypatch.setenv("PATH", path_with(bin_dir))
    camp = campaign(tmp_path, "energy: {min_window_s: 20, prefill_split: false}\n")
    host = start_host("campaign", "up", str(camp), "--executor", "slurm", cwd=tmp_path)
    assert host.wait(timeout=120) == -9
    d = only_campaign_dir(tmp_path / "results")
    # The host dies after the first release returns; a second submit thread may have released its
    # job meanwhile: every released job must be adopted, none submitted again.
    released = [c.split()[2] for c in calls(bin_dir) if c.startswith("scontrol release ")]
    assert 1 <= len(released) <= 2
    (d / "manifest.json").write_bytes(b"")
    queued = campaign_jobs(d)
    assert [j in queued for j in released] == [True] * len(released)
    other = llem("campaign", "resume", str(d), "--executor", "local", cwd=tmp_path, check=False)
    assert other.returncode == 1
    assert f"error: {d}: {len(queued)} unit(s) still run under --executor slurm (" in other.stderr
    assert manifest(d)["executor"] == "slurm"  # rebuilt (written) before it was refused
    (d / "manifest.json").write_bytes(b"")
    proc = llem("campaign", "resume", str(d), cwd=tmp_path, timeout=300)
    for jid in released:
        assert f"running as slurm:{jid}, never recorded; waiting for it" in proc.stderr
    entries = assert_exactly_once(d)
    assert set(released) <= {e["job_id"] for e in entries.values()}
    assert manifest(d)["executor"] == "slurm"


def test_a_job_whose_id_cannot_be_recorded_is_cancelled_and_never_runs(tmp_path: Path) -> None:
    """Item 2: a manifest write that fails before release cancels the job and fails the unit."""
    job = unit_job(tmp_path)
    seen: list[str] = []

    def refused(handle: str) -> None:
        seen.append(handle)
        raise RecordError("manifest.json: No space left on device")

    cfg = SlurmConfig(gpus_per_unit=0, share_nodes=True, poll_s=0.2)
    outcome = SlurmExecutor(cfg).run(job, refused)
    (jid,) = (h.removeprefix("slurm:") for h in seen)
    assert (outcome.exit_code, outcome.stopped) == (None, "launch")
    assert outcome.message == (
        f"Slurm job {jid} cancelled before it ran: its id could not be recorded "
        "(manifest.json: No space left on device)"
    )
    assert job_state(jid) == "CANCELLED"
    assert not job.log_file.exists()  # it never ran


def test_a_gpu_request_on_a_partition_without_gpus_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """Item 7: sinfo's GRES is asked; the fix is named; nothing is created or submitted."""
    p = tmp_path / "gpu.yaml"
    p.write_text(f"name: g\n{FAST}execution: {{slurm: {{poll_s: 0.2}}}}\n")
    proc = llem("campaign", "up", str(p), "--executor", "slurm", cwd=tmp_path, check=False, env={"COLUMNS": "400"})
    assert proc.returncode == 1
    partition = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, check=True).stdout.split()
    default = next(x.rstrip("*") for x in partition if x.endswith("*"))
    assert (
        f"error: Slurm partition {default} has no GPUs (GRES (null)) but each unit asks for 1; set "
        "`execution.slurm.gpus_per_unit: 0` in the campaign file to run without GPUs, or choose a GPU partition "
        "with --slurm-partition"
    ) in proc.stderr.splitlines()
    assert not (tmp_path / "results").exists()
    assert os.environ.get("PATH")  # the real commands answered


def test_an_sbatch_that_queues_its_job_then_times_out_has_that_job_cancelled_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held job a timed-out ``sbatch`` queued is found by its name and cancelled, not left for `resume`."""
    bin_dir = install(tmp_path / "bin", [("sbatch", "*", "hang-after", 1)])
    monkeypatch.setenv("PATH", path_with(bin_dir))
    run_id = f"hang{os.getpid()}"
    seen: list[str] = []
    cfg = SlurmConfig(gpus_per_unit=0, share_nodes=True, poll_s=0.2, command_timeout_s=2)
    with pytest.raises(ExecutorError) as exc:
        SlurmExecutor(cfg).run(unit_job(tmp_path, run_id), seen.append)
    (jid,) = [c.split()[1] for c in calls(bin_dir) if c.startswith("scancel ")]
    name = f"llem.{run_id}.e_c1"
    assert str(exc.value) == (
        f"sbatch gave no answer for e_c1 within 2 s; cancelled job {jid} it queued (found by its name {name})"
    )
    assert f"squeue --me --name {name} -h -o %i|%Z -> None" in calls(bin_dir)
    assert seen == []
    assert job_state(jid) == "CANCELLED"
