"""Prepare a campaign: create its directory, lock it, and write unit configs, a snapshot and a pending manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import yaml

from llenergymeasure import __version__
from llenergymeasure.atomic import write_atomic, write_json_atomic
from llenergymeasure.campaign.layout import CampaignLayout, create_campaign_dir
from llenergymeasure.campaign.lock import CampaignLock
from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.campaign.plan import CampaignPlan
from llenergymeasure.campaign.slots import gpus_per_unit
from llenergymeasure.campaign.store import ManifestStore
from llenergymeasure.config.campaign import ExecutionConfig
from llenergymeasure.config.datasets import FILE_DATASETS, HfDataset, JsonlDataset
from llenergymeasure.config.experiment import ExperimentConfig, ServerScenario
from llenergymeasure.config.telemetry import EngineTelemetryConfig
from llenergymeasure.errors import CampaignError
from llenergymeasure.workload.readers import hf_snapshot_bytes


def prepare_campaign(
    plan: CampaignPlan,
    results_root: Path,
    campaign_file: Path | None,
    executor: str,
    run_id: str | None = None,
    gpus: str | None = None,
    images: dict[str, str] | None = None,
) -> tuple[CampaignLayout, ManifestStore, CampaignLock]:
    """Create the campaign directory, lock it, and write unit configs, a resolved snapshot and a pending manifest.

    The lock is taken right after the directory is made, before anything is written into it; the
    caller releases it when the run ends. All or nothing: if any of it cannot be written (disk full,
    say), the new directory is removed again, so a failed start leaves no half-made campaign for
    ``resume`` to trip over. ``images``: service -> image the units run in (docker executor), kept in
    the snapshot so ``resume`` can refuse other images.
    """
    layout = create_campaign_dir(results_root, plan.config.name)
    lock: CampaignLock | None = None
    try:
        lock = CampaignLock.acquire(layout.root, run_id)
        return layout, _populate(layout, plan, campaign_file, executor, gpus, images or {}), lock
    except OSError as exc:
        _discard(layout, lock)
        raise CampaignError(
            f"{exc.filename or layout.root}: cannot write campaign files ({exc.strerror or exc}); nothing was started"
        ) from None
    except BaseException:
        _discard(layout, lock)
        raise


def plan_entries(plan: CampaignPlan) -> list[ManifestEntry]:
    """The pending manifest entries of ``plan``, in its order: at ``up``, and when ``resume`` rebuilds a torn manifest.

    Unit configs are ``configs/{exp_id}.yaml`` (``_populate`` writes them there).
    """
    return [
        ManifestEntry(
            key=u.key,
            exp_id=u.experiment.exp_id,
            config_hash=u.experiment.config_hash,
            config_summary=u.experiment.summary,
            backend=u.experiment.config.backend,
            service=u.service,
            cycle=u.cycle,
            result_file=f"{u.result_stem}.json",
            config_file=f"configs/{u.experiment.exp_id}.yaml",
            n_gpus=gpus_per_unit(u.experiment.config),
        )
        for u in plan.units
    ]


def _discard(layout: CampaignLayout, lock: CampaignLock | None) -> None:
    shutil.rmtree(layout.root, ignore_errors=True)
    if lock is not None:
        lock.release()


def _populate(
    layout: CampaignLayout,
    plan: CampaignPlan,
    campaign_file: Path | None,
    executor: str,
    gpus: str | None,
    images: dict[str, str],
) -> ManifestStore:
    for exp in plan.experiments:
        path = layout.configs / f"{exp.exp_id}.yaml"
        cfg = _portable_trace(_portable(exp.config, layout.configs), layout.configs)
        data = cfg.model_dump(mode="json", exclude_none=True)
        # The offline default is left out, as in the identity, so an image older than server mode
        # still reads the unit configs of an offline campaign.
        if data.get("scenario") == {"kind": "offline"}:
            del data["scenario"]
        # So are fields added since, at their defaults (the identity leaves them out too).
        if data.get("output_lengths") == "fixed":
            del data["output_lengths"]
        if data.get("telemetry") == EngineTelemetryConfig().model_dump(mode="json"):
            del data["telemetry"]
        write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode())
    source = str(campaign_file.resolve()) if campaign_file else None
    # How it runs, beside what it is: a manifest rebuilt from the snapshot (rebuild.py) keeps its
    # executor, so a torn Slurm manifest is not resumed by the local executor (SNAPSHOT_EXTRAS).
    write_json_atomic(
        layout.campaign_snapshot,
        {
            **plan.config.model_dump(mode="json"),
            "shuffle_seed": plan.shuffle_seed,
            "varying": plan.varying,
            "executor": executor,
            "gpus": gpus,
            "campaign_file": source,
            "images": images,
        },
    )
    entries = plan_entries(plan)
    manifest = CampaignManifest(
        campaign=plan.config.name,
        design_hash=plan.config.campaign_design_hash,
        llem_version=__version__,
        campaign_file=source,
        executor=executor,
        gpus=gpus,
        entries=entries,
    )
    store = ManifestStore(layout.manifest, manifest)
    write_atomic(layout.manifest, store.render())  # raises, unlike save(): a campaign needs its manifest
    return store


def _portable(cfg: ExperimentConfig, configs_dir: Path) -> ExperimentConfig:
    """Copy a dataset next to the unit configs, named by its content, so the folder is self-contained.

    Content-addressed (``dataset_{digest}`` keeping the file's extension; a jsonl file is always
    ``.jsonl``): two files of the same name in different folders get two copies, and the copy is
    checked against the digest the plan was made with (a file edited between planning and start is
    refused rather than measured under the wrong identity). A Hugging Face dataset is written as its
    canonical JSONL and named in ``snapshot``, so units read that file and never need ``datasets``.
    """
    ds = cfg.dataset
    if isinstance(ds, HfDataset):
        src = Path(ds.snapshot) if ds.snapshot is not None else None
        suffix = ".jsonl"
    elif isinstance(ds, FILE_DATASETS):
        src = Path(ds.path)
        suffix = ".jsonl" if isinstance(ds, JsonlDataset) else src.suffix.lower()
    else:
        return cfg
    if src is None:
        assert isinstance(ds, HfDataset)
        data, where = hf_snapshot_bytes(ds), ds.path or f"hf dataset {ds.name}"
    else:
        data, where = _read(src, "dataset"), str(src)
    name, digest = _ship(data, ds.sha256, where, "dataset", "dataset_{}" + suffix, configs_dir)
    field = "snapshot" if isinstance(ds, HfDataset) else "path"
    return cfg.model_copy(update={"dataset": ds.model_copy(update={field: name, "sha256": digest})})


def _portable_trace(cfg: ExperimentConfig, configs_dir: Path) -> ExperimentConfig:
    """Copy a replayed trace next to the unit configs as ``trace_{digest}.jsonl``, checked as a dataset is."""
    scenario = cfg.scenario
    replay = scenario.replay if isinstance(scenario, ServerScenario) else None
    if replay is None:
        return cfg
    src = Path(replay.path)
    name, digest = _ship(_read(src, "trace"), replay.sha256, str(src), "trace", "trace_{}.jsonl", configs_dir)
    moved = replay.model_copy(update={"path": name, "sha256": digest})
    return cfg.model_copy(update={"scenario": scenario.model_copy(update={"replay": moved})})


def _read(src: Path, what: str) -> bytes:
    try:
        return src.read_bytes()
    except OSError as exc:
        raise CampaignError(f"{src}: cannot read {what} ({exc.strerror or exc})") from None


def _ship(data: bytes, pinned: str | None, where: str, what: str, pattern: str, configs_dir: Path) -> tuple[str, str]:
    """Write ``data`` into ``configs_dir`` named by its content (``pattern`` with 16 hex digits); (name, digest).

    Checked against the digest the plan was made with: a file edited between planning and start is
    refused rather than measured under the wrong identity.
    """
    digest = hashlib.sha256(data).hexdigest()
    if pinned is not None and digest != pinned:
        raise CampaignError(
            f"{where}: {what} changed while the campaign was being planned; run `llem campaign up` anew"
        )
    dst = configs_dir / pattern.format(digest[:16])
    if not dst.exists():
        write_atomic(dst, data)
    return dst.name, digest


def load_execution(layout: CampaignLayout) -> ExecutionConfig:
    """The execution settings the campaign was planned with."""
    try:
        snapshot = json.loads(layout.campaign_snapshot.read_text())
        return ExecutionConfig.model_validate(snapshot["execution"])
    except (OSError, ValueError, KeyError) as exc:
        raise CampaignError(f"{layout.campaign_snapshot}: unreadable ({exc}); cannot resume") from None
