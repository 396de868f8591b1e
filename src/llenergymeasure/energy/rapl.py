"""CPU package and DRAM energy from Linux powercap RAPL (``/sys/class/powercap/intel-rapl:*``).

Each zone directory holds ``name`` (``package-N``, ``dram``, ``core``, ``uncore``, ``psys``),
``energy_uj`` (a cumulative counter in uJ) and ``max_energy_range_uj`` (where it wraps to 0).
Intel CPUs and AMD EPYC/Ryzen (kernel 5.8+) both expose package energy here. Only ``package-*``
and ``dram`` zones are read: ``core``/``uncore`` lie inside the package and ``psys`` overlaps
everything. The powercap root is passed in, so tests read a fake sysfs tree. No RAPL (most VMs
and containers without the sysfs mount) or an unreadable counter (``energy_uj`` is root-only
since Linux 5.10) raises ``EnergyUnavailableError`` with the reason: never an invented number.

Limit: counters are read only at the window's edges, so a zone that wraps more than once inside
the window (its full range at its power, ~262 kJ / 200 W ~ 22 min on common Intel parts) is
undercounted; windows that long get a note.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from llenergymeasure.energy.integrate import wrapped_delta
from llenergymeasure.errors import EnergyUnavailableError

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")
# Above any current CPU package's power: a window longer than range / this may hide a second wrap.
MAX_ZONE_POWER_W = 500.0


@dataclass(frozen=True)
class RaplZone:
    """One counter: a socket's package or DRAM domain."""

    path: Path
    kind: Literal["package", "dram"]
    socket: int
    max_energy_range_uj: int


@dataclass(frozen=True)
class CpuEnergyMeasurement:
    """CPU energy of one window, per socket, in J."""

    duration_s: float
    package_energy_j: dict[int, float]
    dram_energy_j: dict[int, float]
    notes: list[str] = field(default_factory=list)

    @property
    def total_energy_j(self) -> float:
        """Packages plus DRAM (disjoint domains, so they add)."""
        return sum(self.package_energy_j.values()) + sum(self.dram_energy_j.values())


def unreadable_reason(path: Path, exc: OSError) -> str:
    """Why a RAPL file could not be read, worded for the result's ``reason``."""
    if isinstance(exc, PermissionError):
        return (
            f"permission denied reading {path} (energy_uj is root-only since Linux 5.10); "
            "run as root or make it readable to measure CPU energy"
        )
    return f"cannot read {path}: {exc.strerror or exc}"


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except OSError as exc:
        raise EnergyUnavailableError(unreadable_reason(path, exc)) from None
    except ValueError:
        raise EnergyUnavailableError(f"{path} does not hold an integer") from None


def discover_zones(root: Path) -> list[RaplZone]:
    """The package and DRAM zones under ``root``, in socket order, or why there are none."""
    if not root.is_dir():
        raise EnergyUnavailableError(
            f"no powercap interface at {root} (no RAPL on this CPU, or not exposed to this VM/container)"
        )
    zones = []
    for d in sorted(root.glob("intel-rapl:*")):
        try:
            name = (d / "name").read_text().strip()
        except OSError as exc:
            raise EnergyUnavailableError(unreadable_reason(d / "name", exc)) from None
        # intel-rapl:S is socket S's package (or, on some servers, a top-level dram zone);
        # intel-rapl:S:k are its subzones.
        socket = int(d.name.split(":")[1])
        kind: Literal["package", "dram"]
        if name.startswith("package"):
            kind = "package"
        elif name == "dram":
            kind = "dram"
        else:
            continue
        zones.append(RaplZone(d, kind, socket, _read_int(d / "max_energy_range_uj")))
    if not any(z.kind == "package" for z in zones):
        raise EnergyUnavailableError(f"no RAPL package zone under {root}")
    return zones


def window_energy_j(
    zones: list[RaplZone], start_uj: list[int], end_uj: list[int]
) -> tuple[dict[int, float], dict[int, float]]:
    """Per-socket package and DRAM energy between two readings, each counter wrapping at its range."""
    package: dict[int, float] = {}
    dram: dict[int, float] = {}
    for z, a, b in zip(zones, start_uj, end_uj, strict=True):
        into = package if z.kind == "package" else dram
        into[z.socket] = into.get(z.socket, 0.0) + wrapped_delta(a, b, z.max_energy_range_uj) / 1e6
    return package, dram


class RaplMeter:
    """Reads every package and DRAM counter at ``begin()`` and ``end()``; no I/O before ``begin()``."""

    def __init__(self, root: Path = DEFAULT_POWERCAP_ROOT, clock: Callable[[], float] = time.monotonic) -> None:
        self.root = root
        self.clock = clock
        self._zones: list[RaplZone] = []
        self._start_uj: list[int] = []
        self._t0 = 0.0

    def _read(self) -> list[int]:
        return [_read_int(z.path / "energy_uj") for z in self._zones]

    def begin(self) -> None:
        """Find the zones and read them; raises ``EnergyUnavailableError`` with the reason."""
        self._zones = discover_zones(self.root)
        self._start_uj = self._read()
        self._t0 = self.clock()

    def end(self) -> CpuEnergyMeasurement:
        """Read the counters again and return the window's energy per socket."""
        end_uj = self._read()
        duration = self.clock() - self._t0
        package, dram = window_energy_j(self._zones, self._start_uj, end_uj)
        notes = []
        shortest_wrap_s = min(z.max_energy_range_uj / 1e6 / MAX_ZONE_POWER_W for z in self._zones)
        if duration > shortest_wrap_s:
            notes.append(
                f"window {duration:.0f} s is long enough for a RAPL counter to wrap twice"
                f" (>{shortest_wrap_s:.0f} s at {MAX_ZONE_POWER_W:.0f} W); CPU energy may be undercounted"
            )
        return CpuEnergyMeasurement(duration, package, dram, notes)
