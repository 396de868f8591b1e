"""The hardware layer: NVIDIA GPUs read through NVML (nvidia-ml-py's ``pynvml`` module).

The ``pynvml`` module is passed in, never a global, so tests hand in a fake with known power
curves, and a machine without NVML gets a clear ``EnergyUnavailableError`` instead of an import
crash. NVML errors are mapped to this project's exceptions where they are called.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from llenergymeasure.errors import EnergyUnavailableError

# Clock-event (throttle) reason bits that mean the GPU was slowed by heat or a power cap.
THROTTLE_BITS: dict[str, int] = {
    "sw_power_cap": 0x4,
    "hw_slowdown": 0x8,
    "sw_thermal": 0x20,
    "hw_thermal": 0x40,
    "hw_power_brake": 0x80,
}


@dataclass(frozen=True)
class GpuInfo:
    """Static facts about one GPU, recorded with every result."""

    index: int
    name: str
    uuid: str
    power_limit_w: float | None
    persistence_mode: bool | None
    sm_clock_mhz: int | None
    mem_clock_mhz: int | None
    energy_counter_supported: bool


def load_pynvml() -> ModuleType:
    """Import nvidia-ml-py and initialise NVML, or explain why energy cannot be measured here."""
    try:
        pynvml = importlib.import_module("pynvml")
    except ImportError:
        raise EnergyUnavailableError("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise EnergyUnavailableError(
            f"NVML could not start ({exc}); no NVIDIA driver or GPU is visible on this machine"
        ) from None
    return pynvml


class NvmlDevices:
    """A set of GPUs opened through an initialised ``pynvml`` module."""

    def __init__(self, pynvml: Any, indices: tuple[int, ...] | None = None) -> None:
        self.nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
        except pynvml.NVMLError as exc:
            raise EnergyUnavailableError(f"NVML cannot count GPUs ({exc})") from None
        if count == 0:
            raise EnergyUnavailableError("NVML sees no GPU")
        wanted = indices if indices is not None else tuple(range(count))
        bad = [i for i in wanted if i < 0 or i >= count]
        if bad:
            raise EnergyUnavailableError(f"energy.gpu_indices {bad} not present; this machine has {count} GPUs")
        self.indices = wanted
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in wanted]
        self.counter_supported = [self._probe_counter(h) for h in self.handles]

    def _call(self, fn: str, *args: Any) -> Any:
        """Call ``pynvml.fn``; unsupported or failing reads give None rather than ending the run."""
        try:
            return getattr(self.nvml, fn)(*args)
        except self.nvml.NVMLError:
            return None
        except AttributeError:  # older nvidia-ml-py without this call
            return None

    def _probe_counter(self, handle: Any) -> bool:
        return self._call("nvmlDeviceGetTotalEnergyConsumption", handle) is not None

    def energy_mj(self) -> list[int | None]:
        """Per-GPU cumulative energy counters in mJ (None where unsupported)."""
        return [self._call("nvmlDeviceGetTotalEnergyConsumption", h) for h in self.handles]

    def power_w(self) -> list[float | None]:
        """Per-GPU instantaneous board power in W."""
        return [_scaled(self._call("nvmlDeviceGetPowerUsage", h), 1e-3) for h in self.handles]

    def telemetry(self) -> list[dict[str, Any]]:
        """Per-GPU temperature, utilisation, memory and throttle reasons, for the timeseries."""
        out = []
        for h in self.handles:
            util = self._call("nvmlDeviceGetUtilizationRates", h)
            mem = self._call("nvmlDeviceGetMemoryInfo", h)
            reasons = self._call("nvmlDeviceGetCurrentClocksEventReasons", h)
            if reasons is None:
                reasons = self._call("nvmlDeviceGetCurrentClocksThrottleReasons", h)
            out.append(
                {
                    "temperature_c": self._call("nvmlDeviceGetTemperature", h, 0),
                    "utilization_pct": getattr(util, "gpu", None),
                    "memory_used_bytes": getattr(mem, "used", None),
                    "throttle_reasons": reasons,
                }
            )
        return out

    def info(self) -> list[GpuInfo]:
        """Static description of each opened GPU."""
        infos = []
        for idx, h, counter in zip(self.indices, self.handles, self.counter_supported, strict=True):
            pm = self._call("nvmlDeviceGetPersistenceMode", h)
            infos.append(
                GpuInfo(
                    index=idx,
                    name=_text(self._call("nvmlDeviceGetName", h)) or "unknown",
                    uuid=_text(self._call("nvmlDeviceGetUUID", h)) or "unknown",
                    power_limit_w=_scaled(self._call("nvmlDeviceGetPowerManagementLimit", h), 1e-3),
                    persistence_mode=None if pm is None else bool(pm),
                    sm_clock_mhz=self._call("nvmlDeviceGetClockInfo", h, 1),
                    mem_clock_mhz=self._call("nvmlDeviceGetClockInfo", h, 2),
                    energy_counter_supported=counter,
                )
            )
        return infos

    def driver(self) -> dict[str, str | None]:
        """Driver and CUDA driver versions."""
        cuda = self._call("nvmlSystemGetCudaDriverVersion")
        return {
            "driver_version": _text(self._call("nvmlSystemGetDriverVersion")),
            "cuda_driver_version": f"{cuda // 1000}.{(cuda % 1000) // 10}" if isinstance(cuda, int) else None,
        }


def throttle_flags(reasons: int | None) -> list[str]:
    """Names of the heat/power throttle bits set in an NVML clock-event bitmask."""
    if not reasons:
        return []
    return [name for name, bit in THROTTLE_BITS.items() if reasons & bit]


def _scaled(value: Any, factor: float) -> float | None:
    return None if value is None else float(value) * factor


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
