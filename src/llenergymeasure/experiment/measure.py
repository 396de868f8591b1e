"""The measured window, once for every scenario: GPU meter, CPU RAPL, CPU-time share, gc freeze, reasons.

Offline passes, the prefill/decode split's window, a server's load and the idle baseline all open and
close a window the same way: ``begin()`` the moment before the work, ``end()`` the moment after.
``end()`` reads the end edges of every meter first and only then does what may take time (the
GPU meter's tail past the edge, settling), so nothing but the work sits between the edges.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from llenergymeasure.config.experiment import BaselineConfig, EnergyConfig
from llenergymeasure.energy.cputime import (
    DEFAULT_PROC_ROOT,
    CpuTimeMeter,
    CpuTimeShare,
    concurrent_units_from_env,
)
from llenergymeasure.energy.idle import IdleBaseline, idle_baseline
from llenergymeasure.energy.meter import EnergyMeter
from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.energy.rapl import DEFAULT_POWERCAP_ROOT, CpuEnergyMeasurement, RaplMeter
from llenergymeasure.energy.settle import EdgeReading, EnergyMeasurement
from llenergymeasure.errors import EnergyUnavailableError

# A window the default length (energy.min_window_s unset) keeps the energy counter's resolution
# bound (about one update period of power, at the two edges together) under this share of its energy:
# 100 update periods, about 10 s at NVML's usual 0.1 s.
RESOLUTION_SHARE = 0.01

# The idle baseline samples this often (or the configured interval, if finer): it is idle time,
# and finer samples place its sub-windows' edges closer to the counter's updates.
BASELINE_SAMPLE_S = 0.01


@dataclass(frozen=True)
class WindowMeasurement:
    """One window's edges and everything measured over it; None figures come with their reason."""

    start_s: float
    end_s: float
    start_unix_s: float
    end_unix_s: float
    gpu: EnergyMeasurement | None
    cpu: CpuEnergyMeasurement | None
    no_cpu_reason: str | None
    cpu_time: CpuTimeShare | None
    concurrent_units: int

    @property
    def duration_s(self) -> float:
        """Length between the recorded edges (the GPU meter's, where there is one)."""
        return self.end_s - self.start_s


