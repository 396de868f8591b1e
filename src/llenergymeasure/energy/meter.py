"""Energy over a measured window: the readings at its edges and around it; ``energy.settle`` decides.

``begin()`` opens the window (optionally just after each GPU's counter updated, so the start edge
is pinned), ``close()`` reads the end edge, ``finish()`` reads past it: counter polls until each
counter moves again (the end edge's bracket) and, where power is a trailing average, samples for
half the averaging window more (the shift ``settle`` applies). Only ``close()`` has to run the
moment the work stops; the tail is outside the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from loguru import logger

from llenergymeasure.energy.integrate import counter_update_period_s
from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.energy.sampler import PowerSampler
from llenergymeasure.energy.settle import (
    MIN_UPDATES_PER_WINDOW,
    EdgeReading,
    EnergyMeasurement,
    WindowReadings,
    settle,
)

__all__ = ["MIN_UPDATES_PER_WINDOW", "EnergyMeasurement", "EnergyMeter"]

# How often the counters are polled when the meter waits for them to update (edges, probe).
POLL_S = 0.002
# Without a probed period, an edge waits at most this long for the counters to move.
DEFAULT_WAIT_S = 0.25


class EnergyMeter:
    """Measures windows on ``devices``; ``method`` is auto, counter or sampling.

    ``clock`` times the edges (CLOCK_MONOTONIC by default, so external telemetry can be lined up),
    ``wall`` gives their Unix time, ``sleep`` paces the polls: tests pass a manual clock's.
    """

    def __init__(
        self,
        devices: NvmlDevices,
        interval_s: float,
        method: Literal["auto", "counter", "sampling"] = "auto",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.devices = devices
        self.method = method
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.sampler = PowerSampler(devices, interval_s, clock)
        self.update_period_s: float | None = None
        self._probe_notes: list[str] = []
        self._start: EdgeReading | None = None
        self._end: EdgeReading | None = None
        self.last_readings: WindowReadings | None = None

    @property
    def counting(self) -> bool:
        """Whether the counters are read (every GPU has one and sampling is not forced)."""
        return self.method != "sampling" and all(self.devices.counter_supported)

    def probe_counter_period(self, poll_s: float = POLL_S, changes: int = 4, max_s: float = 1.5) -> float | None:
        """Estimate how often the energy counters update by polling them, before the window.

        Polls every ``poll_s`` until each GPU's counter has changed ``changes`` times or ``max_s``
        has passed; the slowest GPU's period is kept. None where the counter is not used or did not
        change often enough (the short-window note then cannot be given).
        """
        self.update_period_s = None
        self._probe_notes = []
        if not self.counting:
            return None
        n = len(self.devices.indices)
        readings: list[list[tuple[float, int | None]]] = [[] for _ in range(n)]
        seen = [0] * n
        t_start = self.clock()
        while True:
            t = self.clock()
            for i, value in enumerate(self.devices.energy_mj()):
                if readings[i] and readings[i][-1][1] != value:
                    seen[i] += 1
                readings[i].append((t, value))
            if min(seen) >= changes or t - t_start >= max_s:
                break
            self.sleep(poll_s)
        periods = [counter_update_period_s(r) for r in readings]
        if any(p is None for p in periods):
            self._probe_notes.append(f"energy counter update period unknown (fewer than 2 changes in {max_s:g} s)")
            return None
        self.update_period_s = max(p for p in periods if p is not None)
        logger.info("energy counter updates every {:.3f} s", self.update_period_s)
        return self.update_period_s

    def _wait_s(self) -> float:
        return 2.0 * self.update_period_s + POLL_S if self.update_period_s else DEFAULT_WAIT_S

    def _align(self, attempts: int = 3) -> list[float | None]:
        """Poll until each counter has just updated; per GPU, the last poll time before its update.

        The edge then follows the last update within a poll, so its bracket is the power limit times
        that gap. A poll the scheduler delayed (a loaded host) widens the gap: the alignment is tried
        again, up to ``attempts`` times, until the last update was seen within a few polls.
        """
        before: list[float | None] = [None] * len(self.devices.indices)
        for _ in range(attempts):
            before = [None] * len(self.devices.indices)
            last_gap_s = 0.0
            t_start = prev_t = self.clock()
            prev = self.devices.energy_mj()
            while not all(b is not None for b in before) and prev_t - t_start < self._wait_s():
                self.sleep(POLL_S)
                t, cur = self.clock(), self.devices.energy_mj()
                for i, (a, b) in enumerate(zip(prev, cur, strict=True)):
                    if a != b:
                        before[i] = prev_t
                        last_gap_s = t - prev_t
                prev, prev_t = cur, t
            if last_gap_s <= 4 * POLL_S:
                break
        return before

    @property
    def window_start_s(self) -> float:
        """Clock time the current window began, for aligning sub-windows."""
        return self._start.t_s if self._start is not None else 0.0

    def begin(self, align: bool = True) -> EdgeReading:
        """Open the window: (align,) read the edge and start sampling."""
        self.sampler.samples = []
        before = self._align() if align and self.counting else None
        violations = self.devices.violation_ns()
        counters = self.devices.energy_mj()
        t0 = self.clock()
        self._start = EdgeReading(t0, counters, _since(before, t0), violations, self.wall())
        self.sampler.start()
        return self._start

    def reading(self) -> EdgeReading:
        """The counters now: an edge of a sub-window inside the open window (a server's steady state)."""
        counters = self.devices.energy_mj()
        return EdgeReading(self.clock(), counters, unix_s=self.wall())

    def close(self, align: bool = False) -> EdgeReading:
        """Read the window's end edge; call it the moment the work stops.

        ``align``: first wait for every counter to update, so the edge follows an update closely
        (for windows whose end is free to move, as an idle baseline's is).
        """
        before = self._align() if align and self.counting else None
        counters = self.devices.energy_mj()
        t1 = self.clock()
        unix = self.wall()
        self.sampler.sample_now()
        self._end = EdgeReading(t1, counters, _since(before, t1), self.devices.violation_ns(), unix)
        return self._end

    def finish(self) -> EnergyMeasurement:
        """Read past the end edge (counter polls, the averaging tail), stop sampling, and settle."""
        if self._start is None or self._end is None:
            raise RuntimeError("finish() needs begin() and close() first")
        t1 = self._end.t_s
        polls: list[tuple[float, list[int | None]]] = []
        if self.counting:
            moved = [False] * len(self.devices.indices)
            while not all(moved) and self.clock() - t1 < self._wait_s():
                self.sleep(POLL_S)
                t, cur = self.clock(), self.devices.energy_mj()
                polls.append((t, cur))
                moved = [m or c != e for m, c, e in zip(moved, cur, self._end.counters_mj, strict=True)]
        tail_s = max((s.average_s for s in self.devices.power_sources), default=0.0) / 2.0
        while (left := t1 + tail_s - self.clock()) > 0:
            self.sleep(min(left, self.sampler.interval_s))
        samples = self.sampler.stop()
        self.last_readings = WindowReadings(
            gpus=self.devices.indices,
            start=self._start,
            end=self._end,
            samples=samples,
            polls=polls,
            method=self.method,
            sources=self.devices.power_sources,
            ceilings_w=self.devices.power_ceiling_w(),
            sample_interval_s=self.sampler.interval_s,
            update_period_s=self.update_period_s,
            notes=self._probe_notes,
        )
        return settle(self.last_readings)

    def sub_window(self, start: EdgeReading, end: EdgeReading, counter: bool) -> EnergyMeasurement:
        """Energy between two ``reading()``s inside the last window, by the rules of the whole window.

        ``counter``: whether the whole window trusted the counter (a sub-window never trusts it more).
        """
        if self.last_readings is None:
            raise RuntimeError("sub_window() needs a finished window")
        method: Literal["counter", "sampling"] = "counter" if counter else "sampling"
        return settle(replace(self.last_readings, start=start, end=end, method=method, notes=()))

    def end(self) -> EnergyMeasurement:
        """``close()`` then ``finish()``: for windows whose end edge needs nothing in between."""
        self.close()
        return self.finish()


def _since(before: list[float | None] | None, t_s: float) -> list[float | None] | None:
    """Per GPU, the longest the counter can have gone without updating at ``t_s``, from ``_align``."""
    if before is None:
        return None
    return [t_s - b if b is not None else None for b in before]
