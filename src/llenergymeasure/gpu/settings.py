"""GPU settings an experiment asks for (power limit, locked clocks), checked against what a GPU allows.

Pure: no NVML here. ``gpu.control`` reads ``Capabilities`` and applies a ``Target``; this module
turns the experiment's fields into a ``Target`` and says, one line per problem, why a target cannot
be applied, so a campaign is refused before any GPU is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

POWER_FIELD = "gpu.power_limit_w"
SM_FIELD = "gpu.sm_clock_mhz"
MEM_FIELD = "gpu.memory_clock_mhz"
NEAREST_SHOWN = 8  # how many supported clocks a problem line lists
NO_PERMISSION = "no permission"  # ``Capabilities.why_not`` when NVML refused a change for lack of rights
_PERMISSION_FIX = (
    "run llem as root (its host process sets them, under --executor docker too) or with CAP_SYS_ADMIN,"
    " or drop gpu.* from the campaign"
)


@dataclass(frozen=True)
class Target:
    """The settings to apply to each of a unit's GPUs; None leaves that setting as it is."""

    power_limit_mw: int | None
    sm_clocks: tuple[int, int] | None  # (min, max) MHz for nvmlDeviceSetGpuLockedClocks
    mem_clocks: tuple[int, int] | None  # (min, max) MHz for nvmlDeviceSetMemoryLockedClocks

    @classmethod
    def of(
        cls,
        power_limit_w: float | None,
        sm_clock_mhz: int | tuple[int, int] | list[int] | None,
        memory_clock_mhz: int | None,
    ) -> Target:
        """From the experiment's fields: W become mW (rounded, NVML's unit); one clock locks min = max."""
        sm: tuple[int, int] | None = None
        if isinstance(sm_clock_mhz, int):
            sm = (sm_clock_mhz, sm_clock_mhz)
        elif sm_clock_mhz is not None:
            if len(sm_clock_mhz) != 2:
                raise ValueError(f"{SM_FIELD} must be one value or [min, max], not {list(sm_clock_mhz)}")
            sm = (int(sm_clock_mhz[0]), int(sm_clock_mhz[1]))
        return cls(
            power_limit_mw=None if power_limit_w is None else round(power_limit_w * 1000),
            sm_clocks=sm,
            mem_clocks=None if memory_clock_mhz is None else (memory_clock_mhz, memory_clock_mhz),
        )

    @property
    def is_empty(self) -> bool:
        """Nothing to change: the unit runs on the GPUs as they are, and nothing needs restoring."""
        return self.power_limit_mw is None and self.sm_clocks is None and self.mem_clocks is None

    def fields(self) -> list[str]:
        """The experiment fields this target sets, in the order they are applied."""
        named = ((POWER_FIELD, self.power_limit_mw), (SM_FIELD, self.sm_clocks), (MEM_FIELD, self.mem_clocks))
        return [name for name, value in named if value is not None]


@dataclass(frozen=True)
class Capabilities:
    """What one GPU lets this process set, read without changing anything.

    ``limit_min_mw``/``limit_max_mw``: the power limit constraints (None: power management not
    supported). ``sm_clocks``/``mem_clocks``: supported clocks in MHz, descending (empty: locking
    not supported). ``settable``: whether NVML accepts changes from this process; ``why_not`` is
    NVML's reason when not (``NO_PERMISSION`` for a non-root user).
    """

    uuid: str
    index: int
    limit_min_mw: int | None
    limit_max_mw: int | None
    sm_clocks: tuple[int, ...]
    mem_clocks: tuple[int, ...]
    settable: bool
    why_not: str | None

    @property
    def name(self) -> str:
        """How problem lines name this GPU: ``GPU 0 (GPU-...)``."""
        return f"GPU {self.index} ({self.uuid})"


