"""A unit's share of the host's CPU time, to apportion whole-socket RAPL energy between concurrent units.

RAPL (``energy/rapl.py``) counts whole sockets. When several units run on one host at once (one
per GPU slot, ``llem campaign up --gpus``), each unit's RAPL window also holds the other units'
CPU energy, and adding the units' CPU energies counts it several times. The host tells each unit
how many units may run at once, itself included (``LLEM_CONCURRENT_UNITS``, an upper bound); when
that is more than one, the unit's CPU energy is apportioned by its share of the host's busy CPU
time over the same window: ``unit CPU time / host busy CPU time``, both read from procfs at the
window's edges. Being measured, the share stays right when fewer units overlapped than the bound
(the last unit of a campaign gets its own CPU time's part, not the others').

Sources, both in USER_HZ ticks (``os.sysconf("SC_CLK_TCK")``, 100 on every common kernel):

- Host busy time: the first ``cpu`` line of ``/proc/stat``, busy = user + nice + system + irq +
  softirq + steal (idle and iowait are not busy; guest and guest_nice are already inside user and
  nice, so they are not added again). ``/proc/stat`` is not namespaced, so a container reads the
  host's (unless lxcfs replaces it with the container's own; then the share is of the container).
- Unit time: the process tree rooted at the unit's process (``/proc/[pid]/stat``, see
  ``process_tree_ticks`` for which fields and why).

Limits: the share is of busy CPU time, so power that does not follow CPU time (idle, uncore,
DRAM refresh) is split by the same share; the shares of concurrent units add up to at most 1,
and what is left is the host's other processes' (the orchestrator, daemons). A process of the
unit that is orphaned (its parent exits first) is re-parented outside the tree and its time is
lost, unless the unit's process is PID 1 of its container (``llem-exp`` under Docker), which
then adopts it. The readings are not atomic: a process exiting exactly while the tree is read
can be counted twice or not at all, a few ticks at most.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llenergymeasure.errors import EnergyUnavailableError

DEFAULT_PROC_ROOT = Path("/proc")
CONCURRENT_UNITS_ENV = "LLEM_CONCURRENT_UNITS"  # set by the host on each unit (campaign/slots.py)

# Field positions in /proc/stat's ``cpu`` line, after the label.
_USER, _NICE, _SYSTEM, _IDLE, _IOWAIT, _IRQ, _SOFTIRQ, _STEAL = range(8)
_BUSY_FIELDS = (_USER, _NICE, _SYSTEM, _IRQ, _SOFTIRQ, _STEAL)
# Field positions in /proc/[pid]/stat after the last ')': field n of proc(5) is at n - 3.
_PPID, _UTIME, _STIME, _CUTIME, _CSTIME = 1, 11, 12, 13, 14


def user_hz() -> int:
    """The kernel's USER_HZ: ticks per second of the times in ``/proc/stat`` and ``/proc/[pid]/stat``."""
    return os.sysconf("SC_CLK_TCK")


def busy_ticks(proc_stat: str) -> int:
    """Busy ticks of all CPUs from the text of ``/proc/stat``: user+nice+system+irq+softirq+steal.

    Fields a very old kernel does not have (steal) count as 0.
    """
    for line in proc_stat.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1:]]
            return sum(values[i] for i in _BUSY_FIELDS if i < len(values))
    raise ValueError("no aggregate 'cpu' line")


@dataclass(frozen=True)
class PidTimes:
    """One process's parent and CPU ticks, from ``/proc/[pid]/stat``."""

    pid: int
    ppid: int
    own_ticks: int  # utime + stime: all of its threads, live and exited
    reaped_children_ticks: int  # cutime + cstime: children it has waited for, and theirs


