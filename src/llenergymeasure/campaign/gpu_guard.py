"""A unit's GPU settings (``gpu.*``) as the host handles them: checked before ``up``, applied around units.

Under the local and docker executors the host sets them on the unit's own GPUs before it starts the
unit (so before the unit's warmup and idle baseline) and puts them back when the unit ends, however
it ends (gpu/guard.py): the host, not the unit, holds NVML for this, so a container needs no extra
capability. A host killed mid-unit leaves a journal (gpu/journal.py) that ``resume``, the next
``up`` and ``llem gpu restore DIR`` put back before anything else. Slurm units run on nodes the host
cannot reach: their jobs do the same on their node (experiment/gpunode.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from llenergymeasure.config.experiment import ExperimentConfig, GpuSettings
from llenergymeasure.energy.nvml import load_pynvml
from llenergymeasure.energy.scope import parse_visible
from llenergymeasure.errors import CampaignBusyError, EnergyUnavailableError, GpuSettingsError
from llenergymeasure.gpu import control
from llenergymeasure.gpu.guard import restore_journal, unit_gpu_indices
from llenergymeasure.gpu.journal import Journal, Record, state_dir
from llenergymeasure.gpu.settings import Capabilities, Target, problems

NvmlLoader = Callable[[], Any]


def target_of(settings: GpuSettings) -> Target:
    """What a ``gpu`` section asks the driver for."""
    return Target.of(settings.power_limit_w, settings.sm_clock_mhz, settings.memory_clock_mhz)


def unit_indices(
    nvml: Any, uuids: Sequence[str], config: ExperimentConfig, visible: tuple[str, ...] | None = None
) -> list[int]:
    """The NVML indices of a unit's GPUs (``gpu.guard.unit_gpu_indices``: its slot, else the GPUs its engine uses).

    ``visible``: the GPUs the unit will see (``Executor.visible_gpus``); None: every GPU.
    """
    return unit_gpu_indices(nvml, uuids, visible, config.gpu_count(), config.energy.gpu_indices)


def plan_problems(
    configs: Sequence[tuple[str, ExperimentConfig]], executor: str, nvml_loader: NvmlLoader = load_pynvml
) -> list[str]:
    """Every ``gpu.*`` request checked against the GPUs before anything starts: one line per problem.

    ``configs``: (where the experiment was written, its config). Each GPU's limits, clocks and the
    permission to change them are read from NVML without changing anything. Under Slurm the host
    cannot reach the nodes' GPUs: each job checks its own on its node before it changes them.
    """
    asked = [(where, c) for where, c in configs if not c.gpu.is_empty()]
    if not asked:
        return []
    if executor == "slurm":  # the nodes' GPUs: each job checks its own before changing them (gpunode)
        return []
    try:
        nvml = nvml_loader()
    except EnergyUnavailableError as exc:
        return [f"{asked[0][0]}: gpu.* needs NVML on this host to change GPU settings ({exc})"]
    out: list[str] = []
    probed: dict[tuple[int, ...], list[Capabilities]] = {}  # each GPU read (and probed) once
    # The GPUs units will see: this host's CUDA_VISIBLE_DEVICES for local units; a container without
    # slots gets every GPU (or --gpus, whose slots then name them).
    visible = parse_visible(os.environ.get("CUDA_VISIBLE_DEVICES")) if executor == "local" else None
    for where, config in asked:
        try:
            indices = tuple(unit_indices(nvml, (), config, visible))
        except GpuSettingsError as exc:
            out.append(f"{where}: {exc}")
            continue
        if indices not in probed:
            probed[indices] = control.capabilities(nvml, indices)
        out += [p for p in problems(target_of(config.gpu), probed[indices], where) if p not in out]
    return out


def restore_crashed(owners: Path | None = None, nvml_loader: NvmlLoader = load_pynvml) -> list[tuple[Path, Record]]:
    """At ``up``: put back GPUs that campaigns which died (their lock free) left changed on this host.

    A campaign that still runs holds its lock and keeps its GPUs; one that died is taken over just
    long enough to restore from its journal.
    """
    from llenergymeasure.campaign.lock import CampaignLock

    folder = owners if owners is not None else state_dir() / "gpu-owners"
    if not folder.is_dir():
        return []
    done: list[tuple[Path, Record]] = []
    for owner in sorted(folder.iterdir()):
        campaign = Path(owner.read_text(encoding="utf-8").strip() or ".")
        journal = Journal(campaign, folder)
        if not journal.holds(owner.name):
            continue
        try:
            with CampaignLock.acquire(campaign):
                restored, _ = restore_journal(journal, nvml_loader)
                done += [(campaign, r) for r in restored]
        except CampaignBusyError:
            continue  # it runs: its GPUs are its own until it ends
    return done


def host_restore(
    campaign_dir: Path, running: Sequence[str] = (), nvml_loader: NvmlLoader = load_pynvml
) -> tuple[list[Record], list[Record]]:
    """``restore_journal`` of the campaign's own journal (``resume``, ``llem gpu restore DIR``)."""
    return restore_journal(Journal(campaign_dir), nvml_loader, running)
