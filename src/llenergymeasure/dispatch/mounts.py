"""What a unit's container sees: the campaign read-only, its own outputs writable, nothing else of the host.

A container used to mount the campaign folder read-write, so a unit could rewrite the manifest,
the unit configs or another unit's result. Now:

- the campaign folder is mounted read-only at ``/campaign`` (unit configs, prompt files);
- the unit writes into ``/out``, a staging folder of its own on the host
  (``.unit-out/{service}-{slot}`` in the campaign folder: one unit runs on a slot at a time, and a
  warm container serves one slot); the host moves what it wrote into the campaign folder when the
  unit ends (``harvest``), and ``resume`` harvests what a dead host left (``harvest_all``), before
  it reconciles the manifest with the result files;
- ``thermal/`` (the idle references every unit of the campaign shares) is mounted writable inside
  ``/out``;
- local model folders are mounted read-only at their own absolute paths (they are absolute once
  the campaign is loaded: ``ExperimentConfig.with_resolved_paths``), with the targets of symlinks
  that leave the folder (a Hugging Face snapshot links into ``../../blobs``);
- the Hugging Face cache stays writable at ``/hf-cache`` (downloads).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from llenergymeasure.experiment.cooldown import REFERENCE_DIR
from llenergymeasure.models.resolve import classify

MOUNT = "/campaign"  # the campaign folder, read-only
OUT = "/out"  # the unit's own outputs
HF_CACHE = "/hf-cache"
STAGING = ".unit-out"  # in the campaign folder

Volumes = dict[str, dict[str, str]]


def staging_dir(campaign_dir: Path, service: str, slot: str) -> Path:
    """The host folder a unit of ``service`` on ``slot`` writes into (mounted at ``/out``)."""
    return Path(campaign_dir) / STAGING / f"{service}-{slot or 'main'}"


def prepare_staging(staging: Path, campaign_dir: Path) -> None:
    """Make the staging folder and the shared references' mount point before a container mounts them.

    Made by the host so they belong to the host user (Docker would make missing ones as root).
    """
    (staging / REFERENCE_DIR).mkdir(parents=True, exist_ok=True)
    (Path(campaign_dir) / REFERENCE_DIR).mkdir(exist_ok=True)


def local_models(models: Iterable[str]) -> list[Path]:
    """The models that are folders on this machine, as absolute paths, each once, in order."""
    found: dict[Path, None] = {}
    for model in models:
        if classify(model, Path(model).expanduser().is_dir()) == "path" and Path(model).expanduser().is_dir():
            found[Path(model).expanduser().resolve()] = None
    return list(found)


def campaign_models(campaign_dir: Path) -> list[str]:
    """The ``model`` of every unit config in the campaign folder (``configs/*.yaml``)."""
    models = []
    for path in sorted((Path(campaign_dir) / "configs").glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("model"), str):
            models.append(doc["model"])
    return models


@functools.lru_cache(maxsize=64)
def local_campaign_models(campaign_dir: Path) -> tuple[Path, ...]:
    """The local model folders of a campaign's units; read once per campaign (its unit configs never change)."""
    return tuple(local_models(campaign_models(campaign_dir)))


def model_mounts(folders: Iterable[Path]) -> Volumes:
    """Read-only binds of each model folder at its own path, plus the outside targets of its symlinks."""
    volumes: Volumes = {}
    for folder in folders:
        volumes[str(folder)] = {"bind": str(folder), "mode": "ro"}
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in [*dirnames, *filenames]:
                link = Path(dirpath) / name
                if not link.is_symlink():
                    continue
                target = link.resolve()
                if target != folder and folder not in target.parents:
                    outside = target if target.is_dir() else target.parent
                    volumes.setdefault(str(outside), {"bind": str(outside), "mode": "ro"})
    return volumes


def unit_volumes(campaign_dir: Path, staging: Path, hf_cache: Path, models: Iterable[Path] = ()) -> Volumes:
    """Every bind of a unit's container: the campaign read-only, its outputs, references, cache, models."""
    root = Path(campaign_dir).resolve()
    return {
        str(root): {"bind": MOUNT, "mode": "ro"},
        str(staging.resolve()): {"bind": OUT, "mode": "rw"},
        str(root / REFERENCE_DIR): {"bind": f"{OUT}/{REFERENCE_DIR}", "mode": "rw"},
        str(hf_cache): {"bind": HF_CACHE, "mode": "rw"},
        **model_mounts(models),
    }


def harvest(staging: Path, campaign_dir: Path) -> list[str]:
    """Move what a unit wrote into ``staging`` to the same place in the campaign folder; names moved.

    Each file is renamed (same filesystem, so atomic: a result is whole or absent), sub-folders
    such as ``logs/`` included. Temp files of writes cut short are deleted, never moved; the shared
    references' mount point stays.
    """
    moved: list[str] = []
    if not staging.is_dir():
        return moved
    for dirpath, dirnames, filenames in os.walk(staging, topdown=True):
        here = Path(dirpath)
        if here == staging and REFERENCE_DIR in dirnames:
            dirnames.remove(REFERENCE_DIR)
        rel = here.relative_to(staging)
        for name in sorted(filenames):
            src = here / name
            if name.startswith(".") and name.endswith(".tmp"):
                src.unlink(missing_ok=True)
                continue
            dst = Path(campaign_dir) / rel / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            moved.append(str(rel / name) if rel.parts else name)
    return moved


def harvest_all(campaign_dir: Path) -> list[str]:
    """Harvest every staging folder of the campaign: what units of a dead run wrote before the host died."""
    root = Path(campaign_dir) / STAGING
    moved: list[str] = []
    if root.is_dir():
        for staging in sorted(p for p in root.iterdir() if p.is_dir()):
            moved += harvest(staging, campaign_dir)
    return moved


def proc_mounts() -> str:
    """The text of ``/proc/mounts``; empty where there is none."""
    try:
        return Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _unescape(field: str) -> str:
    """A /proc/mounts path field: spaces, tabs, newlines and backslashes are written as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_of(path: Path, mounts: str) -> tuple[str, str, list[str]] | None:
    """The mount holding ``path`` (resolved) in ``/proc/mounts`` text: mount point, type, options; None if none.

    The longest mount point containing the path; among equal ones the last listed (the one on top).
    """
    target = Path(path).resolve()
    best: tuple[int, str, str, list[str]] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point = Path(_unescape(fields[1]))
        if target != point and point not in target.parents:
            continue
        if best is None or len(point.parts) >= best[0]:
            best = (len(point.parts), str(point), fields[2], fields[3].split(","))
    return None if best is None else best[1:]


# Filesystems whose content exists on one node only: a Slurm job on another node cannot read them.
NODE_LOCAL_FS = frozenset({"tmpfs", "ramfs"})


def slurm_model_problem(model: Path, mounts: str) -> str | None:
    """Why a local model folder may not be readable on a Slurm compute node; None if nothing says so."""
    found = mount_of(model, mounts)
    if found is None or found[1] not in NODE_LOCAL_FS:
        return None
    return (
        f"model {model}: a folder on {found[0]} ({found[1]}), which exists on this node only, so Slurm jobs on "
        "other nodes cannot read it; copy it to a filesystem the compute nodes share (e.g. beside the campaign)"
    )