def parse_pid_stat(pid: int, text: str) -> PidTimes:
    """Parse ``/proc/[pid]/stat``; the command name may hold spaces and ')', so fields start after the last ')'."""
    fields = text[text.rindex(")") + 1 :].split()
    return PidTimes(
        pid=pid,
        ppid=int(fields[_PPID]),
        own_ticks=int(fields[_UTIME]) + int(fields[_STIME]),
        reaped_children_ticks=int(fields[_CUTIME]) + int(fields[_CSTIME]),
    )


def tree_ticks(processes: Mapping[int, PidTimes], root: int) -> int:
    """CPU ticks of ``root`` and every descendant in ``processes``: own plus reaped children's, each.

    Every process's time is in exactly one place at any moment: its own utime/stime while it is in
    procfs (zombies included), then, once its parent waits for it, in that parent's cutime/cstime
    (which take the child's own and its reaped children's times together), and it leaves procfs.
    So summing own + reaped children's over the live tree counts each process once, and the sum
    stays continuous when a descendant exits inside the window (its time moves to its parent).
    Counting the root's cutime alone would lose a grandchild reaped by a live child (a worker
    reaped by vLLM's engine process) and could make the window's delta negative.
    """
    children: dict[int, list[int]] = {}
    for p in processes.values():
        children.setdefault(p.ppid, []).append(p.pid)
    total, stack, seen = 0, [root], {root}
    while stack:
        pid = stack.pop()
        p = processes[pid]
        total += p.own_ticks + p.reaped_children_ticks
        for child in children.get(pid, []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return total


def host_busy_ticks(proc_root: Path = DEFAULT_PROC_ROOT) -> int:
    """Busy ticks of all the host's CPUs since boot, from ``proc_root/stat``."""
    path = proc_root / "stat"
    try:
        return busy_ticks(path.read_text())
    except OSError as exc:
        raise EnergyUnavailableError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise EnergyUnavailableError(f"{path}: unexpected format ({exc})") from None


def read_processes(proc_root: Path = DEFAULT_PROC_ROOT) -> dict[int, PidTimes]:
    """Every process under ``proc_root``; one that vanishes while it is read (or has no readable stat) is skipped."""
    found: dict[int, PidTimes] = {}
    for d in proc_root.iterdir():
        if not d.name.isdigit():
            continue
        pid = int(d.name)
        try:
            found[pid] = parse_pid_stat(pid, (d / "stat").read_text())
        except (OSError, ValueError, IndexError):  # gone (ENOENT, ESRCH) or not a stat file
            continue
    return found


def process_tree_ticks(pid: int, proc_root: Path = DEFAULT_PROC_ROOT) -> int:
    """CPU ticks of ``pid`` and its descendants since each started (``tree_ticks`` says which fields)."""
    try:
        processes = read_processes(proc_root)
    except OSError as exc:
        raise EnergyUnavailableError(f"cannot list {proc_root}: {exc.strerror or exc}") from None
    if pid not in processes:
        raise EnergyUnavailableError(f"process {pid} not found under {proc_root}")
    return tree_ticks(processes, pid)


def host_cpu_busy_s(proc_root: Path = DEFAULT_PROC_ROOT, ticks_per_s: int | None = None) -> float:
    """Busy CPU time of all the host's CPUs since boot, in s (``ticks_per_s`` read from the kernel if not given)."""
    return host_busy_ticks(proc_root) / (ticks_per_s or user_hz())


def process_tree_cpu_s(pid: int, proc_root: Path = DEFAULT_PROC_ROOT, ticks_per_s: int | None = None) -> float:
    """CPU time of ``pid`` and its descendants, in s (``ticks_per_s`` read from the kernel if not given)."""
    return process_tree_ticks(pid, proc_root) / (ticks_per_s or user_hz())


@dataclass(frozen=True)
class CpuTimeShare:
    """One window's CPU time: the unit's, the host's busy time, and the unit's share of it."""

    unit_cpu_s: float
    host_busy_cpu_s: float
    share: float | None  # unit / host, clamped to [0, 1]; None when the host was not busy at all


def cpu_time_share(unit_cpu_s: float, host_busy_cpu_s: float) -> CpuTimeShare:
    """The share ``unit / host``, clamped to [0, 1] (the readings are not atomic); None when host time is 0."""
    share = None if host_busy_cpu_s <= 0 else min(1.0, max(0.0, unit_cpu_s / host_busy_cpu_s))
    return CpuTimeShare(unit_cpu_s, host_busy_cpu_s, share)


class CpuTimeMeter:
    """Reads the unit's process tree and the host's busy time at ``begin()`` and ``end()``; no I/O before begin."""

    def __init__(self, pid: int, proc_root: Path = DEFAULT_PROC_ROOT, clock_ticks_per_s: int | None = None) -> None:
        self.pid = pid
        self.proc_root = proc_root
        self.ticks_per_s = clock_ticks_per_s
        self._start: tuple[int, int] | None = None

    def _read(self) -> tuple[int, int]:
        return process_tree_ticks(self.pid, self.proc_root), host_busy_ticks(self.proc_root)

    def begin(self) -> None:
        """Read both counters; raises ``EnergyUnavailableError`` with the reason."""
        if self.ticks_per_s is None:
            self.ticks_per_s = user_hz()
        self._start = self._read()

    def end(self) -> CpuTimeShare:
        """Read both counters again and return the window's CPU times and the unit's share."""
        if self._start is None or self.ticks_per_s is None:
            raise RuntimeError("CpuTimeMeter.end() called before begin()")
        unit_ticks, host_ticks = self._read()
        hz = self.ticks_per_s
        return cpu_time_share((unit_ticks - self._start[0]) / hz, (host_ticks - self._start[1]) / hz)


@dataclass(frozen=True)
class CpuAttribution:
    """How much of a window's whole-socket CPU energy belongs to this unit, and by which rule."""

    shared: bool  # other units may have run on this host's sockets in the same window
    concurrent_units: int
    method: str  # whole_host | cpu_time_share | shared_unapportioned
    apportioned_energy_j: float | None  # None: shared, and no share to apportion by
    share: float | None  # the unit's share of the host's busy CPU time, when it could be read
    notes: list[str] = field(default_factory=list)


def apportion_cpu_energy(total_energy_j: float, share: CpuTimeShare | None, concurrent_units: int) -> CpuAttribution:
    """The unit's part of ``total_energy_j``, the sockets' RAPL energy over its window.

    Alone on the host (``concurrent_units`` 1), the unit had the sockets to itself: all of it
    (``whole_host``). Shared, it gets ``total * share`` (``cpu_time_share``), or, with no share to
    go by (unreadable procfs, an idle host), nothing is apportioned (``shared_unapportioned``):
    the whole-socket number stays in the result but must not be added to other units'.
    """
    fraction = share.share if share is not None else None
    if concurrent_units <= 1:
        return CpuAttribution(False, concurrent_units, "whole_host", total_energy_j, fraction)
    sockets = f"RAPL counts whole sockets and up to {concurrent_units} units ran on this host at once"
    if fraction is None:
        note = (
            f"{sockets}, but this unit's share of the host's busy CPU time could not be read:"
            " its CPU energy is not apportioned and includes the other units'"
        )
        return CpuAttribution(True, concurrent_units, "shared_unapportioned", None, None, [note])
    note = (
        f"{sockets}: CPU energy apportioned by this unit's share of the host's busy CPU time ({fraction:.1%});"
        " idle and uncore power are apportioned by the same share"
    )
    return CpuAttribution(True, concurrent_units, "cpu_time_share", total_energy_j * fraction, fraction, [note])


def concurrent_units_from_env(env: Mapping[str, str]) -> int:
    """How many units the host may run at once beside and including this one (``LLEM_CONCURRENT_UNITS``).

    Unset (a single ``llem run``, an older host) or not a positive integer: 1.
    """
    try:
        n = int(env.get(CONCURRENT_UNITS_ENV, "1"))
    except ValueError:
        return 1
    return n if n >= 1 else 1
