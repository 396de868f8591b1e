"""Run a campaign: create its directory, dispatch units in order, checkpoint every transition.

The host is the only writer of the manifest. A unit is completed only when its executor
reports exit code 0 *and* a valid result file for that exact unit exists; anything else is a
failure with a reason, and the campaign goes on to the next unit.
"""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
from llenergymeasure.campaign.slots import Slot, SlotBoard, gpus_per_unit
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.config.experiment import ExperimentConfig, JsonlDataset
from llenergymeasure.dispatch.base import Executor, JobOutcome, UnitJob, describe_stop
from llenergymeasure.dispatch.gpus import Gpu
from llenergymeasure.errors import CampaignError
from llenergymeasure.experiment.cooldown import cooldown_env
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
    plan: CampaignPlan,
    results_root: Path,
    campaign_file: Path | None,
    executor: str,
    run_id: str | None = None,
    gpus: str | None = None,
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
        return layout, _populate(layout, plan, campaign_file, executor, gpus), lock
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


def _populate(
    layout: CampaignLayout, plan: CampaignPlan, campaign_file: Path | None, executor: str, gpus: str | None
) -> ManifestStore:
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
            n_gpus=gpus_per_unit(u.experiment.config),
        )
        for u in plan.units
    ]
    manifest = CampaignManifest(
        campaign=plan.config.name,
        design_hash=plan.config.campaign_design_hash,
        llem_version=__version__,
        campaign_file=str(campaign_file.resolve()) if campaign_file else None,
        executor=executor,
        gpus=gpus,
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


def job_for(
    entry: ManifestEntry,
    layout: CampaignLayout,
    execution: ExecutionConfig,
    run_id: str = "",
    slot: Slot | None = None,
    cancel: threading.Event | None = None,
    adopt: str | None = None,
    concurrent_units: int = 1,
) -> UnitJob:
    """The executor's view of one manifest entry, to be run by run ``run_id`` on ``slot``'s GPUs.

    ``concurrent_units``: how many units may run at once (``SlotBoard.concurrency``), passed to the
    unit in its slot's environment, as is ``execution.cooldown`` (the unit cools its own GPUs down).
    """
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
        env={**(slot.env(concurrent_units) if slot is not None else {}), **cooldown_env(execution.cooldown)},
        warm=execution.warm_start,
        slot=slot.name if slot is not None and slot.gpus else "",
        gpu_uuids=slot.uuids if slot is not None else (),
        cancel=cancel,
        n_gpus=entry.n_gpus,
        adopt=adopt,
    )