class MeasuredWindow:
    """Opens and closes measured windows on one unit's GPUs (``devices``, None without NVML) and CPU.

    Constructing it reads nothing; ``prepare()`` probes the energy counter's update period once per
    unit, before the first window.
    """

    def __init__(
        self,
        devices: NvmlDevices | None,
        cfg: EnergyConfig,
        powercap_root: Path = DEFAULT_POWERCAP_ROOT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
        proc_root: Path = DEFAULT_PROC_ROOT,
    ) -> None:
        self.devices = devices
        self.cfg = cfg
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.interval_s = cfg.sample_interval_ms / 1000.0
        self.meter = (
            EnergyMeter(devices, self.interval_s, cfg.method, clock, sleep, wall) if devices is not None else None
        )
        self.rapl = RaplMeter(powercap_root, clock)
        self.concurrent_units = concurrent_units_from_env(os.environ)
        self.cpu_time = CpuTimeMeter(os.getpid(), proc_root) if self.concurrent_units > 1 else None
        self._no_cpu_reason: str | None = None
        self._t0 = (0.0, 0.0)
        self._logged_cpu = False

    def prepare(self) -> None:
        """Probe the counter's update period (for the short-window note); call once, before any window."""
        if self.meter is not None:
            self.meter.probe_counter_period()

    def target_s(self, requested: float | None) -> float:
        """How long the window must last: ``requested`` when set, else long enough for a 1 % resolution bound.

        The counter's bound is half the two edges' brackets: at most about one update period of power
        (the start edge is pinned to an update, the end's bracket is at most a period), so a window of
        100 periods keeps it at or under 1 % (about 0.5 % typically); where power is sampled, the
        sampling interval stands in for the period. Without energy there is no bound to keep: one pass.
        """
        if requested is not None:
            return requested
        if self.meter is None:
            return 0.0
        step = self.meter.update_period_s if self.meter.counting and self.meter.update_period_s else self.interval_s
        return step / RESOLUTION_SHARE

    @property
    def start_s(self) -> float:
        """The open window's start on ``clock``: the time origin of work timed inside it."""
        return self._t0[0]

    def begin(self) -> None:
        """Collect and freeze what exists, open every meter; the work starts right after this returns."""
        # Everything allocated so far (model, harness) leaves the collector's view for the rest of
        # the unit, so a collection inside the window scans only what the window itself allocates,
        # and the next window's collection only what came since. A unit is one short process: what
        # is frozen is never collected, and never needs to be.
        gc.collect()
        gc.freeze()
        self._no_cpu_reason = None
        if self.cpu_time is not None:
            try:
                self.cpu_time.begin()
            except EnergyUnavailableError as exc:
                logger.info("CPU time share unavailable: {}", exc)
                self.cpu_time = None
        if self.meter is not None:
            edge = self.meter.begin()
            self._t0 = (edge.t_s, edge.unix_s if edge.unix_s is not None else self.wall())
        try:
            self.rapl.begin()
        except EnergyUnavailableError as exc:
            self._no_cpu_reason = str(exc)
        if self.meter is None:
            self._t0 = (self.clock(), self.wall())

    def reading(self) -> EdgeReading | None:
        """The GPU counters now, as the edge of a sub-window (None without NVML)."""
        return self.meter.reading() if self.meter is not None else None

    def end(self) -> WindowMeasurement:
        """Close every meter's edge, then read the GPU tail and settle."""
        if self.meter is not None:
            edge = self.meter.close()
            t1 = (edge.t_s, edge.unix_s if edge.unix_s is not None else self.wall())
        else:
            t1 = (self.clock(), self.wall())
        cpu = None
        if self._no_cpu_reason is None:
            try:
                cpu = self.rapl.end()
            except EnergyUnavailableError as exc:
                self._no_cpu_reason = str(exc)
        share = None
        if self.cpu_time is not None:
            try:
                share = self.cpu_time.end()
            except EnergyUnavailableError as exc:
                logger.info("CPU time share unavailable: {}", exc)
        gpu = self.meter.finish() if self.meter is not None else None
        if self._no_cpu_reason and not self._logged_cpu:
            logger.info("CPU energy unavailable: {}", self._no_cpu_reason)
            self._logged_cpu = True
        return WindowMeasurement(
            start_s=self._t0[0],
            end_s=t1[0],
            start_unix_s=self._t0[1],
            end_unix_s=t1[1],
            gpu=gpu,
            cpu=cpu,
            no_cpu_reason=self._no_cpu_reason,
            cpu_time=share,
            concurrent_units=self.concurrent_units,
        )

    def release(self) -> None:
        """Give the collector back what the windows froze: for a process that goes on after its unit."""
        gc.unfreeze()

    def baseline(self, cfg: BaselineConfig) -> IdleBaseline | None:
        """Idle power of the unit's GPUs in the state the window will run in: call after load and warmup.

        A window of ``cfg.duration_s`` with nothing running, sampled finely, settled like any other
        window and cut into ``cfg.sub_windows`` (``energy.idle``). None without NVML.
        """
        if self.devices is None or self.meter is None:
            return None
        interval_s = min(BASELINE_SAMPLE_S, self.interval_s)
        meter = EnergyMeter(self.devices, interval_s, self.cfg.method, self.clock, self.sleep, self.wall)
        meter.update_period_s = self.meter.update_period_s
        meter.begin()
        self.sleep(cfg.duration_s)
        meter.close(align=True)
        base = idle_baseline(meter.finish(), cfg.sub_windows)
        logger.info(
            "idle baseline (loaded) {:.2f} ± {:.2f} W over {:.1f} s",
            base.power_w,
            base.uncertainty_w,
            base.end_s - base.start_s,
        )
        return base


def save_timeseries(out_dir: Path, stem: str, m: EnergyMeasurement | None) -> str | None:
    """Write a window's power/telemetry timeseries beside the result; its file name, or None without samples."""
    if m is None or not m.samples:
        return None
    from llenergymeasure.results.timeseries import write_timeseries

    name = f"{stem}.parquet"
    write_timeseries(out_dir / name, m.samples, m.start_s)
    return name
