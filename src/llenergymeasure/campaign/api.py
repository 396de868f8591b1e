"""The campaign operations behind the CLI: up, resume, status. Each is one call."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from llenergymeasure.atomic import write_json_atomic
from llenergymeasure.backends.registry import SERVICES
from llenergymeasure.campaign import gpu_guard
from llenergymeasure.campaign.events import Event, EventSink, noop
from llenergymeasure.campaign.layout import MANIFEST_NAME, CampaignLayout
from llenergymeasure.campaign.loader import LoadedCampaign, load_campaign
from llenergymeasure.campaign.lock import CampaignLock
from llenergymeasure.campaign.plan import CampaignPlan, build_plan
from llenergymeasure.campaign.prepare import load_execution, prepare_campaign
from llenergymeasure.campaign.rebuild import load_manifest
from llenergymeasure.campaign.recover import recover
from llenergymeasure.campaign.schedule import run_pending
from llenergymeasure.campaign.slots import gpus_per_unit
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.config.dotted import flatten
from llenergymeasure.dispatch.base import Executor
from llenergymeasure.dispatch.gpus import Gpu
from llenergymeasure.dispatch.preflight import engine_problems, model_path_problems, scheduler_problems
from llenergymeasure.energy.nvml import visible_gpu_count
from llenergymeasure.energy.scope import host_gpu_index_errors
from llenergymeasure.errors import CampaignError, ConfigError, ExecutorError, ManifestError
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
        problems += scheduler_problems(executor, [gpus_per_unit(e.config) for e in plan.experiments])
        problems += model_path_problems(executor, models)  # a local model folder the units could not reach
        configs = [(e.source or e.exp_id, e.config) for e in plan.experiments]
        problems += gpu_guard.plan_problems(configs, executor.name)  # limits, clocks, permission, per GPU
    return problems


def resume_preflight(campaign_dir: Path, executor: Executor) -> list[str]:
    """The engine check of ``preflight`` for the backends a campaign's manifest still has to run."""
    manifest = status(campaign_dir, executor.name).manifest
    backend_of = {service: backend for backend, service in SERVICES.items()}
    left = [e for e in manifest.entries if e.status not in ("completed", "skipped")]
    problems = engine_problems(executor, [backend_of.get(e.service, e.service) for e in left])
    return problems + scheduler_problems(executor, [e.n_gpus for e in left])


def refuse(problems: list[str], what: str) -> None:
    """Raise one error with a line per preflight problem and how to skip the check."""
    if problems:
        raise CampaignError(
            "\n".join([*problems, f"{what}: {len(problems)} preflight problem(s); --no-preflight skips these checks"])
        )


def up(
    plan: CampaignPlan,
    campaign_file: Path,
    results_root: Path,
    executor: Executor,
    on_event: EventSink = noop,
    gpus: Sequence[Gpu] = (),
    gpus_spec: str | None = None,
) -> CampaignRun:
    """Create and lock the campaign directory of ``plan`` (the one preflight checked), and run every unit.

    The lock goes when this returns. With ``gpus`` units run concurrently, one per free slot of
    those GPUs; ``gpus_spec`` (what the user wrote, e.g. ``all``) is kept in the manifest for ``resume``.
    """
    check_slots(plan, campaign_file, gpus)
    for campaign, record in gpu_guard.restore_crashed():  # a dead campaign's GPU settings, before anything else
        on_event(Event("note", message=f"put back GPU {record.uuid}'s settings, left changed by {campaign}"))
    images = campaign_images(executor.name, [SERVICES[e.config.backend] for e in plan.experiments])
    layout, store, lock = prepare_campaign(
        plan, results_root, campaign_file, executor.name, gpus=gpus_spec, images=images
    )
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
    allow_image_change: bool = False,
) -> CampaignRun:
    """Finish exactly what a campaign has left; refuses if another run holds it or its design changed.

    Under the docker executor it also refuses images other than those recorded at ``up``
    (``check_images``), unless ``allow_image_change``.

    The campaign lock is taken before anything is read for use or changed: a second ``up`` or
    ``resume`` on the same directory fails at once naming the holder (``CampaignBusyError``).
    """
    layout = CampaignLayout(Path(campaign_dir))
    if not layout.manifest.is_file() and not layout.campaign_snapshot.is_file():
        ManifestStore.load(layout.manifest)  # raises the one-line "no manifest here" error
    with CampaignLock.acquire(layout.root) as lock:
        store, rebuilt = load_manifest(layout, executor.name, write=True)  # an empty or torn one is rebuilt
        if rebuilt:
            on_event(Event("rebuilt", message=rebuilt))
        # Before any unit runs: GPUs as they were. Slurm jobs that outlived their host still hold
        # theirs and put them back themselves on their node.
        jobs = (
            [e.key for e in store.manifest.entries if e.status == "running" and e.job_id] if executor.on_nodes else []
        )
        restored, elsewhere = gpu_guard.host_restore(layout.root, jobs)
        for record in restored:
            on_event(Event("note", message=f"put back GPU {record.uuid}'s settings, left changed by {record.unit}"))
        for record in elsewhere:  # a node's GPU: its job puts it back on exit; here it cannot be confirmed
            on_event(
                Event(
                    "note",
                    message=(
                        f"GPU {record.uuid} on {record.host}: restore not confirmed (changed by {record.unit},"
                        f" {record.phase}); if its job is gone, run `llem gpu restore {layout.root}` on {record.host}"
                    ),
                )
            )
        check_design(store, force)
        execution, notes = resume_execution(layout, store, force)
        if notes:
            write_json_atomic(
                layout.campaign_snapshot, {**_snapshot(layout), "execution": execution.model_dump(mode="json")}
            )
            for note in notes:
                on_event(Event("note", message=note))
        check_executor(layout, store, executor, execution, rebuilt=rebuilt is not None)
        services = [e.service for e in store.manifest.entries]
        for note in check_images(layout, campaign_images(executor.name, services), allow_image_change):
            on_event(Event("note", message=note))
        recover(layout, store, executor, execution, lock.run_id, on_event)
        counts = store.manifest.counters()
        to_run = counts.pending + counts.running  # running: jobs a scheduler still runs, adopted
        run_pending(layout, store, executor, execution, lock.run_id, on_event, gpus=gpus)
    return CampaignRun(layout, store, lock.run_id, to_run)


