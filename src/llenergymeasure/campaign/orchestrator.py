"""Run a campaign: create its directory, dispatch units in order, checkpoint every transition.

The host is the only writer of the manifest. A unit is completed only when its executor
reports exit code 0 *and* a valid result file for that exact unit exists; anything else is a
failure with a reason, and the campaign goes on to the next unit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from loguru import logger

from llenergymeasure import __version__
from llenergymeasure.atomic import write_atomic, write_json_atomic
from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.layout import CampaignLayout, create_campaign_dir
from llenergymeasure.campaign.lock import CampaignLock
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.plan import CampaignPlan
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.config.experiment import ExperimentConfig, JsonlDataset
from llenergymeasure.dispatch.base import Executor, JobOutcome, UnitJob, describe_stop
from llenergymeasure.errors import CampaignError
from llenergymeasure.results.reader import InvalidResultError, read_result


@dataclass(frozen=True)
class Event:
    """Progress notice for the CLI to render; the library itself never prints."""

    kind: str  # created | unit_started | unit_finished | gap | orphans | adopted | lost
    entry: ManifestEntry | None = None
    message: str = ""


EventSink = Callable[[Event], None]


def noop(_: Event) -> None:
    """Default event sink."""


def prepare_campaign(
    plan: CampaignPlan, results_root: Path, campaign_file: Path | None, executor: str, run_id: str | None = None
) -> tuple[CampaignLayout, ManifestStore, CampaignLock]:
    """Create the campaign directory, lock it, and write unit configs, a resolved snapshot and a pending manifest.

    The lock is taken right after the directory is made, before anything is written into it; the
    caller releases it when the run ends. All or nothing: if any of it cannot be written (disk full,
    say), the new directory is removed again, so a failed start leaves no half-made campaign for
    ``resume`` to trip over.
    """
    layout = create_campaign_dir(results_root, plan.config.name)
    lock: CampaignLock | None = None
    try:
        lock = CampaignLock.acquire(layout.root, run_id)
        return layout, _populate(layout, plan, campaign_file, executor), lock
    except OSError as exc:
        _discard(layout, lock)
        raise CampaignError(
            f"{exc.filename or layout.root}: cannot write campaign files ({exc.strerror or exc}); nothing was started"
        ) from None
    except BaseException:
        _discard(layout, lock)
        raise


def _discard(layout: CampaignLayout, lock: CampaignLock | None) -> None:
    shutil.rmtree(layout.root, ignore_errors=True)
    if lock is not None:
        lock.release()


def _populate(layout: CampaignLayout, plan: CampaignPlan, campaign_file: Path | None, executor: str) -> ManifestStore:
    config_files: dict[str, str] = {}
    for exp in plan.experiments:
        path = layout.configs / f"{exp.exp_id}.yaml"
        cfg = _portable(exp.config, layout.configs)
        data = cfg.model_dump(mode="json", exclude_none=True)
        # The offline default is left out, as in the identity, so an image older than server mode
        # still reads the unit configs of an offline campaign.
        if data.get("scenario") == {"kind": "offline"}:
            del data["scenario"]
        write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode())
        config_files[exp.exp_id] = str(path.relative_to(layout.root))
    write_json_atomic(
        layout.campaign_snapshot,
        {**plan.config.model_dump(mode="json"), "shuffle_seed": plan.shuffle_seed, "varying": plan.varying},
    )
    entries = [
        ManifestEntry(
            key=u.key,
            exp_id=u.experiment.exp_id,
            config_hash=u.experiment.config_hash,
            config_summary=u.experiment.summary,
            backend=u.experiment.config.backend,
            service=u.service,
            cycle=u.cycle,
            result_file=f"{u.result_stem}.json",
            config_file=config_files[u.experiment.exp_id],
        )
        for u in plan.units
    ]
    manifest = CampaignManifest(
        campaign=plan.config.name,
        design_hash=plan.config.campaign_design_hash,
        llem_version=__version__,
        campaign_file=str(campaign_file.resolve()) if campaign_file else None,
        executor=executor,
        entries=entries,
    )
    store = ManifestStore(layout.manifest, manifest)
    write_atomic(layout.manifest, store.render())  # raises, unlike save(): a campaign needs its manifest
    return store


def _portable(cfg: ExperimentConfig, configs_dir: Path) -> ExperimentConfig:
    """Copy a jsonl dataset next to the unit configs, named by its content, so the folder is self-contained.

    Content-addressed: two prompt files of the same name in different folders get two copies, and
    the copy is checked against the digest the plan was made with (a file edited between planning
    and start is refused rather than measured under the wrong identity).
    """
    if not isinstance(cfg.dataset, JsonlDataset):
        return cfg
    src = Path(cfg.dataset.path)
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise CampaignError(f"{src}: cannot read dataset ({exc.strerror or exc})") from None
    digest = hashlib.sha256(data).hexdigest()
    if cfg.dataset.sha256 is not None and digest != cfg.dataset.sha256:
        raise CampaignError(f"{src}: dataset changed while the campaign was being planned; run `llem campaign up` anew")
    dst = configs_dir / f"dataset_{digest[:16]}.jsonl"
    if not dst.exists():
        write_atomic(dst, data)
    return cfg.model_copy(update={"dataset": cfg.dataset.model_copy(update={"path": dst.name, "sha256": digest})})


def load_execution(layout: CampaignLayout) -> ExecutionConfig:
    """The execution settings the campaign was planned with."""
    try:
        snapshot = json.loads(layout.campaign_snapshot.read_text())
        return ExecutionConfig.model_validate(snapshot["execution"])
    except (OSError, ValueError, KeyError) as exc:
        raise CampaignError(f"{layout.campaign_snapshot}: unreadable ({exc}); cannot resume") from None


def job_for(entry: ManifestEntry, layout: CampaignLayout, execution: ExecutionConfig, run_id: str = "") -> UnitJob:
    """The executor's view of one manifest entry, to be run by run ``run_id``."""
    stem = (entry.result_file or "").removesuffix(".json")
    return UnitJob(
        key=entry.key,
        backend=entry.backend,
        service=entry.service,
        campaign_dir=layout.root,
        config_file=layout.root / entry.config_file,
        stem=stem,
        config_hash=entry.config_hash,
        cycle=entry.cycle,
        timeout_s=execution.unit_timeout_s,
        idle_timeout_s=execution.idle_timeout_s,
        log_file=layout.logs / f"{stem}.log",
        campaign_id=layout.root.name,
        run_id=run_id,
        warm=execution.warm_start,
    )


