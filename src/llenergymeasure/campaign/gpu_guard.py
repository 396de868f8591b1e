"""A unit's GPU settings (``gpu.*``) applied by the host around the unit, journalled, and always put back.

The host sets them on the unit's own GPUs before it starts the unit (so before the unit's warmup and
idle baseline) and puts them back when the unit ends, however it ends: result, failure, timeout,
Ctrl-C. The host, not the unit, holds NVML for this: under Docker the container needs no extra
capability, and a host killed mid-unit leaves a journal (gpu/journal.py) that ``resume``, the next
``up`` and ``llem gpu restore DIR`` put back before anything else. Slurm units run on nodes the host
cannot reach: ``gpu.*`` is refused there before anything starts.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from llenergymeasure.config.experiment import ExperimentConfig, GpuSettings
from llenergymeasure.energy.nvml import load_pynvml
from llenergymeasure.errors import CampaignBusyError, EnergyUnavailableError, GpuSettingsError
from llenergymeasure.gpu import control
from llenergymeasure.gpu.journal import Journal, Record, state_dir
from llenergymeasure.gpu.settings import Capabilities, Target, problems

NvmlLoader = Callable[[], Any]
_JOURNAL_LOCK = threading.Lock()  # units on several slots journal from worker threads of one host


def target_of(settings: GpuSettings) -> Target:
    """What a ``gpu`` section asks the driver for."""
    return Target.of(settings.power_limit_w, settings.sm_clock_mhz, settings.memory_clock_mhz)


def unit_indices(nvml: Any, uuids: Sequence[str], config: ExperimentConfig) -> list[int]:
    """The NVML indices of a unit's GPUs: its slot's UUIDs, else ``energy.gpu_indices``, else every GPU."""
    count = int(nvml.nvmlDeviceGetCount())
    if uuids:
        by_uuid = {_uuid(nvml, i): i for i in range(count)}
        missing = [u for u in uuids if u not in by_uuid]
        if missing:
            raise GpuSettingsError(f"gpu.*: the unit's GPUs {', '.join(missing)} are not visible to NVML here")
        return [by_uuid[u] for u in uuids]
    if config.energy.gpu_indices:
        return list(config.energy.gpu_indices)
    return list(range(count))


def _uuid(nvml: Any, index: int) -> str:
    raw = nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(index))
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def plan_problems(
    configs: Sequence[tuple[str, ExperimentConfig]], executor: str, nvml_loader: NvmlLoader = load_pynvml
) -> list[str]:
    """Every ``gpu.*`` request checked against the GPUs before anything starts: one line per problem.

    ``configs``: (where the experiment was written, its config). Under Slurm the host cannot reach the
    nodes' GPUs, so any request is refused there; elsewhere each GPU's limits, clocks and the
    permission to change them are read from NVML without changing anything.
    """
    asked = [(where, c) for where, c in configs if not c.gpu.is_empty()]
    if not asked:
        return []
    if executor == "slurm":
        return [
            f"{asked[0][0]}: gpu.* (power limit, locked clocks) is applied by the host around each unit, and"
            " under --executor slurm the units' GPUs are on other nodes; run this campaign with --executor"
            " local or docker on the GPU machine, or drop gpu.*"
        ]
    try:
        nvml = nvml_loader()
    except EnergyUnavailableError as exc:
        return [f"{asked[0][0]}: gpu.* needs NVML on this host to change GPU settings ({exc})"]
    out: list[str] = []
    probed: dict[tuple[int, ...], list[Capabilities]] = {}  # each GPU read (and probed) once
    for where, config in asked:
        indices = tuple(unit_indices(nvml, (), config))
        if indices not in probed:
            probed[indices] = control.capabilities(nvml, indices)
        out += [p for p in problems(target_of(config.gpu), probed[indices], where) if p not in out]
    return out


class UnitSettings:
    """Applies one unit's ``gpu.*`` to its GPUs and puts them back; every step journalled first."""

    def __init__(self, campaign_dir: Path, nvml_loader: NvmlLoader = load_pynvml, owners: Path | None = None) -> None:
        self.journal = Journal(campaign_dir, owners)
        self.nvml_loader = nvml_loader
        self.host = socket.gethostname()

    @contextmanager
    def applied(self, unit: str, config: ExperimentConfig | None, uuids: Sequence[str]) -> Iterator[None]:
        """Within this block the unit's GPUs run under ``config.gpu``; on leaving, however, they are put back."""
        if config is None or config.gpu.is_empty():
            yield
            return
        nvml = self.nvml_loader()
        target = target_of(config.gpu)
        changed: list[int] = []
        try:
            for index in unit_indices(nvml, uuids, config):
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
        records = {r.index: r for r in self.journal.records().values()}
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


def restore_journal(journal: Journal, nvml_loader: NvmlLoader = load_pynvml) -> list[Record]:
    """Put back every GPU ``journal`` has open (a crash's leftovers); the records restored, in order.

    Run before anything else by ``resume`` and ``llem gpu restore``. Raises when a GPU cannot be put
    back (no NVML here, no permission): the campaign must not run on a GPU in an unknown state.
    """
    open_records = journal.open_records()
    if not open_records:
        return []
    try:
        nvml = nvml_loader()
    except EnergyUnavailableError as exc:
        names = ", ".join(r.uuid for r in open_records)
        raise GpuSettingsError(
            f"{journal.path}: GPUs {names} may still hold this campaign's settings, and they cannot be put back"
            f" here ({exc}); run `llem gpu restore {journal.campaign_dir}` on {open_records[0].host}"
        ) from None
    by_uuid = {_uuid(nvml, i): i for i in range(int(nvml.nvmlDeviceGetCount()))}
    done = []
    for record in open_records:
        index = by_uuid.get(record.uuid)
        if index is None:
            raise GpuSettingsError(
                f"{journal.path}: GPU {record.uuid} (changed by {record.unit} on {record.host}) is not on this"
                f" machine; run `llem gpu restore {journal.campaign_dir}` on {record.host}"
            )
        control.restore(nvml, index, record.original)
        with _JOURNAL_LOCK:
            journal.mark(record.uuid, "restored")
        done.append(record)
    return done


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
                done += [(campaign, r) for r in restore_journal(journal, nvml_loader)]
        except CampaignBusyError:
            continue  # it runs: its GPUs are its own until it ends
    return done


def unit_config(path: Path) -> ExperimentConfig | None:
    """The unit's config as ``llem-exp`` will read it; None when it cannot be read (``llem-exp`` says why)."""
    try:
        return ExperimentConfig.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, yaml.YAMLError):
        return None
