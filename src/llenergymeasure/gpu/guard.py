"""Settings applied around one unit, journalled first, put back however it ends; and restore from a journal.

Config-free: callers pass the ``Target`` and the NVML indices of the unit's GPUs. The host uses this
around units of the local and docker executors (campaign/schedule.py); under Slurm the node does,
around ``llem-exp`` (experiment/gpunode.py), so the node that changed a GPU is the one that puts it back.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llenergymeasure.energy.nvml import load_pynvml
from llenergymeasure.errors import ConfigError, EnergyUnavailableError, GpuSettingsError
from llenergymeasure.gpu import control
from llenergymeasure.gpu.journal import Journal, Record
from llenergymeasure.gpu.settings import Target

NvmlLoader = Callable[[], Any]
_JOURNAL_LOCK = threading.Lock()  # units on several slots journal from worker threads of one host


def uuid_of(nvml: Any, index: int) -> str:
    """The UUID of NVML's GPU ``index`` as text."""
    raw = nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(index))
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def unit_gpu_indices(
    nvml: Any,
    uuids: Sequence[str],
    visible: tuple[str, ...] | None,
    gpu_count: int,
    gpu_indices: tuple[int, ...] | None,
) -> list[int]:
    """The NVML indices of the GPUs a unit runs on, the ones its energy is measured on: one rule for host and node.

    ``uuids``: the unit's slot (``--gpus``), when it has one. Otherwise the GPUs its engine uses, as
    ``energy.scope.gpu_targets`` picks them for the measurement: ordinals ``0..gpu_count-1`` (or
    ``energy.gpu_indices``) among ``visible`` (``CUDA_VISIBLE_DEVICES`` as the unit will see it; None:
    every GPU). Never every GPU of the machine for a unit that uses one of them.
    """
    from llenergymeasure.energy.scope import gpu_targets  # light: no NVML import

    count = int(nvml.nvmlDeviceGetCount())
    by_uuid = {uuid_of(nvml, i): i for i in range(count)}
    if uuids:
        missing = [u for u in uuids if u not in by_uuid]
        if missing:
            raise GpuSettingsError(f"gpu.*: the unit's GPUs {', '.join(missing)} are not visible to NVML here")
        return [by_uuid[u] for u in uuids]
    try:
        targets = gpu_targets(visible, count, gpu_count, gpu_indices)
    except EnergyUnavailableError as exc:
        raise GpuSettingsError(f"gpu.* is set but the unit runs on no GPU here ({exc}); remove gpu.*") from None
    except ConfigError as exc:
        raise GpuSettingsError(f"gpu.*: {exc}") from None
    out = []
    for t in targets:
        if t.uuid is not None and t.uuid not in by_uuid:
            raise GpuSettingsError(f"gpu.*: the unit's GPU {t.uuid} is not visible to NVML here")
        out.append(by_uuid[t.uuid] if t.uuid is not None else int(t.nvml_index or 0))
    return out


class UnitSettings:
    """Applies one unit's target to its GPUs and puts them back; every step journalled first."""

    def __init__(self, campaign_dir: Path, nvml_loader: NvmlLoader = load_pynvml, owners: Path | None = None) -> None:
        self.journal = Journal(campaign_dir, owners)
        self.nvml_loader = nvml_loader
        self.host = socket.gethostname()

    @contextmanager
    def applied(self, unit: str, target: Target, indices: Callable[[Any], Sequence[int]]) -> Iterator[None]:
        """Within this block the GPUs ``indices(nvml)`` names run under ``target``; on leaving they are put back."""
        if target.is_empty:
            yield
            return
        nvml = self.nvml_loader()
        changed: list[int] = []
        try:
            for index in indices(nvml):
                state = control.read_state(nvml, index)
                with _JOURNAL_LOCK:
                    self.journal.before_change(index, state, unit, self.host)
                changed.append(index)
                control.apply(nvml, index, target)
                with _JOURNAL_LOCK:
                    self.journal.mark(state.uuid, "applied")
            yield
        finally:
            self._put_back(nvml, changed)

    def _put_back(self, nvml: Any, indices: Sequence[int]) -> None:
        records = {r.index: r for r in self.journal.records().values() if r.host == self.host}
        failures = []
        for index in indices:
            record = records[index]
            try:
                control.restore(nvml, index, record.original)
            except GpuSettingsError as exc:
                failures.append(str(exc))
                continue
            with _JOURNAL_LOCK:
                self.journal.mark(record.uuid, "restored")
        if failures:
            raise GpuSettingsError("; ".join(failures) + f"; the journal {self.journal.path} keeps them open")


def restore_journal(
    journal: Journal, nvml_loader: NvmlLoader, running: Collection[str] = ()
) -> tuple[list[Record], list[Record]]:
    """Put back every GPU of this host ``journal`` has open; (restored, open on other hosts), in order.

    Run before anything else by ``resume`` and ``llem gpu restore``. A GPU of this host that cannot
    be put back (no NVML, no permission) raises: the campaign must not run on a GPU in an unknown
    state. A GPU another host (a Slurm node) changed cannot be reached from here: it is returned for
    the caller to report, as a node whose restore is not confirmed; so is one whose unit is in
    ``running`` (a Slurm job that outlived its host still holds its GPU, and puts it back itself).
    """
    here = socket.gethostname()
    open_records = journal.open_records()
    mine = [r for r in open_records if r.host == here and r.unit not in running]
    elsewhere = [r for r in open_records if r not in mine]
    if not mine:
        return [], elsewhere
    try:
        nvml = nvml_loader()
    except EnergyUnavailableError as exc:
        names = ", ".join(r.uuid for r in mine)
        raise GpuSettingsError(
            f"{journal.path}: GPUs {names} may still hold this campaign's settings, and they cannot be put back"
            f" here ({exc}); run `llem gpu restore {journal.campaign_dir}` where NVML works"
        ) from None
    by_uuid = {uuid_of(nvml, i): i for i in range(int(nvml.nvmlDeviceGetCount()))}
    done = []
    for record in mine:
        index = by_uuid.get(record.uuid)
        if index is None:
            raise GpuSettingsError(
                f"{journal.path}: GPU {record.uuid} (changed by {record.unit}) is not visible to NVML on {here};"
                f" run `llem gpu restore {journal.campaign_dir}` where it is"
            )
        control.restore(nvml, index, record.original)
        with _JOURNAL_LOCK:
            journal.mark(record.uuid, "restored")
        done.append(record)
    return done, elsewhere