def run_pending(
    layout: CampaignLayout,
    store: ManifestStore,
    executor: Executor,
    execution: ExecutionConfig,
    run_id: str,
    on_event: EventSink = noop,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run every pending unit in manifest order, with config and cycle gaps between units.

    At the end (however it ends) the manifest is made durable once: transitions themselves are
    written without fsync (see ``store.MANIFEST_SYNC``).
    """
    previous: ManifestEntry | None = None
    try:
        for entry in list(store.manifest.entries):
            if store.entry(entry.key).status != "pending":
                continue
            if previous is not None:
                gap = _gap(previous, entry, execution)
                if gap > 0:
                    on_event(Event("gap", message=f"waiting {gap:g} s before {entry.key}"))
                    sleep(gap)
            run_unit(layout, store, executor, execution, entry.key, run_id, on_event)
            previous = store.entry(entry.key)
    finally:
        executor.close()
        store.persist()


def _gap(prev: ManifestEntry, nxt: ManifestEntry, ex: ExecutionConfig) -> float:
    """Config gap when the experiment changes, cycle gap when the cycle changes; the larger if both."""
    gaps = [0.0]
    if prev.exp_id != nxt.exp_id:
        gaps.append(ex.config_gap_seconds)
    if prev.cycle != nxt.cycle:
        gaps.append(ex.cycle_gap_seconds)
    return max(gaps)


def run_unit(
    layout: CampaignLayout,
    store: ManifestStore,
    executor: Executor,
    execution: ExecutionConfig,
    key: str,
    run_id: str = "",
    on_event: EventSink = noop,
) -> ManifestEntry:
    """Dispatch one unit and record its outcome; Ctrl-C puts it back to pending."""
    entry = store.entry(key)
    job = job_for(entry, layout, execution, run_id)
    # A leftover error or result from an earlier attempt must not be mistaken for this one's.
    layout.error(job.stem).unlink(missing_ok=True)
    store.put(mf.start(entry))
    on_event(Event("unit_started", store.entry(key)))

    def started(handle: str) -> None:
        store.put(store.entry(key).model_copy(update={"handle": handle}))

    try:
        outcome = executor.run(job, started)
    except KeyboardInterrupt:
        store.put(mf.requeue(store.entry(key)))
        raise
    except Exception as exc:  # executor broke before the unit could run
        outcome = JobOutcome(exit_code=None, stopped="launch", message=f"{type(exc).__name__}: {exc}")
    final = settle(layout, store.entry(key), job, outcome)
    store.put(final)
    on_event(Event("unit_finished", final))
    return final


def settle(layout: CampaignLayout, entry: ManifestEntry, job: UnitJob, outcome: JobOutcome) -> ManifestEntry:
    """Decide completed or failed from the exit code and the result file alone."""
    result_path = layout.result(job.stem)
    if outcome.exit_code == 0 and outcome.stopped is None:
        try:
            read_result(result_path, job.config_hash, job.cycle)
            return mf.complete(entry, result_path.name)
        except InvalidResultError as exc:
            return mf.fail(entry, "InvalidResult", str(exc))
    if outcome.stopped in ("timeout", "idle"):
        return mf.fail(entry, "Timeout" if outcome.stopped == "timeout" else "Hung", describe_stop(outcome, job))
    if outcome.stopped == "launch":
        return mf.fail(entry, "LaunchError", outcome.message)
    error_type, message = _read_error_file(layout.error(job.stem))
    return mf.fail(entry, error_type or "ExitCode", message or f"llem-exp exited with code {outcome.exit_code}")


def _read_error_file(path: Path) -> tuple[str | None, str | None]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return str(data.get("error_type")), str(data.get("error_message"))
    except (OSError, ValueError, AttributeError):
        return None, None


def recover(
    layout: CampaignLayout,
    store: ManifestStore,
    executor: Executor,
    execution: ExecutionConfig,
    run_id: str,
    on_event: EventSink = noop,
) -> None:
    """After a crash, holding the campaign lock as run ``run_id``: stop orphans, reconcile, re-queue.

    Orphans first (nothing of a dead run may still be writing), then stale temp files, then the
    manifest is reconciled with the result files (``reconcile``), then units still marked running
    are put back to pending and failed ones with retries left are re-queued.
    """
    running = [e for e in store.manifest.entries if e.status == "running"]
    removed = executor.cleanup_orphans(layout.root, [e.handle for e in running if e.handle], run_id)
    if removed:
        on_event(Event("orphans", message=f"removed {len(removed)} orphaned unit(s): {', '.join(removed)}"))
    layout.remove_stale_temp_files()
    reconcile(layout, store, on_event)
    for entry in store.manifest.entries:
        if entry.status == "running":
            store.put(mf.requeue(entry))
    for entry in store.manifest.entries:
        if entry.status == "failed" and entry.retry_count < execution.max_retries:
            store.put(mf.requeue(entry))
    logger.debug("recovered campaign {}", layout.root)


def reconcile(layout: CampaignLayout, store: ManifestStore, on_event: EventSink = noop) -> None:
    """Make the manifest agree with the result files, which are the ground truth.

    A pending, running or failed unit whose valid result file (its config hash and cycle) exists is
    completed: adopted, never re-run, whatever the manifest says (a manifest write refused by a full
    disk, or lost to a power cut, leaves exactly that). A completed unit whose result file is missing
    or invalid is put back to pending with a ``lost`` event: its data is gone, and running it again
    is the only way not to lose the measurement. Skipped units are left alone.
    """
    for entry in list(store.manifest.entries):
        if entry.status == "skipped" or not entry.result_file:
            continue
        path = layout.root / entry.result_file
        try:
            result = read_result(path, entry.config_hash, entry.cycle)
        except InvalidResultError as exc:
            if entry.status == "completed":
                reopened = mf.reopen(entry)
                store.put(reopened)
                on_event(Event("lost", reopened, f"completed, but its result is lost ({exc}); re-queued"))
            continue
        if entry.status != "completed":
            done = mf.adopt(entry, path.name, result.finished_at)
            store.put(done)
            why = (
                "finished before the crash; result kept"
                if entry.status == "running"
                else f"was {entry.status} in the manifest, but its valid result file exists; result kept, not re-run"
            )
            on_event(Event("adopted", done, why))
