"""The campaign operations behind the CLI: up, resume, status. Each is one call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.loader import LoadedCampaign, load_campaign
from llenergymeasure.campaign.lock import CampaignLock
from llenergymeasure.campaign.orchestrator import (
    Event,
    EventSink,
    load_execution,
    noop,
    prepare_campaign,
    recover,
    run_pending,
)
from llenergymeasure.campaign.plan import CampaignPlan, build_plan
from llenergymeasure.campaign.slots import gpus_per_unit
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.dispatch.base import Executor
from llenergymeasure.dispatch.gpus import Gpu
from llenergymeasure.errors import CampaignError


@dataclass(frozen=True)
class CampaignRun:
    """Where a campaign lives, its final manifest state, and how many units this run had to run."""

    layout: CampaignLayout
    store: ManifestStore
    run_id: str = ""
    to_run: int = 0  # pending units once recovery was done; 0: there was nothing to do


def plan_campaign(campaign_file: Path) -> tuple[LoadedCampaign, CampaignPlan]:
    """Load, expand and order a campaign file; no side effects."""
    loaded = load_campaign(campaign_file)
    return loaded, build_plan(loaded.config, loaded.sources)


def up(
    campaign_file: Path,
    results_root: Path,
    executor: Executor,
    on_event: EventSink = noop,
    gpus: Sequence[Gpu] = (),
    gpus_spec: str | None = None,
) -> CampaignRun:
    """Plan, create and lock the campaign directory, and run every unit; the lock goes when this returns.

    With ``gpus`` units run concurrently, one per free slot of those GPUs; ``gpus_spec`` (what the
    user wrote, e.g. ``all``) is kept in the manifest for ``resume``.
    """
    _, plan = plan_campaign(campaign_file)
    check_slots(plan, campaign_file, gpus)
    layout, store, lock = prepare_campaign(plan, results_root, campaign_file, executor.name, gpus=gpus_spec)
    with lock:
        on_event(Event("created", message=str(layout.root)))
        run_pending(layout, store, executor, plan.config.execution, lock.run_id, on_event, gpus=gpus)
    return CampaignRun(layout, store, lock.run_id, len(plan.units))


def resume(
    campaign_dir: Path,
    executor: Executor,
    force: bool = False,
    on_event: EventSink = noop,
    gpus: Sequence[Gpu] = (),
) -> CampaignRun:
    """Finish exactly what a campaign has left; refuses if another run holds it or its design changed.

    The campaign lock is taken before anything is read for use or changed: a second ``up`` or
    ``resume`` on the same directory fails at once naming the holder (``CampaignBusyError``).
    """
    layout = CampaignLayout(Path(campaign_dir))
    if not layout.manifest.is_file():
        ManifestStore.load(layout.manifest)  # raises the one-line "no manifest here" error
    with CampaignLock.acquire(layout.root) as lock:
        store = ManifestStore.load(layout.manifest)
        check_design(store, force)
        execution = load_execution(layout)
        recover(layout, store, executor, execution, lock.run_id, on_event)
        counts = store.manifest.counters()
        to_run = counts.pending + counts.running  # running: jobs a scheduler still runs, adopted
        run_pending(layout, store, executor, execution, lock.run_id, on_event, gpus=gpus)
    return CampaignRun(layout, store, lock.run_id, to_run)


def check_slots(plan: CampaignPlan, campaign_file: Path, gpus: Sequence[Gpu]) -> None:
    """Refuse, before anything starts, an experiment whose tensor-parallel size exceeds the GPUs given."""
    if not gpus:
        return
    for exp in plan.experiments:
        need = gpus_per_unit(exp.config)
        if need > len(gpus):
            raise CampaignError(
                f"{campaign_file}: {exp.exp_id} needs {need} GPUs per unit (tensor_parallel_size) but --gpus gives "
                f"{len(gpus)}; list more GPUs or lower tensor_parallel_size"
            )


def check_design(store: ManifestStore, force: bool) -> None:
    """Compare the campaign file's current design hash with the one the campaign was started with."""
    src = store.manifest.campaign_file
    if force or not src or not Path(src).is_file():
        return
    loaded = load_campaign(Path(src))
    now = loaded.config.campaign_design_hash
    if now != store.manifest.design_hash:
        raise CampaignError(
            f"{src}: design changed since this campaign started (hash {store.manifest.design_hash} -> {now}); "
            "start a new campaign with `llem campaign up`, or pass --force to finish the original design"
        )


def status(campaign_dir: Path) -> ManifestStore:
    """Read a campaign's manifest for display."""
    return ManifestStore.load(CampaignLayout(Path(campaign_dir)).manifest)
