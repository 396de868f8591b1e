"""The campaign operations behind the CLI: up, resume, status. Each is one call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.loader import LoadedCampaign, load_campaign
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
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.dispatch.base import Executor
from llenergymeasure.errors import CampaignError


@dataclass(frozen=True)
class CampaignRun:
    """Where a campaign lives and its final manifest state."""

    layout: CampaignLayout
    store: ManifestStore


def plan_campaign(campaign_file: Path) -> tuple[LoadedCampaign, CampaignPlan]:
    """Load, expand and order a campaign file; no side effects."""
    loaded = load_campaign(campaign_file)
    return loaded, build_plan(loaded.config, loaded.sources)


def up(
    campaign_file: Path,
    results_root: Path,
    executor: Executor,
    on_event: EventSink = noop,
) -> CampaignRun:
    """Plan, create the campaign directory, and run every unit."""
    _, plan = plan_campaign(campaign_file)
    layout, store = prepare_campaign(plan, results_root, campaign_file, executor.name)
    on_event(Event("created", message=str(layout.root)))
    run_pending(layout, store, executor, plan.config.execution, on_event)
    return CampaignRun(layout, store)


def resume(
    campaign_dir: Path,
    executor: Executor,
    force: bool = False,
    on_event: EventSink = noop,
) -> CampaignRun:
    """Finish exactly what a campaign has left; refuses if its campaign file changed design."""
    layout = CampaignLayout(Path(campaign_dir))
    store = ManifestStore.load(layout.manifest)
    check_design(store, force)
    store.remove_stale_temp_files()
    execution = load_execution(layout)
    recover(layout, store, executor, execution, on_event)
    run_pending(layout, store, executor, execution, on_event)
    return CampaignRun(layout, store)


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
