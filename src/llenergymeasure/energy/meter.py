"""Energy over a measured window: begin() and end() around the work, a plain result out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from llenergymeasure.energy.integrate import counter_delta_mj, relative_gap, trapezoid_energy_j
from llenergymeasure.energy.nvml import NvmlDevices, throttle_flags
from llenergymeasure.energy.sampler import PowerSampler, Sample

# A counter delta implying more than this mean power per GPU is a counter reset, not a reading.
IMPLAUSIBLE_POWER_W = 10_000.0


@dataclass(frozen=True)
class EnergyMeasurement:
    """Energy of one window, with how it was obtained, so a reader can judge it."""

    method: Literal["counter", "sampling"]
    duration_s: float
    total_energy_j: float
    per_gpu_energy_j: dict[int, float]
    sampled_energy_j: float
    counter_sampling_gap: float | None
    sample_count: int
    sample_interval_s: float
    throttle_reasons: list[str]
    samples: list[Sample] = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def mean_power_w(self) -> float:
        """Average total power over the window."""
        return self.total_energy_j / self.duration_s if self.duration_s > 0 else 0.0


class EnergyMeter:
    """Measures one window on ``devices``; ``method`` is auto, counter or sampling."""

    def __init__(
        self,
        devices: NvmlDevices,
        interval_s: float,
        method: Literal["auto", "counter", "sampling"] = "auto",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.devices = devices
        self.method = method
        self.clock = clock
        self.sampler = PowerSampler(devices, interval_s, clock)
        self._t0 = 0.0
        self._counters0: list[int | None] = []

    def begin(self) -> None:
        """Read the counters and start sampling."""
        self.sampler.samples = []
        self._counters0 = self.devices.energy_mj()
        self._t0 = self.clock()
        self.sampler.start()

    def end(self) -> EnergyMeasurement:
        """Stop sampling, read the counters, and settle on the most trustworthy energy figure."""
        samples = self.sampler.stop()
        counters1 = self.devices.energy_mj()
        duration = self.clock() - self._t0
        notes: list[str] = []

        sampled = {
            gpu: trapezoid_energy_j(
                [s.t_s for s in samples if s.gpu == gpu], [s.power_w for s in samples if s.gpu == gpu]
            )
            for gpu in self.devices.indices
        }
        counted: dict[int, float] | None = None
        if self.method != "sampling" and all(c is not None for c in (*self._counters0, *counters1)):
            counted = {
                gpu: counter_delta_mj(int(c0), int(c1)) / 1000.0  # type: ignore[arg-type]
                for gpu, c0, c1 in zip(self.devices.indices, self._counters0, counters1, strict=True)
            }
            worst = max(counted.values()) / duration if duration > 0 else 0.0
            if worst > IMPLAUSIBLE_POWER_W:
                notes.append(f"energy counter jumped (implied {worst:.0f} W, reset?); used sampled power")
                counted = None
        elif self.method == "counter":
            notes.append("energy counter unsupported on this GPU; used sampled power")

        per_gpu = counted if counted is not None else sampled
        total = sum(per_gpu.values())
        sampled_total = sum(sampled.values())
        reasons = sorted({f for s in samples for f in throttle_flags(s.throttle_reasons)})
        missing = sum(1 for s in samples if s.power_w is None)
        if missing:
            notes.append(f"{missing} power samples failed and were bridged")
        return EnergyMeasurement(
            method="counter" if counted is not None else "sampling",
            duration_s=duration,
            total_energy_j=total,
            per_gpu_energy_j=per_gpu,
            sampled_energy_j=sampled_total,
            counter_sampling_gap=relative_gap(total, sampled_total) if counted is not None else None,
            sample_count=len({s.t_s for s in samples}),
            sample_interval_s=self.sampler.interval_s,
            throttle_reasons=reasons,
            samples=samples,
            notes=notes,
        )