def run_pending(
    layout: CampaignLayout,
    store: ManifestStore,
    executor: Executor,
    execution: ExecutionConfig,
    run_id: str,
    on_event: EventSink = noop,
    sleep: Callable[[float], None] = time.sleep,
    gpus: Sequence[Gpu] = (),
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run every pending unit in manifest order, one per free GPU slot, with gaps per GPU.

    Without ``gpus`` there is one slot and units run one at a time, the gap between neighbours.
    Units start strictly in manifest order (the next one waits for a slot rather than being
    overtaken), so each slot sees its share of the cycle order. Executors run in worker threads;
    every manifest transition is made here, in this thread, except the handle a starting unit
    reports, which ``ManifestStore.put`` serialises with a lock. At the end (however it ends) the
    manifest is made durable once: transitions themselves are written without fsync.
    """
    lanes = int(getattr(executor, "max_in_flight", 1))  # a scheduler (Slurm) places units itself
    if lanes > 1:  # every job a dead run left running is followed at once, however many
        gpus = ()
        lanes = max(lanes, sum(1 for e in store.manifest.entries if e.status == "running"))
    board = SlotBoard(tuple(gpus), lambda a, b: _gap(a, b, execution), lanes)
    to_run = [e for e in store.manifest.entries if e.status in ("pending", "running")]
    concurrent = board.concurrency(e.n_gpus if gpus else 1 for e in to_run)
    dispatcher = _Dispatcher(layout, store, executor, execution, run_id, on_event, concurrent)
    width = max(1, len(gpus), lanes)
    pending = deque(e.key for e in store.manifest.entries if e.status == "pending")
    try:
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="llem-unit") as pool:
            try:
                dispatcher.follow_adopted(pool, board)
                while pending or dispatcher.running:
                    wait = _start_ready(pending, board, dispatcher, pool, gpus, clock, sleep, on_event)
                    if dispatcher.running:
                        dispatcher.collect(board, clock, wait)
            except KeyboardInterrupt:
                dispatcher.interrupt()
                raise
    finally:
        executor.close()
        store.persist()


def _start_ready(
    pending: deque[str],
    board: SlotBoard,
    dispatcher: _Dispatcher,
    pool: ThreadPoolExecutor,
    gpus: Sequence[Gpu],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_event: EventSink,
) -> float | None:
    """Start units from the head of ``pending`` while a slot is free and rested; how long until the next may start.

    None means: only a unit ending can free a slot. While nothing runs, a rest is slept out here.
    """
    while pending:
        entry = dispatcher.store.entry(pending[0])
        if entry.status != "pending":
            pending.popleft()
            continue
        size = entry.n_gpus if gpus else 1
        if not board.fits(size):
            pending.popleft()
            dispatcher.refuse(entry, f"needs {size} GPUs per unit but --gpus gives {len(gpus)}")
            continue
        placed = board.place(entry, size)
        if placed is None:
            return None
        slot, ready = placed
        wait = ready - clock()
        if wait > 0:
            if dispatcher.running:
                return wait
            on_event(Event("gap", message=f"waiting {wait:.3g} s before {entry.key}"))
            sleep(wait)
        pending.popleft()
        board.occupy(slot)
        dispatcher.launch(pool, entry.key, slot)
    return None


class _Dispatcher:
    """Starts units on worker threads and settles them here, in the orchestrator's thread."""

    def __init__(
        self,
        layout: CampaignLayout,
        store: ManifestStore,
        executor: Executor,
        execution: ExecutionConfig,
        run_id: str,
        on_event: EventSink,
        concurrent_units: int = 1,
    ) -> None:
        self.layout = layout
        self.store = store
        self.executor = executor
        self.execution = execution
        self.run_id = run_id
        self.on_event = on_event
        self.concurrent_units = concurrent_units  # told to every unit: whether its CPU energy is shared
        self.running: dict[str, tuple[Slot, UnitJob]] = {}
        self.done: queue.Queue[tuple[str, JobOutcome]] = queue.Queue()
        self.cancel = threading.Event()

    def _job(self, entry: ManifestEntry, slot: Slot, adopt: str | None = None) -> UnitJob:
        return job_for(entry, self.layout, self.execution, self.run_id, slot, self.cancel, adopt, self.concurrent_units)

    def launch(self, pool: ThreadPoolExecutor, key: str, slot: Slot) -> None:
        """Mark ``key`` running on ``slot`` and hand it to a worker thread."""
        entry = self.store.entry(key)
        job = self._job(entry, slot)
        # A leftover error or result from an earlier attempt must not be mistaken for this one's.
        self.layout.error(job.stem).unlink(missing_ok=True)
        self.store.put(mf.start(entry, job.slot or None, list(job.gpu_uuids) or None))
        self.on_event(Event("unit_started", self.store.entry(key)))
        self.running[key] = (slot, job)
        pool.submit(self._work, job)

    def follow_adopted(self, pool: ThreadPoolExecutor, board: SlotBoard) -> None:
        """Wait on jobs a dead run left running (``recover`` kept them running): each takes a free lane."""
        for entry in self.store.manifest.entries:
            if entry.status != "running" or entry.handle is None:
                continue
            placed = board.place(entry, 1)
            if placed is None:  # never: run_pending gives a lane to each
                raise CampaignError(f"no lane left to follow {entry.key} ({entry.handle})")
            board.occupy(placed[0])
            job = self._job(entry, placed[0], adopt=entry.handle)
            self.running[entry.key] = (placed[0], job)
            self.on_event(Event("adopted", entry, f"still running as {entry.handle}; waiting for it, not resubmitting"))
            pool.submit(self._work, job)

    def _work(self, job: UnitJob) -> None:
        def started(handle: str) -> None:
            entry = self.store.entry(job.key)
            jid = handle.removeprefix("slurm:") if handle.startswith("slurm:") else entry.job_id
            self.store.put(entry.model_copy(update={"handle": handle, "job_id": jid}))

        try:
            outcome = self.executor.run(job, started)
        except Exception as exc:  # executor broke before the unit could run
            outcome = JobOutcome(exit_code=None, stopped="launch", message=f"{type(exc).__name__}: {exc}")
        self.done.put((job.key, outcome))

    def collect(self, board: SlotBoard, clock: Callable[[], float], timeout: float | None) -> None:
        """Wait up to ``timeout`` (None: until one ends) for units to end, and settle every one that has."""
        try:
            key, outcome = self.done.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._settle(board, clock, key, outcome)
            try:
                key, outcome = self.done.get_nowait()
            except queue.Empty:
                return

    def _settle(self, board: SlotBoard, clock: Callable[[], float], key: str, outcome: JobOutcome) -> None:
        slot, job = self.running.pop(key)
        if outcome.stopped == "interrupted":
            final = mf.requeue(self.store.entry(key))
        else:
            final = settle(self.layout, self.store.entry(key), job, outcome)
            if outcome.scheduler_energy_j is not None:
                final = final.model_copy(update={"scheduler_energy_j": outcome.scheduler_energy_j})
        self.store.put(final)
        board.release(slot, final, clock())
        self.on_event(Event("unit_finished", final))

    def refuse(self, entry: ManifestEntry, why: str) -> None:
        """Fail a unit that can never be placed, without starting it."""
        final = mf.fail(mf.start(entry), "NoSlot", why)
        self.store.put(final)
        self.on_event(Event("unit_finished", final))

    def interrupt(self) -> None:
        """Ctrl-C: stop every running unit and put it back to pending (a later resume runs it)."""
        self.cancel.set()
        while self.running:
            key, _ = self.done.get()
            self.running.pop(key)
            entry = self.store.entry(key)
            if entry.status == "running":
                self.store.put(mf.requeue(entry))


def _gap(prev: ManifestEntry, nxt: ManifestEntry, ex: ExecutionConfig) -> float:
    """Config gap when the experiment changes, cycle gap when the cycle changes; the larger if both."""
    gaps = [0.0]
    if prev.exp_id != nxt.exp_id:
        gaps.append(ex.config_gap_seconds)
    if prev.cycle != nxt.cycle:
        gaps.append(ex.cycle_gap_seconds)
    return max(gaps)


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
    fallback = outcome.message or f"llem-exp exited with code {outcome.exit_code}"  # e.g. a Slurm job's end state
    return mf.fail(entry, error_type or "ExitCode", message or fallback)


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
    are put back to pending and failed ones with retries left are re-queued. An executor whose jobs
    outlive the host (Slurm) names the live ones (``live``): those stay running, and ``run_pending``
    waits on them instead of starting them again.
    """
    running = [e for e in store.manifest.entries if e.status == "running"]
    handles = [e.handle for e in running if e.handle]
    live_of: Callable[[list[str]], set[str]] | None = getattr(executor, "live", None)
    live = live_of(handles) if live_of is not None else set()  # jobs a scheduler still runs: adopted, not killed
    removed = executor.cleanup_orphans(layout.root, [h for h in handles if h not in live], run_id)
    if removed:
        on_event(Event("orphans", message=f"removed {len(removed)} orphaned unit(s): {', '.join(removed)}"))
    layout.remove_stale_temp_files()
    reconcile(layout, store, on_event)
    for entry in store.manifest.entries:
        if entry.status == "running" and entry.handle not in live:
            if live_of is not None and entry.handle:  # the job ended without a valid result: a failed attempt
                store.put(mf.fail(entry, "JobEnded", f"job {entry.handle} ended without a valid result"))
            else:
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
