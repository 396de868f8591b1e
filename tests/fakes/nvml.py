"""A fake ``pynvml`` module with deterministic, known power curves (the hardware edge of the tests).

Power of GPU i at time t (seconds since the fake was created) is
``base_w[i] + amp_w * sin(2*pi*t/period_s)``; its energy counter is the exact integral, in mJ,
offset by ``counter_start_mj`` (to exercise wrap-around). ``ground_truth_j(t0, t1)`` gives the
true energy between two clock readings, which is what a correct meter must report.

Real-hardware resolution, off by default so older tests keep their meaning:
``counter_update_s`` makes the counter hold its value between updates every that many seconds
(NVML's is ~0.1 s), each GPU offset by ``counter_phase_s[i]``; ``power_avg_s`` makes the power
reading the mean over the last that many seconds (1 s on Ampere and newer). ``amps_w`` gives each
GPU its own sine amplitude.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class NVMLError(Exception):
    def __init__(self, value: int = 999) -> None:
        super().__init__(f"fake NVML error {value}")
        self.value = value


NVML_ERROR_NOT_SUPPORTED = 3


@dataclass
class _Util:
    gpu: int
    memory: int


@dataclass
class _Mem:
    total: int
    used: int
    free: int


@dataclass
class _PciInfo:
    busId: str


@dataclass
class FakeNvml:
    n_gpus: int = 1
    base_w: tuple[float, ...] = (150.0,)
    amp_w: float = 60.0
    period_s: float = 0.7
    counter_supported: bool = True
    counter_start_mj: int = 0
    counter_modulus: int = 2**64
    fail_power_every: int = 0  # every n-th power read raises (missing samples)
    throttle: int = 0
    clock: Callable[[], float] = time.monotonic
    counter_update_s: float = 0.0
    counter_phase_s: tuple[float, ...] = ()
    power_avg_s: float = 0.0
    amps_w: tuple[float, ...] = ()
    init_error: bool = False
    t0: float = field(default=0.0)
    power_reads: int = 0

    def __post_init__(self) -> None:
        self.t0 = self.clock()
        self.NVMLError = NVMLError

    # ground truth -------------------------------------------------------
    def amp(self, gpu: int) -> float:
        return self.amps_w[gpu] if self.amps_w else self.amp_w

    def power_at(self, gpu: int, t: float) -> float:
        x = t - self.t0
        return self.base_w[gpu] + self.amp(gpu) * math.sin(2 * math.pi * x / self.period_s)

    def energy_between_j(self, gpu: int, t_a: float, t_b: float) -> float:
        def integral(t: float) -> float:
            x = t - self.t0
            w = 2 * math.pi / self.period_s
            return self.base_w[gpu] * x - self.amp(gpu) / w * math.cos(w * x)

        return integral(t_b) - integral(t_a)

    def last_update_at(self, gpu: int, t: float) -> float:
        """When the counter last updated at or before ``t`` (``t`` itself for a continuous counter)."""
        if not self.counter_update_s:
            return t
        phase = self.counter_phase_s[gpu] if self.counter_phase_s else 0.0
        k = math.floor((t - self.t0 - phase) / self.counter_update_s)
        return max(self.t0, self.t0 + phase + k * self.counter_update_s)

    # pynvml API ---------------------------------------------------------
    def nvmlInit(self) -> None:
        if self.init_error:
            raise NVMLError(12)

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return self.n_gpus

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        if not 0 <= i < self.n_gpus:
            raise NVMLError(2)  # NVML_ERROR_INVALID_ARGUMENT
        return i

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        for i in range(self.n_gpus):
            if self.nvmlDeviceGetUUID(i) == uuid:
                return i
        raise NVMLError(6)  # NVML_ERROR_NOT_FOUND

    def nvmlDeviceGetPciInfo(self, h: int) -> _PciInfo:
        return _PciInfo(busId=f"00000000:{0x18 + h:02X}:00.0")

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        self.power_reads += 1
        if self.fail_power_every and self.power_reads % self.fail_power_every == 0:
            raise NVMLError(15)
        t = self.clock()
        if self.power_avg_s:
            return round(self.energy_between_j(h, t - self.power_avg_s, t) / self.power_avg_s * 1000)
        return round(self.power_at(h, t) * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        if not self.counter_supported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        mj = self.energy_between_j(h, self.t0, self.last_update_at(h, self.clock())) * 1000
        return (self.counter_start_mj + int(mj)) % self.counter_modulus  # int: exact near 2**64

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return 55 + h

    def nvmlDeviceGetUtilizationRates(self, h: int) -> _Util:
        return _Util(gpu=97, memory=40)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> _Mem:
        return _Mem(total=80 * 2**30, used=20 * 2**30, free=60 * 2**30)

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return self.throttle

    def nvmlDeviceGetName(self, h: int) -> str:
        return "Fake H100"

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return f"GPU-fake-{h}"

    def nvmlDeviceGetPowerManagementLimit(self, h: int) -> int:
        return 700_000

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return 650_000

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h: int) -> int:
        return 700_000

    def nvmlDeviceGetPersistenceMode(self, h: int) -> int:
        return 1

    def nvmlDeviceGetClockInfo(self, h: int, kind: int) -> int:
        return 1980 if kind == 1 else 2619

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def __getattr__(self, name: str) -> Any:  # anything else NVML has, this fake lacks
        raise AttributeError(name)