# Execution settings that decide which units exist and in what order: fixed once a campaign started.
PLAN_FIELDS = ("n_cycles", "cycle_order", "shuffle_seed")


def resume_execution(
    layout: CampaignLayout, store: ManifestStore, force: bool = False
) -> tuple[ExecutionConfig, list[str]]:
    """The execution settings ``resume`` runs with, and a note for each edited one it takes.

    Edits to the campaign file's ``execution`` since ``up`` (timeouts, retries, gaps, Slurm options)
    are taken. Edits to what decides the units themselves (``PLAN_FIELDS``) are refused with one
    line naming each difference; with ``force`` the original ones are kept and named instead.
    """
    stored = load_execution(layout)
    src = store.manifest.campaign_file
    if not src or not Path(src).is_file():
        return stored, []
    current = load_campaign(Path(src)).config.execution
    was, now = flatten(stored.model_dump(mode="json")), flatten(current.model_dump(mode="json"))
    diffs = [(k, was.get(k), now.get(k)) for k in dict.fromkeys([*was, *now]) if was.get(k) != now.get(k)]
    if not diffs:
        return stored, []
    fixed = [(k, a, b) for k, a, b in diffs if k.split(".")[0] in PLAN_FIELDS]
    said = "; ".join(f"execution.{k}: {a!r} -> {b!r}" for k, a, b in fixed)
    if fixed and not force:
        raise CampaignError(
            f"{src}: execution settings that decide the units changed since this campaign started ({said}); "
            "put them back, start a new campaign with `llem campaign up`, or pass --force to keep the original ones"
        )
    keep = {k: getattr(stored, k) for k in PLAN_FIELDS}
    taken = current.model_copy(update=keep)
    notes = [
        f"taking the edited execution.{k} from {src}: {a!r} -> {b!r}" for k, a, b in diffs if (k, a, b) not in fixed
    ]
    notes += [f"--force: keeping the original {said}"] if fixed else []
    return taken, notes


def _snapshot(layout: CampaignLayout) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(layout.campaign_snapshot.read_text())
    return loaded


def campaign_images(executor: str, services: Sequence[str]) -> dict[str, str]:
    """The image each service's units run in, where the executor runs images (docker); else empty."""
    if executor != "docker":
        return {}
    from llenergymeasure.dispatch.docker import selected_images

    return selected_images(services)


def check_images(layout: CampaignLayout, selected: dict[str, str], allow: bool = False) -> list[str]:
    """Refuse images other than the ones recorded at ``up``; with ``allow`` record the new ones and say so.

    ``selected``: the images this run would use (``campaign_images``); empty: nothing to compare.
    """
    from llenergymeasure.dispatch.docker import image_change_problem

    if not selected or not layout.campaign_snapshot.is_file():
        return []
    snapshot = _snapshot(layout)
    stored = snapshot.get("images")
    recorded = {str(k): str(v) for k, v in stored.items()} if isinstance(stored, dict) else {}
    problem = image_change_problem(recorded, selected)
    if problem is None:
        return []
    if not allow:
        raise CampaignError(f"{layout.root}: {problem}")
    write_json_atomic(layout.campaign_snapshot, {**snapshot, "images": {**recorded, **selected}})
    return [f"--allow-image-change: {problem.split('; set LLEM_VERSION')[0]}; units from now run in the new image(s)"]


def check_executor(
    layout: CampaignLayout,
    store: ManifestStore,
    executor: Executor,
    execution: ExecutionConfig,
    rebuilt: bool = False,
) -> None:
    """Refuse to resume under another executor while the one the campaign ran under still runs some of its units.

    ``rebuilt``: the manifest was rebuilt and has lost its handles, so the recorded executor's
    queued jobs of this campaign (``strays``, found by name) count as still running too.
    """
    recorded = store.manifest.executor
    handles = [e.handle for e in store.manifest.entries if e.handle and e.status in ("running", "failed")]
    if recorded == executor.name or not (handles or rebuilt):
        return
    from llenergymeasure.dispatch.select import make_executor

    try:
        ran_by = make_executor(recorded, {e.service for e in store.manifest.entries}, execution.slurm)
        live = ran_by.live(handles)
        if rebuilt:
            live |= {s.handle for s in ran_by.strays(layout.root, set())}
    except ExecutorError as exc:
        raise CampaignError(
            f"{layout.root}: started with --executor {recorded}, which cannot be asked whether its units still run "
            f"({exc}); resume with --executor {recorded}"
        ) from None
    if live:
        raise CampaignError(
            f"{layout.root}: {len(live)} unit(s) still run under --executor {recorded} ({', '.join(sorted(live))}); "
            f"resume with --executor {recorded} to wait for them, or stop them first"
        )


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


def status(campaign_dir: Path, executor: str | None = None) -> ManifestStore:
    """Read a campaign's manifest; an empty or torn one is rebuilt, not written.

    ``executor``: the one ``resume`` was given, if any; it stands in for the executor only in a
    rebuild from an older snapshot that records none (without it, that rebuild is refused).
    """
    return load_manifest(CampaignLayout(Path(campaign_dir)), executor)[0]
