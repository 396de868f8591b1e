"""Recover a campaign after a crash: stop orphans, settle stray jobs, reconcile with the result files, re-queue.

Exactly once across host deaths: nothing of a dead run may still be writing when units start
again, a job a scheduler still runs is waited on (never submitted twice), a job submitted but never
recorded is cancelled or adopted, and an attempt cut short by the host's death counts as one.
"""

from __future__ import annotations

from loguru import logger

from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.events import Event, EventSink, noop
from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.manifest import ManifestEntry
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.dispatch.base import Executor
from llenergymeasure.results.reader import IdentityMismatchError, InvalidResultError, read_result


def recover(
    layout: CampaignLayout,
    store: ManifestStore,
    executor: Executor,
    execution: ExecutionConfig,
    run_id: str,
    on_event: EventSink = noop,
) -> None:
    """After a crash, holding the campaign lock as run ``run_id``: stop orphans, settle strays, reconcile, re-queue.

    1. The executor names the jobs that still run (``live``): those of units marked running, and
       those failed attempts kept (a Slurm job the host stopped waiting for). Nothing else of a dead
       run may still run: ``cleanup_orphans`` stops it.
    2. Jobs of this campaign the manifest never recorded (``strays``): held ones never ran and are
       cancelled; a released one is adopted by its unit if the unit is not done, else cancelled.
    3. The manifest is reconciled with the result files (``reconcile``).
    4. A unit still marked running whose job is not live was cut short by the host's death (or
       killed it): a failed attempt, counted against ``max_retries`` like any other. A failed unit
       whose job is live is running again, followed and not retried. Failed units with retries
       left go back to pending.
    """
    entries = store.manifest.entries
    handles = [e.handle for e in entries if e.status == "running" and e.handle]
    kept = [e.handle for e in entries if e.status == "failed" and e.handle]
    live = executor.live([*handles, *kept])
    removed = executor.cleanup_orphans(layout.root, [h for h in handles if h not in live], run_id)
    if removed:
        on_event(Event("orphans", message=f"removed {len(removed)} orphaned unit(s): {', '.join(removed)}"))
    live |= _settle_strays(layout, store, executor, live, on_event)
    layout.remove_stale_temp_files()
    reconcile(layout, store, on_event)
    for entry in list(store.manifest.entries):
        if entry.status == "running" and entry.handle not in live:
            if entry.handle and executor.job_id(entry.handle):
                store.put(mf.fail(entry, "JobEnded", f"job {entry.handle} ended without a valid result"))
            else:  # a unit that kills its host must not be re-run for ever: this was an attempt
                why = "the host died while it ran (a crash, a kill, or the unit itself)"
                store.put(mf.fail(entry, "HostDied", why))
        elif entry.status == "failed" and entry.handle in live:
            store.put(_running_as(entry, entry.handle or "", executor, keep_retries=True))
            on_event(Event("following", store.entry(entry.key), f"still running as {entry.handle}; waiting for it"))
    for entry in store.manifest.entries:
        if entry.status == "failed" and entry.retry_count < execution.max_retries:
            store.put(mf.requeue(entry))
    logger.debug("recovered campaign {}", layout.root)


def _running_as(entry: ManifestEntry, handle: str, executor: Executor, keep_retries: bool = False) -> ManifestEntry:
    """``entry`` marked running as the job ``handle`` names (pending or failed first, as the transitions allow)."""
    retries = entry.retry_count
    if entry.status in ("failed", "running"):
        entry = mf.requeue(entry)
    update: dict[str, object] = {"handle": handle, "job_id": executor.job_id(handle)}
    if keep_retries:  # the attempt the failure named is still the one running: not a new one
        update.update(retry_count=retries, started_at=entry.started_at)
    return mf.start(entry).model_copy(update=update)


def _settle_strays(
    layout: CampaignLayout, store: ManifestStore, executor: Executor, live: set[str], on_event: EventSink
) -> set[str]:
    """Cancel or adopt the jobs of this campaign no entry records; returns the handles adopted."""
    recorded = {e.job_id for e in store.manifest.entries if e.job_id}
    recorded |= {j for e in store.manifest.entries if e.handle and (j := executor.job_id(e.handle))}
    strays = executor.strays(layout.root, recorded)
    if not strays:
        return set()
    keys = {e.key for e in store.manifest.entries}
    cancel: list[str] = []
    adopted: set[str] = set()
    for stray in strays:
        entry = store.entry(stray.key) if stray.key in keys else None
        busy = entry is None or entry.status in ("completed", "skipped") or entry.handle in live | adopted
        if stray.held or busy or entry is None:
            cancel.append(stray.handle)
            continue
        store.put(_running_as(entry, stray.handle, executor))
        adopted.add(stray.handle)
        on_event(
            Event("following", store.entry(stray.key), f"running as {stray.handle}, never recorded; waiting for it")
        )
    if cancel:
        executor.cancel(cancel)
        on_event(
            Event("strays", message=f"cancelled {len(cancel)} job(s) submitted but never recorded: {', '.join(cancel)}")
        )
    return adopted


def reconcile(layout: CampaignLayout, store: ManifestStore, on_event: EventSink = noop) -> None:
    """Make the manifest agree with the result files, which are the ground truth.

    A pending, running or failed unit whose valid result file (its config hash and cycle) exists is
    completed: adopted, never re-run, whatever the manifest says (a manifest write refused by a full
    disk, or lost to a power cut, leaves exactly that). A completed unit whose result file is missing
    or invalid is put back to pending with a ``lost`` event: its data is gone, and running it again
    is the only way not to lose the measurement. A result whose own config does not hash to the
    unit's identity (``IdentityMismatchError``) fails the unit with that reason, whatever its state:
    it measured something else. Skipped units are left alone.
    """
    for entry in list(store.manifest.entries):
        if entry.status == "skipped" or not entry.result_file:
            continue
        path = layout.root / entry.result_file
        try:
            result = read_result(path, entry.config_hash, entry.cycle)
        except IdentityMismatchError as exc:
            if entry.status != "failed" or entry.error_type != "IdentityMismatch":
                failed = mf.disown(entry, "IdentityMismatch", str(exc))
                store.put(failed)
                kind = "lost" if entry.status == "completed" else "disowned"  # "lost" takes it off the done count
                on_event(Event(kind, failed, f"failed, not done: its result measured another config ({exc})"))
            continue
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
