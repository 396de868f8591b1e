"""Schedule a campaign's pending units: in manifest order, one per free GPU slot or Slurm lane, with gaps.

Executors run in worker threads; every manifest transition is made in the scheduling thread,
except the handle a starting unit reports, which ``ManifestStore.put`` serialises with a lock.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.diskspace import require_space
from llenergymeasure.campaign.eta import Gaps
from llenergymeasure.campaign.events import Event, EventSink, noop
from llenergymeasure.campaign.gpu_guard import target_of, unit_indices
from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.manifest import ManifestEntry
from llenergymeasure.campaign.settle import settle
from llenergymeasure.campaign.slots import Slot, SlotBoard
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.config.loader import read_unit_config
from llenergymeasure.dispatch.base import Executor, JobOutcome, RecordError, UnitJob
from llenergymeasure.dispatch.gpus import Gpu
from llenergymeasure.errors import CampaignError, GpuSettingsError, ManifestError
from llenergymeasure.experiment.cooldown import cooldown_env
from llenergymeasure.gpu.guard import UnitSettings


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
    lanes = executor.max_in_flight  # a scheduler (Slurm) places units itself
    if lanes > 1:  # every job a dead run left running is followed at once, however many
        gpus = ()
        lanes = max(lanes, sum(1 for e in store.manifest.entries if e.status == "running"))
    gaps = Gaps(execution.config_gap_seconds, execution.cycle_gap_seconds)
    board = SlotBoard(tuple(gpus), gaps.between, lanes)
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
        require_space(dispatcher.layout)  # a full disk stops the run here, before the unit measures anything
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
        self.gpu = UnitSettings(layout.root)  # gpu.* around each unit, journalled in the campaign folder

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
            self.on_event(
                Event("following", entry, f"still running as {entry.handle}; waiting for it, not resubmitting")
            )
            pool.submit(self._work, job)

    def _work(self, job: UnitJob) -> None:
        def started(handle: str) -> None:
            entry = self.store.entry(job.key)
            jid = self.executor.job_id(handle)
            try:  # a job that outlives the host must be on disk before it may run
                self.store.put(
                    entry.model_copy(update={"handle": handle, "job_id": jid or entry.job_id}), jid is not None
                )
            except ManifestError as exc:
                raise RecordError(str(exc)) from None

        try:
            # A scheduler's node applies gpu.* itself (experiment.gpunode): its unit config is not read here.
            config = None if self.executor.on_nodes else read_unit_config(job.config_file)
            if config is None or config.gpu.is_empty():
                outcome = self.executor.run(job, started)
            else:
                visible = self.executor.visible_gpus()
                indices = lambda nvml: unit_indices(nvml, job.gpu_uuids, config, visible)  # noqa: E731
                with self.gpu.applied(job.key, target_of(config.gpu), indices):
                    outcome = self.executor.run(job, started)
        except GpuSettingsError as exc:  # could not set, or could not put back: the unit does not count
            outcome = JobOutcome(exit_code=None, stopped="launch", message=f"GpuSettingsError: {exc}")
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
        entry = self.store.entry(key)
        if outcome.stopped == "interrupted":
            final = mf.requeue(entry)
        else:
            final = settle(self.layout, entry, job, outcome)
            if outcome.scheduler_energy_j is not None:
                final = final.model_copy(update={"scheduler_energy_j": outcome.scheduler_energy_j})
            if final.status == "failed" and entry.handle and self.executor.job_id(entry.handle):
                final = final.model_copy(update={"handle": entry.handle})  # `resume` asks whether it still runs
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
