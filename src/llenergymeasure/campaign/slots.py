"""GPU slots: which units may run at once, on which GPUs, and when each GPU has rested enough.

Pure scheduling state, no I/O and no clock of its own (the orchestrator passes ``now``). A slot
is ``n`` GPUs held exclusively by one unit, where ``n`` is the unit's tensor-parallel size; the
GPUs a campaign may use are cut into fixed slots of each size in the order given (``0,1`` and
``2,3`` for size 2), so a unit always gets whole, non-overlapping groups. Gaps apply per GPU: a
GPU rests ``gap(previous unit on it, next unit)`` after its last unit, and other GPUs go on.
Without GPUs there is one slot with no GPUs, and the board behaves exactly like the serial loop
it replaced: one unit at a time, the gap between neighbours in manifest order (or ``lanes`` such
slots, when Slurm places the units and the host only bounds how many are in flight).

Each unit is told how many units may run at once (``LLEM_CONCURRENT_UNITS``, from
``SlotBoard.concurrency``), so it knows whether the whole-socket CPU energy it reads is shared
with other units (``energy/cputime.py``). It is an upper bound: fewer may overlap a given unit
(the last units of a campaign, rests), and under Slurm, lanes placed on different nodes do not
share sockets at all; the unit apportions by its measured share of CPU time either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from llenergymeasure.campaign.manifest import ManifestEntry
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.dispatch.gpus import Gpu
from llenergymeasure.energy.cputime import CONCURRENT_UNITS_ENV

CUDA_DEVICE_ORDER = "PCI_BUS_ID"  # CUDA numbers GPUs like NVML does, not fastest-first
HOST = "host"  # the one slot of a board without GPUs


def gpus_per_unit(config: ExperimentConfig) -> int:
    """A unit's slot size: the GPUs its engine uses (tensor-parallel size), at least 1 (a CPU run still gets a slot).

    The same count the unit measures energy on (``ExperimentConfig.gpu_count``), so a slot is
    exactly the GPUs the unit uses and measures.
    """
    return max(1, config.gpu_count())


@dataclass(frozen=True)
class Slot:
    """GPUs one unit holds exclusively; ``name`` is what the manifest and the result record."""

    name: str
    gpus: tuple[Gpu, ...]

    @property
    def uuids(self) -> tuple[str, ...]:
        """The GPUs' UUIDs, in slot order."""
        return tuple(g.uuid for g in self.gpus)

    def env(self, concurrent_units: int = 1) -> dict[str, str]:
        """Environment that confines a unit to this slot's GPUs, named by UUID (indices differ per process).

        Every unit, with GPUs or not, is also told ``concurrent_units``: how many units the board
        may run at once, itself included (``SlotBoard.concurrency``).
        """
        concurrency = {CONCURRENT_UNITS_ENV: str(concurrent_units)}
        if not self.gpus:
            return concurrency
        return {
            "CUDA_VISIBLE_DEVICES": ",".join(self.uuids),
            "CUDA_DEVICE_ORDER": CUDA_DEVICE_ORDER,
            "LLEM_SLOT": self.name,
            **concurrency,
        }

    @property
    def resources(self) -> tuple[str, ...]:
        """What the board tracks rests on: the GPUs, or the slot itself when it has none."""
        return self.uuids or (self.name,)


def slot_name(gpus: Sequence[Gpu]) -> str:
    """``gpu2`` or ``gpu0+1``: the host indices of a slot's GPUs."""
    return "gpu" + "+".join(str(g.index) for g in gpus)


def cut_slots(gpus: Sequence[Gpu], size: int, lanes: int = 1) -> list[Slot]:
    """Consecutive groups of ``size`` GPUs; GPUs left over (5 GPUs, size 2) are not used by such units.

    Without GPUs: ``lanes`` GPU-less slots (one, ``host``, unless a scheduler places the units).
    """
    if not gpus:
        return [Slot(HOST, ())] if lanes == 1 else [Slot(f"lane{i}", ()) for i in range(lanes)]
    groups = [tuple(gpus[i : i + size]) for i in range(0, len(gpus) - size + 1, size)]
    return [Slot(slot_name(g), g) for g in groups]


Gap = Callable[[ManifestEntry, ManifestEntry], float]


@dataclass
class _Rest:
    last: ManifestEntry | None = None
    done_at: float = 0.0
    busy: bool = False


@dataclass
class SlotBoard:
    """Which GPUs are busy, which unit each ran last and when it ended."""

    gpus: tuple[Gpu, ...]
    gap: Gap
    lanes: int = 1  # without GPUs: how many units may run at once (Slurm jobs in flight)
    _rest: dict[str, _Rest] = field(default_factory=dict)
    _slots: dict[int, list[Slot]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rest = {r: _Rest() for s in self.slots(1) for r in s.resources}

    def slots(self, size: int) -> list[Slot]:
        """The fixed slots for units of ``size`` GPUs (one GPU-less slot when the board has none)."""
        if size not in self._slots:
            self._slots[size] = cut_slots(self.gpus, size, self.lanes)
        return self._slots[size]

    def concurrency(self, sizes: Iterable[int]) -> int:
        """The most units that can run at once here when units have these slot sizes (at least 1).

        Units hold disjoint GPUs, so no more run at once than there are slots of the smallest size
        (slot counts only fall as size grows); without GPUs, the lanes. An upper bound: mixed sizes
        and rests can keep fewer running.
        """
        return max([1, *(len(self.slots(size)) for size in sizes)])

    def fits(self, size: int) -> bool:
        """Whether a unit of ``size`` GPUs can ever be placed here."""
        return bool(self.slots(size))

    def place(self, entry: ManifestEntry, size: int) -> tuple[Slot, float] | None:
        """The free slot where ``entry`` can start soonest, and from when; None while every such slot is busy.

        Ties go to the first slot, so placement is deterministic; the time is the latest of its GPUs'
        rests (the gap after each GPU's previous unit, per pair, as in a serial run).
        """
        best: tuple[Slot, float] | None = None
        for slot in self.slots(size):
            rests = [self._rest[r] for r in slot.resources]
            if any(r.busy for r in rests):
                continue
            ready = max(r.done_at + (self.gap(r.last, entry) if r.last is not None else 0.0) for r in rests)
            if best is None or ready < best[1]:
                best = (slot, ready)
        return best

    def occupy(self, slot: Slot) -> None:
        """Mark the slot's GPUs busy."""
        for r in slot.resources:
            self._rest[r].busy = True

    def release(self, slot: Slot, entry: ManifestEntry, now: float) -> None:
        """The unit on ``slot`` ended at ``now``: its GPUs start resting."""
        for r in slot.resources:
            self._rest[r] = _Rest(last=entry, done_at=now)

    def busy(self) -> bool:
        """Whether any unit is running."""
        return any(r.busy for r in self._rest.values())
