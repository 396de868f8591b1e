"""Recovery of scheduler jobs and host deaths; the execution settings `resume` runs with (issue 22: 3, 5, 6, 7)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.api import resume_execution
from llenergymeasure.campaign.events import Event
from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.loader import load_campaign
from llenergymeasure.campaign.plan import build_plan
from llenergymeasure.campaign.prepare import prepare_campaign
from llenergymeasure.campaign.recover import recover
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.dispatch.base import Executor, JobOutcome, Stray, UnitJob
from llenergymeasure.errors import CampaignError
from tests.unit.campaign.test_reconcile import VALID, campaign, write


class Jobs(Executor):
    """Slurm's answers at the boundary: which jobs still run, and which of this campaign nobody recorded."""

    name = "slurm"

    def __init__(self, live: set[str], strays: Sequence[Stray] = ()) -> None:
        self.alive = live
        self.queued = list(strays)
        self.cancelled: list[str] = []

    def run(self, job: UnitJob, on_started: object) -> JobOutcome:
        raise AssertionError("recover never runs units")

    def live(self, handles: Sequence[str]) -> set[str]:
        return {h for h in handles if h in self.alive}

    def job_id(self, handle: str) -> str | None:
        return handle.removeprefix("slurm:") if handle.startswith("slurm:") else None

    def strays(self, campaign_dir: Path, recorded: set[str]) -> list[Stray]:
        return [s for s in self.queued if s.handle.removeprefix("slurm:") not in recorded]

    def cancel(self, handles: Sequence[str]) -> None:
        self.cancelled += handles


def test_a_failed_unit_whose_job_still_runs_is_followed_not_retried(tmp_path: Path) -> None:
    """Item 3: a job the host stopped waiting for (Slurm silent too long) is asked about before any retry."""
    layout, store = campaign(tmp_path, ["running", "running"])
    for key, jid in (("e0_c1", "41"), ("e1_c1", "42")):
        e = store.entry(key).model_copy(update={"handle": f"slurm:{jid}", "job_id": jid})
        store.put(mf.fail(e, "ExitCode", "Slurm gave no answer").model_copy(update={"handle": f"slurm:{jid}"}))
    events: list[Event] = []
    recover(layout, store, Jobs(live={"slurm:41"}), ExecutionConfig(max_retries=2), "run2", events.append)
    still, ended = store.entry("e0_c1"), store.entry("e1_c1")
    assert (still.status, still.handle, still.job_id, still.retry_count) == ("running", "slurm:41", "41", 0)
    assert (ended.status, ended.handle, ended.retry_count) == ("pending", None, 1)
    assert [(e.kind, e.message) for e in events] == [("following", "still running as slurm:41; waiting for it")]


def test_a_unit_running_when_its_host_died_counts_a_retry(tmp_path: Path) -> None:
    """Item 6: a unit that kills its host is not re-run for ever; each host death is an attempt."""
    layout, store = campaign(tmp_path, ["running"])
    execution = ExecutionConfig(max_retries=1)
    recover(layout, store, Jobs(live=set()), execution, "run2")
    e = store.entry("e0_c1")
    assert (e.status, e.retry_count, e.error_type) == ("pending", 1, "HostDied")
    assert e.error_message == "the host died while it ran (a crash, a kill, or the unit itself)"
    store.put(mf.start(e).model_copy(update={"handle": "pid:999999999"}))
    recover(layout, store, Jobs(live=set()), execution, "run3")
    assert (store.entry("e0_c1").status, store.entry("e0_c1").retry_count) == ("failed", 1)  # out of retries


def test_strays_are_cancelled_when_held_and_adopted_when_released(tmp_path: Path) -> None:
    """Item 5: jobs submitted but never recorded; a released one runs its unit, so the unit waits on it."""
    layout, store = campaign(tmp_path, ["pending", "pending", "completed"])
    write(layout, "e2_c1", VALID)
    strays = [Stray("e0_c1", "slurm:7", held=True), Stray("e1_c1", "slurm:8", held=False)]
    strays.append(Stray("e2_c1", "slurm:9", held=False))  # its unit is done: cancelled too
    executor = Jobs(live=set(), strays=strays)
    events: list[Event] = []
    recover(layout, store, executor, ExecutionConfig(), "run2", events.append)
    assert executor.cancelled == ["slurm:7", "slurm:9"]
    assert [e.status for e in store.manifest.entries] == ["pending", "running", "completed"]
    assert (store.entry("e1_c1").handle, store.entry("e1_c1").job_id) == ("slurm:8", "8")
    assert [(e.kind, e.message) for e in events] == [
        ("following", "running as slurm:8, never recorded; waiting for it"),
        ("strays", "cancelled 2 job(s) submitted but never recorded: slurm:7, slurm:9"),
    ]


CAMPAIGN = """
name: ex
model: llem/tiny-llama
backend: pytorch
n_prompts: 2
sweep:
  max_output_tokens: [4, 8]
execution:
  n_cycles: 2
  unit_timeout_s: 600
  slurm: {partition: debug}
"""


def made(tmp_path: Path) -> tuple[Path, CampaignLayout, ManifestStore]:
    src = tmp_path / "c.yaml"
    src.write_text(CAMPAIGN)
    layout, store, lock = prepare_campaign(build_plan(load_campaign(src).config), tmp_path / "r", src, "slurm")
    lock.release()
    return src, layout, store


def test_resume_takes_edited_execution_settings_and_names_each(tmp_path: Path) -> None:
    """Item 7: `execution.slurm.gpus_per_unit: 0` added after `up` is what `resume` submits with."""
    src, layout, store = made(tmp_path)
    src.write_text(CAMPAIGN.replace("slurm: {partition: debug}", "slurm: {partition: debug, gpus_per_unit: 0}"))
    execution, notes = resume_execution(layout, store)
    assert (execution.slurm.gpus_per_unit, execution.slurm.partition, execution.n_cycles) == (0, "debug", 2)
    assert notes == [f"taking the edited execution.slurm.gpus_per_unit from {src}: None -> 0"]
    assert resume_execution(layout, store, force=True) == (execution, notes)


def test_resume_refuses_edits_that_change_the_units_in_one_line(tmp_path: Path) -> None:
    src, layout, store = made(tmp_path)
    src.write_text(CAMPAIGN.replace("n_cycles: 2", "n_cycles: 3\n  cycle_order: interleaved"))
    with pytest.raises(CampaignError) as exc:
        resume_execution(layout, store)
    assert str(exc.value) == (
        f"{src}: execution settings that decide the units changed since this campaign started "
        "(execution.n_cycles: 2 -> 3; execution.cycle_order: 'sequential' -> 'interleaved'); put them back, "
        "start a new campaign with `llem campaign up`, or pass --force to keep the original ones"
    )
    execution, notes = resume_execution(layout, store, force=True)
    assert (execution.n_cycles, execution.cycle_order) == (2, "sequential")
    assert notes == [
        "--force: keeping the original execution.n_cycles: 2 -> 3; execution.cycle_order: 'sequential' -> 'interleaved'"
    ]
