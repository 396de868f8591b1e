"""Energy over a measured window: begin() and end() around the work, a plain result out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from loguru import logger

from llenergymeasure.energy.integrate import (
    counter_delta_mj,
    counter_quantisation_bound_j,
    counter_update_period_s,
    relative_gap,
    sampling_bound_j,
    trapezoid_energy_j,
)
from llenergymeasure.energy.nvml import NvmlDevices, throttle_flags
from llenergymeasure.energy.sampler import PowerSampler, Sample

# A counter delta implying more than this mean power per GPU is a counter reset, not a reading.
IMPLAUSIBLE_POWER_W = 10_000.0
# A window shorter than this many counter updates is flagged: at steady power the resolution
# bound is period/window, so 10 updates keep it under 10 % (and a window under ~1 s is also
# shorter than the 1 s averaging of NVML's power readings on Ampere and newer).
MIN_UPDATES_PER_WINDOW = 10


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
    counter_update_period_s: float | None = None
    per_gpu_uncertainty_j: dict[int, float] | None = None
    uncertainty_method: Literal["counter_resolution", "sampling_resolution"] | None = None

    @property
    def total_energy_uncertainty_j(self) -> float | None:
        """Resolution bound on ``total_energy_j``: the per-GPU bounds added (their edges coincide)."""
        return sum(self.per_gpu_uncertainty_j.values()) if self.per_gpu_uncertainty_j is not None else None

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
        self.update_period_s: float | None = None
        self._probe_notes: list[str] = []

    def probe_counter_period(
        self,
        sleep: Callable[[float], None] = time.sleep,
        poll_s: float = 0.002,
        changes: int = 4,
        max_s: float = 1.5,
    ) -> float | None:
        """Estimate how often the energy counters update by polling them, before the window.

        Polls every ``poll_s`` until each GPU's counter has changed ``changes`` times or
        ``max_s`` has passed; the slowest GPU's period is kept (the conservative one for the
        uncertainty). None where the counter is not used or did not change often enough.
        """
        self.update_period_s = None
        self._probe_notes = []
        if self.method == "sampling" or not all(self.devices.counter_supported):
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
            sleep(poll_s)
        periods = [counter_update_period_s(r) for r in readings]
        if any(p is None for p in periods):
            self._probe_notes.append(
                f"energy counter update period unknown (fewer than 2 changes in {max_s:g} s); no uncertainty given"
            )
            return None
        self.update_period_s = max(p for p in periods if p is not None)
        logger.info("energy counter updates every {:.3f} s", self.update_period_s)
        return self.update_period_s

    @property
    def window_start_s(self) -> float:
        """Clock time the current window began (after the opening counter read), for aligning sub-windows."""
        return self._t0

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
        notes: list[str] = list(self._probe_notes)

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
        uncertainty = None
        method: Literal["counter_resolution", "sampling_resolution"] | None = None
        if counted is None:
            uncertainty = {
                gpu: sampling_bound_j(
                    [s.t_s for s in samples if s.gpu == gpu], [s.power_w for s in samples if s.gpu == gpu]
                )
                for gpu in self.devices.indices
            }
            method = "sampling_resolution"
        elif self.update_period_s is not None:
            method = "counter_resolution"
            uncertainty = self._uncertainty(counted, samples, duration, self.update_period_s)
            if duration < MIN_UPDATES_PER_WINDOW * self.update_period_s:
                note = (
                    f"window {duration:.3f} s is shorter than {MIN_UPDATES_PER_WINDOW} energy counter updates"
                    f" ({self.update_period_s:.3f} s each); set energy.min_window_s to lengthen it"
                )
                notes.append(note)
                logger.warning(note)
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
            counter_update_period_s=self.update_period_s if counted is not None else None,
            per_gpu_uncertainty_j=uncertainty,
            uncertainty_method=method,
        )

    def _uncertainty(
        self, counted: dict[int, float], samples: list[Sample], duration_s: float, period_s: float
    ) -> dict[int, float]:
        """Per-GPU counter quantisation bound; edge power is the larger of the edge readings and the mean."""
        out = {}
        for gpu, energy_j in counted.items():
            mine = [s.power_w for s in samples if s.gpu == gpu]
            edges = [p for p in (mine[:1] + mine[-1:]) if p is not None]
            mean_w = energy_j / duration_s if duration_s > 0 else 0.0
            out[gpu] = counter_quantisation_bound_j(period_s, max([mean_w, *edges]))
        return out
