"""The campaign operations behind the CLI: up, resume, status. Each is one call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llenergymeasure.backends.registry import SERVICES
from llenergymeasure.campaign.layout import MANIFEST_NAME, CampaignLayout
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
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.dispatch.base import Executor
from llenergymeasure.dispatch.preflight import engine_problems
from llenergymeasure.energy.nvml import visible_gpu_count
from llenergymeasure.energy.scope import host_gpu_index_errors
from llenergymeasure.errors import CampaignError, ConfigError, ManifestError
from llenergymeasure.models.resolve import model_problem


@dataclass(frozen=True)
class CampaignRun:
    """Where a campaign lives, its final manifest state, and how many units this run had to run."""

    layout: CampaignLayout
    store: ManifestStore
    run_id: str = ""
    to_run: int = 0  # pending units once recovery was done; 0: there was nothing to do


def plan_campaign(
    campaign_file: Path, gpu_count: Callable[[], int | None] = visible_gpu_count
) -> tuple[LoadedCampaign, CampaignPlan]:
    """Load, expand and order a campaign file, and check it against this machine's GPUs; no side effects.

    ``energy.gpu_indices`` naming a GPU this machine does not have is a config error here, before
    anything runs (where NVML is readable: a login node without GPUs checks nothing).
    """
    loaded = load_campaign(campaign_file)
    plan = build_plan(loaded.config, loaded.sources)
    if any(e.config.energy.gpu_indices for e in plan.experiments):
        n_gpus = gpu_count()
        if n_gpus is not None:
            errors = host_gpu_index_errors(
                [(f"{campaign_file}: {e.source or e.exp_id}", e.config.energy.gpu_indices) for e in plan.experiments],
                n_gpus,
            )
            if errors:
                raise ConfigError("\n".join(errors))
    return loaded, plan


@dataclass(frozen=True)
class EarlierRun:
    """A campaign folder under the results root that ran the same design."""

    path: Path
    completed: bool  # every unit completed


def same_design_runs(results_root: Path, design_hash: str) -> list[EarlierRun]:
    """Campaigns under ``results_root`` with this design hash, oldest first; unreadable ones are passed over."""
    runs = []
    for path in sorted(Path(results_root).glob(f"*/{MANIFEST_NAME}")):
        try:
            manifest = ManifestStore.load(path).manifest
        except ManifestError:
            continue
        if manifest.design_hash == design_hash:
            c = manifest.counters()
            runs.append(EarlierRun(path.parent, c.completed == c.total))
    return runs


def repeat_notes(campaign_file: Path, plan: CampaignPlan, results_root: Path, again: bool) -> list[str]:
    """Refuse to measure again a design that already completed (unless ``again``); notes on the others.

    A researcher re-running ``up`` by mistake would otherwise get a second campaign of the same
    design, silently, and spend the hours again.
    """
    design = plan.config.campaign_design_hash
    runs = same_design_runs(results_root, design)
    done = [r.path for r in runs if r.completed]
    if done and not again:
        raise CampaignError(
            f"{campaign_file}: this design (hash {design}) already completed in {done[-1]}; "
            f"`llem results {done[-1]}` reads it, or pass --again to measure it anew in a new campaign folder"
        )
    notes = [f"this design already completed in {d}; measuring it anew (--again)" for d in done]
    notes += [
        f"an unfinished campaign of this design is in {r.path} (`llem campaign resume {r.path}` finishes it); "
        "starting a new one"
        for r in runs
        if not r.completed
    ]
    return notes


def preflight(plan: CampaignPlan, executor: Executor | None) -> list[str]:
    """What would fail units of ``plan`` before they measure anything: one line each, with the fix.

    Each model is checked once (not once per unit), and each backend's engine under ``executor``
    (None: models only). Seconds, not the minutes of retries a bad model costs every unit.
    """
    models = dict.fromkeys(e.config.model for e in plan.experiments)
    problems = [p for m in models if (p := model_problem(m))]
    if executor is not None:
        problems += engine_problems(executor, [e.config.backend for e in plan.experiments])
    return problems


def resume_preflight(campaign_dir: Path, executor: Executor) -> list[str]:
    """The engine check of ``preflight`` for the backends a campaign's manifest still has to run."""
    manifest = status(campaign_dir).manifest
    backend_of = {service: backend for backend, service in SERVICES.items()}
    pending = [e.service for e in manifest.entries if e.status not in ("completed", "skipped")]
    return engine_problems(executor, [backend_of.get(s, s) for s in pending])


def refuse(problems: list[str], what: str) -> None:
    """Raise one error with a line per preflight problem and how to skip the check."""
    if problems:
        raise CampaignError(
            "\n".join([*problems, f"{what}: {len(problems)} preflight problem(s); --no-preflight skips these checks"])
        )


def up(
    campaign_file: Path,
    results_root: Path,
    executor: Executor,
    on_event: EventSink = noop,
) -> CampaignRun:
    """Plan, create and lock the campaign directory, and run every unit; the lock goes when this returns."""
    _, plan = plan_campaign(campaign_file)
    layout, store, lock = prepare_campaign(plan, results_root, campaign_file, executor.name)
    with lock:
        on_event(Event("created", message=str(layout.root)))
        run_pending(layout, store, executor, plan.config.execution, lock.run_id, on_event)
    return CampaignRun(layout, store, lock.run_id, len(plan.units))


def resume(
    campaign_dir: Path,
    executor: Executor,
    force: bool = False,
    on_event: EventSink = noop,
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
        to_run = store.manifest.counters().pending
        run_pending(layout, store, executor, execution, lock.run_id, on_event)
    return CampaignRun(layout, store, lock.run_id, to_run)


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
