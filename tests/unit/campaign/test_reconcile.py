"""Resume reconciles the manifest with the result files on disk: real files, every manifest state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from llenergymeasure import RESULT_SCHEMA_VERSION
from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.events import Event
from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.recover import recover
from llenergymeasure.campaign.settle import settle
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash as hash_of
from llenergymeasure.dispatch.base import Executor, JobOutcome, UnitJob

CONFIG = ExperimentConfig(model="org/m", backend="pytorch", n_prompts=2)
HASH = hash_of(CONFIG)
FINISHED = "2026-11-23T01:02:03+00:00"


def result_doc(config_hash: str = HASH, cycle: int = 1, config: ExperimentConfig = CONFIG) -> dict[str, object]:
    latency = {"mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0, "min": 1.0, "max": 1.0}
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "llem_version": "0",
        "config_hash": config_hash,
        "cycle": cycle,
        "config": config.model_dump(mode="json"),
        "started_at": "2026-11-23T01:00:00+00:00",
        "finished_at": FINISHED,
        "warmup_runs": 0,
        "metrics": {
            "n_requests": 1,
            "input_tokens": 1,
            "output_tokens": 1,
            "wall_time_s": 1.0,
            "output_tokens_per_s": 1.0,
            "total_tokens_per_s": 2.0,
            "requests_per_s": 1.0,
            "latency_s": latency,
        },
        "energy": {"available": False, "reason": "no GPU"},
        "environment": {},
    }


class NoOrphans(Executor):
    name = "local"

    def __init__(self) -> None:
        self.cleanup_calls: list[tuple[list[str], str]] = []

    def run(self, job: UnitJob, on_started: object) -> JobOutcome:
        raise AssertionError("recover never runs units")

    def cleanup_orphans(self, campaign_dir: Path, handles: list[str], run_id: str) -> list[str]:
        self.cleanup_calls.append((handles, run_id))
        return []

    def close(self) -> None:
        pass


def entry_in(status: str, key: str) -> ManifestEntry:
    e = ManifestEntry(
        key=key,
        exp_id=key.split("_c")[0],
        config_hash=HASH,
        backend="pytorch",
        service="pytorch",
        cycle=1,
        config_file="configs/e.yaml",
        result_file=f"{key}.json",
    )
    if status == "pending":
        return e
    running = mf.start(e).model_copy(update={"handle": "pid:999999999"})
    if status == "running":
        return running
    if status == "failed":
        return mf.fail(running, "ExitCode", "llem-exp exited with code 1")
    if status == "completed":
        return mf.complete(running, f"{key}.json")
    return mf.transition(e, "skipped")


def campaign(tmp_path: Path, states: list[str]) -> tuple[CampaignLayout, ManifestStore]:
    layout = CampaignLayout(tmp_path)
    entries = [entry_in(s, f"e{i}_c1") for i, s in enumerate(states)]
    store = ManifestStore(
        layout.manifest, CampaignManifest(campaign="c", design_hash="d" * 16, llem_version="0", entries=entries)
    )
    assert store.save()
    return layout, store


def write(layout: CampaignLayout, key: str, content: str) -> None:
    (layout.root / f"{key}.json").write_text(content)


VALID = json.dumps(result_doc())
STATES = ["pending", "running", "failed", "completed"]


@pytest.mark.parametrize("status", STATES)
@pytest.mark.parametrize(
    ("content", "valid"),
    [
        (VALID, True),
        (None, False),
        (VALID[: len(VALID) // 2], False),  # torn: never taken for a result
        (json.dumps(result_doc(cycle=2)), False),  # another cycle's
        (json.dumps(result_doc(config_hash="cd" * 8)), False),  # another config's
    ],
    ids=["valid", "missing", "truncated", "other-cycle", "other-config"],
)
def test_each_state_against_each_kind_of_result_file(
    tmp_path: Path, status: str, content: str | None, valid: bool
) -> None:
    layout, store = campaign(tmp_path, [status])
    if content is not None:
        write(layout, "e0_c1", content)
    events: list[Event] = []
    recover(layout, store, NoOrphans(), ExecutionConfig(max_retries=2), "run1", events.append)
    e = store.entry("e0_c1")
    if valid:
        expected = "completed"
        kinds = [] if status == "completed" else ["adopted"]
    else:
        expected = "pending"  # a lost completed result is re-queued; the rest are re-run as before
        kinds = ["lost"] if status == "completed" else []
    assert e.status == expected
    assert [ev.kind for ev in events] == kinds
    assert ManifestStore.load(layout.manifest).entry("e0_c1").status == expected  # written through
    if valid and status != "completed":
        assert (e.result_file, e.completed_at, e.error_type, e.handle) == ("e0_c1.json", FINISHED, None, None)
        assert e.retry_count == 0
    if status == "failed" and not valid:
        assert e.retry_count == 1  # an ordinary retry, counted
    if status == "completed" and not valid:
        assert (e.result_file, e.completed_at, e.retry_count) == ("e0_c1.json", None, 0)


def test_adoption_messages_name_what_the_manifest_said(tmp_path: Path) -> None:
    layout, store = campaign(tmp_path, ["pending", "running", "failed", "completed"])
    for i in range(3):
        write(layout, f"e{i}_c1", VALID)
    events: list[Event] = []
    recover(layout, store, NoOrphans(), ExecutionConfig(), "run1", events.append)
    assert [(ev.kind, ev.entry.key if ev.entry else None, ev.message) for ev in events] == [
        (
            "adopted",
            "e0_c1",
            "was pending in the manifest, but its valid result file exists; result kept, not re-run",
        ),
        ("adopted", "e1_c1", "finished before the crash; result kept"),
        ("adopted", "e2_c1", "was failed in the manifest, but its valid result file exists; result kept, not re-run"),
        ("lost", "e3_c1", "completed, but its result is lost (e3_c1.json: no result file); re-queued"),
    ]
    assert [e.status for e in store.manifest.entries] == ["completed", "completed", "completed", "pending"]


OTHER = CONFIG.model_copy(update={"seed": 7})  # what an edited unit config or other defaults measured
MISMATCH = (
    f"e0_c1.json: its config hashes to {hash_of(OTHER)}, not {HASH} "
    "(measured under another llem version's defaults or an edited unit config)"
)


@pytest.mark.parametrize("status", STATES)
def test_a_result_that_measured_another_config_fails_its_unit_in_every_state(tmp_path: Path, status: str) -> None:
    layout, store = campaign(tmp_path, [status])
    write(layout, "e0_c1", json.dumps(result_doc(config=OTHER)))  # claims HASH, carries another config
    events: list[Event] = []
    recover(layout, store, NoOrphans(), ExecutionConfig(max_retries=0), "run1", events.append)
    e = store.entry("e0_c1")
    assert (e.status, e.error_type, e.error_message, e.handle) == ("failed", "IdentityMismatch", MISMATCH, None)
    kind = "lost" if status == "completed" else "disowned"  # a completed one leaves the done count
    assert [(ev.kind, ev.message) for ev in events] == [
        (kind, f"failed, not done: its result measured another config ({MISMATCH})")
    ]
    assert ManifestStore.load(layout.manifest).entry("e0_c1").status == "failed"
    events.clear()
    recover(layout, store, NoOrphans(), ExecutionConfig(max_retries=0), "run2", events.append)
    assert events == []  # said once, not on every resume


def test_a_mismatched_result_with_retries_left_is_retried_as_a_counted_attempt(tmp_path: Path) -> None:
    layout, store = campaign(tmp_path, ["completed"])
    write(layout, "e0_c1", json.dumps(result_doc(config=OTHER)))
    recover(layout, store, NoOrphans(), ExecutionConfig(max_retries=2), "run1")
    e = store.entry("e0_c1")
    assert (e.status, e.retry_count, e.error_type) == ("pending", 1, "IdentityMismatch")


def test_a_result_whose_config_this_llem_cannot_read_is_not_done(tmp_path: Path) -> None:
    layout, store = campaign(tmp_path, ["running"])
    doc = result_doc()
    doc["config"] = {**CONFIG.model_dump(mode="json"), "thermal_budget": 3}  # a field of another llem version
    write(layout, "e0_c1", json.dumps(doc))
    recover(layout, store, NoOrphans(), ExecutionConfig(max_retries=0), "run1")
    e = store.entry("e0_c1")
    assert (e.status, e.error_type) == ("failed", "IdentityMismatch")
    assert e.error_message == (
        f"e0_c1.json: its config is not valid for this llem (config.thermal_budget: Extra inputs are not "
        f"permitted), so it cannot be {HASH}"
    )


def test_settle_fails_a_unit_whose_fresh_result_measured_another_config(tmp_path: Path) -> None:
    layout, store = campaign(tmp_path, ["running"])
    write(layout, "e0_c1", json.dumps(result_doc(config=OTHER)))
    job = UnitJob(
        key="e0_c1",
        backend="pytorch",
        service="pytorch",
        campaign_dir=layout.root,
        config_file=layout.root / "configs/e.yaml",
        stem="e0_c1",
        config_hash=HASH,
        cycle=1,
        timeout_s=60.0,
        idle_timeout_s=60.0,
        log_file=layout.logs / "e0_c1.log",
    )
    e = settle(layout, store.entry("e0_c1"), job, JobOutcome(exit_code=0))
    assert (e.status, e.error_type, e.error_message) == ("failed", "IdentityMismatch", MISMATCH)


def test_a_failed_unit_out_of_retries_is_still_adopted_if_its_result_exists(tmp_path: Path) -> None:
    layout, store = campaign(tmp_path, ["failed", "failed"])
    write(layout, "e0_c1", VALID)
    recover(layout, store, NoOrphans(), ExecutionConfig(max_retries=0), "run1")
    assert [e.status for e in store.manifest.entries] == ["completed", "failed"]


def test_skipped_units_are_left_alone(tmp_path: Path) -> None:
    layout, store = campaign(tmp_path, ["skipped"])
    write(layout, "e0_c1", VALID)
    recover(layout, store, NoOrphans(), ExecutionConfig(), "run1")
    assert store.entry("e0_c1").status == "skipped"


def test_orphans_are_stopped_first_with_the_live_run_id_and_temp_files_go(tmp_path: Path) -> None:
    layout, store = campaign(tmp_path, ["running", "completed"])
    write(layout, "e1_c1", VALID)
    torn = layout.root / ".e0_c1.json.k3j2h1.tmp"  # a result write cut short by a kill
    torn.write_text(VALID[:40])
    manifest_tmp = layout.root / ".manifest.json.abc.tmp"
    manifest_tmp.write_text("{")
    executor = NoOrphans()
    recover(layout, store, executor, ExecutionConfig(), "run7")
    assert executor.cleanup_calls == [(["pid:999999999"], "run7")]
    assert not torn.exists()
    assert not manifest_tmp.exists()
    assert [e.status for e in store.manifest.entries] == ["pending", "completed"]


class SchedulerJobs(NoOrphans):
    """An executor whose jobs outlive the host (Slurm): it names the ones still queued or running."""

    name = "slurm"

    def __init__(self, live: set[str]) -> None:
        super().__init__()
        self.alive = live

    def live(self, handles: Sequence[str]) -> set[str]:
        return {h for h in handles if h in self.alive}

    def job_id(self, handle: str) -> str | None:
        return handle.removeprefix("slurm:")


def test_recover_keeps_live_scheduler_jobs_running_and_counts_an_ended_one_as_a_failed_attempt(tmp_path: Path) -> None:
    layout, store = campaign(tmp_path, ["running", "running", "running"])
    for i, handle in enumerate(("slurm:11", "slurm:12", "slurm:13")):
        store.put(store.entry(f"e{i}_c1").model_copy(update={"handle": handle}))
    write(layout, "e2_c1", VALID)  # job 13 ended after writing its result
    executor = SchedulerJobs(live={"slurm:11"})
    recover(layout, store, executor, ExecutionConfig(max_retries=2), "run-2")  # type: ignore[arg-type]
    live, ended, done = (store.entry(f"e{i}_c1") for i in range(3))
    assert (live.status, live.handle, live.retry_count) == ("running", "slurm:11", 0)  # adopted: waited on, not rerun
    assert (ended.status, ended.retry_count, ended.error_type) == ("pending", 1, "JobEnded")
    assert ended.error_message == "job slurm:12 ended without a valid result"
    assert done.status == "completed"
    assert executor.cleanup_calls == [(["slurm:12", "slurm:13"], "run-2")]  # live jobs are never cleaned up
