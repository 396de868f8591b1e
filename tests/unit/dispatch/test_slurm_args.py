"""The sbatch command line and Slurm's answers, as plain values (the real cluster is in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llenergymeasure.config.campaign import SlurmConfig
from llenergymeasure.dispatch.base import UnitJob
from llenergymeasure.dispatch.slurm import (
    FORGOTTEN,
    UNKNOWN,
    JobState,
    job_id,
    job_name,
    parse_job_state,
    parse_sacct,
    sbatch_argv,
    unit_of,
)

JOB = UnitJob(
    key="exp001_c1", backend="pytorch", service="pytorch", campaign_dir=Path("/shared/c"),
    config_file=Path("/shared/c/configs/exp001.yaml"), stem="s", config_hash="0" * 16, cycle=1,
    timeout_s=3601, idle_timeout_s=60, log_file=Path("/shared/c/logs/s.log"), run_id="r7",
)  # fmt: skip


def test_sbatch_argv_is_a_list_held_until_recorded_with_every_option() -> None:
    cfg = SlurmConfig(
        partition="gpu", account="proj", exclusive=True, extra_args=["--qos", "high"], container=["apptainer", "exec"]
    )
    argv = sbatch_argv(cfg, JOB, 2, Path("/shared/c/slurm-unit.sh"), ["apptainer", "exec", "llem-exp", "cfg; rm -rf /"])
    assert argv == [
        "sbatch", "--parsable", "--hold", "--no-requeue", "--job-name=llem.r7.exp001_c1",
        "--output=/shared/c/logs/s.log", "--open-mode=append", "--chdir=/shared/c", "--time=61", "--ntasks=1",
        "--export=ALL",
        "--partition=gpu", "--account=proj", "--gres=gpu:2", "--exclusive", "--qos", "high",
        "/shared/c/slurm-unit.sh", "apptainer", "exec", "llem-exp", "cfg; rm -rf /",
    ]  # fmt: skip


def test_gpus_per_unit_overrides_the_slot_size_and_zero_asks_for_none() -> None:
    argv = sbatch_argv(SlurmConfig(gpus_per_unit=0, time_limit="00:10:00"), JOB, 4, Path("s.sh"), ["x"])
    assert not any(a.startswith("--gres") for a in argv)
    assert "--time=00:10:00" in argv


def test_a_unit_gets_its_node_alone_unless_sharing_is_allowed() -> None:
    alone = sbatch_argv(SlurmConfig(gpus_per_unit=0), JOB, 1, Path("s.sh"), ["x"])
    shared = sbatch_argv(SlurmConfig(gpus_per_unit=0, share_nodes=True), JOB, 1, Path("s.sh"), ["x"])
    assert ("--exclusive" in alone, "--exclusive" in shared) == (True, False)


def test_job_names_carry_the_run_and_the_unit() -> None:
    assert job_name(JOB) == "llem.r7.exp001_c1"
    assert (unit_of("llem.r7.exp001_c1"), unit_of("llem.r7"), unit_of("other.r7.x")) == ("exp001_c1", None, None)


@pytest.mark.parametrize(
    "state", ["PENDING", "RUNNING", "STOPPED", "REQUEUE_HOLD", "SPECIAL_EXIT", "SIGNALING", "STAGE_OUT", UNKNOWN]
)
def test_states_slurm_may_still_run_a_job_from_are_not_ended(state: str) -> None:
    assert JobState(state).live


@pytest.mark.parametrize(
    "state", ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", FORGOTTEN]
)
def test_ended_states(state: str) -> None:
    assert not JobState(state).live


def test_slurm_answers_are_parsed() -> None:
    line = "JobId=42 JobName=llem-x UserId=root(0) JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 RunTime=00:00:04"
    assert parse_job_state(line) == JobState("FAILED", 3, reason="NonZeroExitCode")
    assert parse_job_state("slurm_load_jobs error: Invalid job id specified") is None
    assert parse_sacct("CANCELLED by 0|0:15|\n") == JobState("CANCELLED", 0, None)
    assert parse_sacct("COMPLETED|0:0|12345\n") == JobState("COMPLETED", 0, 12345.0)
    assert (job_id("slurm:42"), job_id("pid:42"), job_id(None)) == ("42", None, None)
