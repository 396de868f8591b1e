"""Background sampling of GPU power and telemetry into a timeseries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from llenergymeasure.energy.nvml import NvmlDevices


@dataclass(frozen=True)
class Sample:
    """One GPU's readings at one instant (long format: one row per GPU per tick)."""

    t_s: float
    gpu: int
    power_w: float | None
    energy_mj: int | None
    temperature_c: float | None
    utilization_pct: float | None
    memory_used_bytes: int | None
    throttle_reasons: int | None
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None


class PowerSampler:
    """Samples every ``interval_s`` on a daemon thread between ``start()`` and ``stop()``.

    Constructing it starts nothing; the first and last samples are taken synchronously at
    start and stop, so the timeseries always spans the whole measured window.
    """

    def __init__(self, devices: NvmlDevices, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.devices = devices
        self.interval_s = interval_s
        self.clock = clock
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample_now(self) -> float:
        """Take one reading of every GPU; returns its time."""
        t = self.clock()
        power = self.devices.power_w()
        energy = self.devices.energy_mj()
        tele = self.devices.telemetry()
        for gpu, p, e, x in zip(self.devices.indices, power, energy, tele, strict=True):
            self.samples.append(
                Sample(
                    t_s=t,
                    gpu=gpu,
                    power_w=p,
                    energy_mj=e,
                    temperature_c=x["temperature_c"],
                    utilization_pct=x["utilization_pct"],
                    memory_used_bytes=x["memory_used_bytes"],
                    throttle_reasons=x["throttle_reasons"],
                    sm_clock_mhz=x.get("sm_clock_mhz"),
                    mem_clock_mhz=x.get("mem_clock_mhz"),
                )
            )
        return t

    def start(self) -> None:
        """Take the first sample and start the thread."""
        self._stop.clear()
        self.sample_now()
        self._thread = threading.Thread(target=self._loop, name="llem-power-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[Sample]:
        """Stop the thread, take the closing sample, and return the whole timeseries."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.sample_now()
        return self.samples

    def _loop(self) -> None:
        next_t = self.clock() + self.interval_s
        while not self._stop.wait(max(0.0, next_t - self.clock())):
            self.sample_now()
            next_t += self.interval_s