@dataclass(frozen=True)
class State:
    """What ``restore`` puts back on one GPU: the power limit it had before ``apply``.

    Clocks are not part of it: NVML can lock clocks but cannot read whether (or to what) they are
    locked, so restore always RESETS locked SM and memory clocks. A GPU whose clocks an
    administrator had locked before llem ran is left unlocked afterwards.
    """

    uuid: str
    index: int
    power_limit_mw: int | None  # None: power management not supported, nothing to put back

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for a journal that survives the host process."""
        return {"uuid": self.uuid, "index": self.index, "power_limit_mw": self.power_limit_mw}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        """The inverse of ``to_dict``."""
        limit = data["power_limit_mw"]
        return cls(str(data["uuid"]), int(data["index"]), None if limit is None else int(limit))


def problems(target: Target, caps: Sequence[Capabilities], source: str) -> list[str]:
    """One line per reason ``target`` cannot be applied to the GPUs ``caps`` describes; [] if it can.

    ``source`` prefixes every line (the campaign file). Lines name the field, the GPU, the allowed
    values and the fix; identical lines (permission, the same for every GPU) appear once.
    """
    lines: list[str] = []
    for cap in caps:
        if not cap.settable:
            lines += [_not_settable(source, name, cap) for name in target.fields()]
        if target.power_limit_mw is not None:
            lines += _power_problems(source, target.power_limit_mw, cap)
        if target.sm_clocks is not None:
            lines += _clock_problems(source, SM_FIELD, "SM", target.sm_clocks, cap.sm_clocks, cap)
        if target.mem_clocks is not None:
            lines += _clock_problems(source, MEM_FIELD, "memory", target.mem_clocks, cap.mem_clocks, cap)
    return list(dict.fromkeys(lines))


def _not_settable(source: str, name: str, cap: Capabilities) -> str:
    if cap.why_not == NO_PERMISSION:
        return f"{source}: {name} needs permission to change GPU settings (NVML: {NO_PERMISSION}); {_PERMISSION_FIX}"
    return f"{source}: {name} cannot be applied: {cap.name} refuses setting changes (NVML: {cap.why_not}); drop {name}"


def _power_problems(source: str, limit_mw: int, cap: Capabilities) -> list[str]:
    if cap.limit_min_mw is None or cap.limit_max_mw is None:
        return [f"{source}: {POWER_FIELD}: {cap.name} does not support power limits; drop {POWER_FIELD}"]
    if cap.limit_min_mw <= limit_mw <= cap.limit_max_mw:
        return []
    return [
        f"{source}: {POWER_FIELD} {_w(limit_mw)} W is outside {cap.name}'s range "
        f"{_w(cap.limit_min_mw)}-{_w(cap.limit_max_mw)} W; choose a value in that range"
    ]


def _clock_problems(
    source: str, name: str, kind: str, wanted: tuple[int, int], supported: tuple[int, ...], cap: Capabilities
) -> list[str]:
    if not supported:
        return [f"{source}: {name}: {cap.name} does not support locking {kind} clocks; drop {name}"]
    lines = []
    for mhz in dict.fromkeys(wanted):
        if mhz not in supported:
            lines.append(
                f"{source}: {name} {mhz} MHz is not a supported {kind} clock of {cap.name}; "
                f"nearest supported: {_nearest(mhz, supported)}; choose one of those"
            )
    if wanted[0] > wanted[1]:
        lines.append(f"{source}: {name} [{wanted[0]}, {wanted[1]}] has min above max; write [min, max]")
    return lines


def _nearest(mhz: int, supported: tuple[int, ...]) -> str:
    """Up to ``NEAREST_SHOWN`` supported clocks closest to ``mhz``, listed high to low."""
    closest = sorted(set(supported), key=lambda s: (abs(s - mhz), -s))[:NEAREST_SHOWN]
    return ", ".join(str(s) for s in sorted(closest, reverse=True))


def _w(mw: int) -> str:
    """Milliwatts as W without a needless decimal point (800000 -> 800, 212500 -> 212.5)."""
    return f"{mw / 1000:g}"
