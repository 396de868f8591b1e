"""The hardware layer: NVIDIA GPUs read through NVML (nvidia-ml-py's ``pynvml`` module).

The ``pynvml`` module is passed in, never a global, so tests hand in a fake with known power
curves, and a machine without NVML gets a clear ``EnergyUnavailableError`` instead of an import
crash. NVML errors are mapped to this project's exceptions where they are called.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from llenergymeasure.energy.scope import GpuTarget, parse_visible
from llenergymeasure.errors import EnergyUnavailableError

# Clock-event (throttle) reason bits that mean the GPU was slowed by heat or a power cap.
THROTTLE_BITS: dict[str, int] = {
    "sw_power_cap": 0x4,
    "hw_slowdown": 0x8,
    "sw_thermal": 0x20,
    "hw_thermal": 0x40,
    "hw_power_brake": 0x80,
}

# nvmlDeviceGetViolationStatus policies (pynvml's NVML_PERF_POLICY_* values): cumulative time, in ns,
# that the GPU's clocks were held down for each reason. Names are what results report.
VIOLATION_POLICIES: dict[str, int] = {
    "power": 0,
    "thermal": 1,
    "sync_boost": 2,
    "board_limit": 3,
    "low_utilization": 4,
    "reliability": 5,
    "below_app_clocks": 10,
    "below_base_clocks": 11,
}
# NVML field ids (pynvml's NVML_FI_DEV_POWER_*), used where the module lacks the constant.
FIELD_POWER_INSTANT = 186
# nvmlDeviceGetPowerUsage is a trailing 1 s average on Ampere and newer, except GA100 (compute
# capability 8.0), which with older GPUs returns the instantaneous power (NVML's documentation).
POWER_USAGE_AVERAGE_S = 1.0
_VALUE_MEMBERS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


@dataclass(frozen=True)
class PowerSource:
    """Which NVML reading gives a GPU's power, and over what trailing window it is averaged.

    ``kind``: ``instant_field`` (``NVML_FI_DEV_POWER_INSTANT``), ``power_usage_average`` (a trailing
    ``average_s`` mean, Ampere and newer) or ``power_usage_instant`` (older GPUs and GA100).
    ``assumed``: the averaging could not be read from the GPU (compute capability unknown) and is
    NVML's documented behaviour of current GPUs; results say so.
    """

    kind: str
    average_s: float
    assumed: bool = False


@dataclass(frozen=True)
class GpuInfo:
    """Static facts about one GPU, recorded with every result."""

    index: int  # the experiment's CUDA ordinal (the key of per-GPU figures in results)
    name: str
    uuid: str
    pci_bus_id: str | None
    power_limit_w: float | None  # the management limit an administrator set
    enforced_power_limit_w: float | None  # what the GPU holds to (lowest of every limit in force)
    default_power_limit_w: float | None
    memory_total_bytes: int | None
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


def visible_gpu_count(nvml_loader: Callable[[], Any] = load_pynvml) -> int | None:
    """GPUs this process can hand to experiments (NVML count within CUDA_VISIBLE_DEVICES); None without NVML."""
    try:
        nvml = nvml_loader()
        count = int(nvml.nvmlDeviceGetCount())
    except EnergyUnavailableError:
        return None
    except Exception:  # an NVMLError of a half-working driver: no count, no plan-time check
        return None
    visible = parse_visible(os.environ.get("CUDA_VISIBLE_DEVICES"))
    return count if visible is None else min(count, len(visible))


class NvmlDevices:
    """A set of GPUs opened through an initialised ``pynvml`` module."""

    def __init__(
        self, pynvml: Any, indices: tuple[int, ...] | None = None, targets: list[GpuTarget] | None = None
    ) -> None:
        """Open ``targets`` (see ``energy.scope``), or NVML indices ``indices``, or every GPU.

        ``indices`` addresses GPUs by NVML index and serves tools that look at the whole machine
        (``llem doctor``); an experiment passes the targets its scope resolved.
        """
        self.nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
        except pynvml.NVMLError as exc:
            raise EnergyUnavailableError(f"NVML cannot count GPUs ({exc})") from None
        if count == 0:
            raise EnergyUnavailableError("NVML sees no GPU")
        if targets is None:
            wanted = indices if indices is not None else tuple(range(count))
            bad = [i for i in wanted if i < 0 or i >= count]
            if bad:
                raise EnergyUnavailableError(f"GPU index {bad} not present; this machine has {count} GPUs")
            targets = [GpuTarget(i, None, i) for i in wanted]
        self.indices = tuple(t.ordinal for t in targets)
        self.handles = [self._open(t) for t in targets]
        self.counter_supported = [self._probe_counter(h) for h in self.handles]
        self._instant_field = int(getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", FIELD_POWER_INSTANT))
        self.power_sources = [self._power_source(h) for h in self.handles]

    def _open(self, target: GpuTarget) -> Any:
        """NVML handle of one target: by UUID when the experiment was given one, else by index."""
        try:
            if target.uuid is not None:
                return self.nvml.nvmlDeviceGetHandleByUUID(target.uuid)
            return self.nvml.nvmlDeviceGetHandleByIndex(target.nvml_index)
        except self.nvml.NVMLError as exc:
            which = target.uuid if target.uuid is not None else f"index {target.nvml_index}"
            raise EnergyUnavailableError(f"NVML cannot open GPU {which} ({exc})") from None

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

    def _instant_mw(self, handle: Any) -> float | None:
        """The instantaneous board power field in mW, or None where the driver or GPU lacks it."""
        values = self._call("nvmlDeviceGetFieldValues", handle, [self._instant_field])
        if not values:
            return None
        return field_value(values[0])

    def _power_source(self, handle: Any) -> PowerSource:
        """Instant field where it reads; else nvmlDeviceGetPowerUsage with its averaging from the architecture."""
        if self._instant_mw(handle) is not None:
            return PowerSource("instant_field", 0.0)
        cc = self._call("nvmlDeviceGetCudaComputeCapability", handle)
        if isinstance(cc, tuple | list) and len(cc) == 2:
            if (int(cc[0]), int(cc[1])) <= (8, 0):
                return PowerSource("power_usage_instant", 0.0)
            return PowerSource("power_usage_average", POWER_USAGE_AVERAGE_S)
        return PowerSource("power_usage_average", POWER_USAGE_AVERAGE_S, assumed=True)

    def energy_mj(self) -> list[int | None]:
        """Per-GPU cumulative energy counters in mJ (None where unsupported)."""
        return [self._call("nvmlDeviceGetTotalEnergyConsumption", h) for h in self.handles]

    def power_w(self) -> list[float | None]:
        """Per-GPU board power in W from each GPU's ``power_sources`` reading."""
        out: list[float | None] = []
        for h, source in zip(self.handles, self.power_sources, strict=True):
            if source.kind == "instant_field":
                out.append(_scaled(self._instant_mw(h), 1e-3))
            else:
                out.append(_scaled(self._call("nvmlDeviceGetPowerUsage", h), 1e-3))
        return out

    def temperature_c(self) -> list[float | None]:
        """Per-GPU core temperature in °C (``NVML_TEMPERATURE_GPU``, whole degrees), for thermal settling."""
        return [_scaled(self._call("nvmlDeviceGetTemperature", h, 0), 1.0) for h in self.handles]

    def violation_ns(self) -> list[dict[str, int]]:
        """Per GPU, cumulative clock-violation time in ns for each reason NVML reports (absent: unsupported)."""
        out = []
        for h in self.handles:
            times: dict[str, int] = {}
            for name, policy in VIOLATION_POLICIES.items():
                v = self._call("nvmlDeviceGetViolationStatus", h, policy)
                value = getattr(v, "violationTime", None)
                if value is not None:
                    times[name] = int(value)
            out.append(times)
        return out

    def power_ceiling_w(self) -> list[float | None]:
        """Per GPU, the highest power limit NVML reports (enforced, management or default), in W.

        The sampled-power bounds need an upper bound on instantaneous power that the readings
        themselves cannot show (a 1 s average hides peaks); None where no limit is readable.
        """
        out = []
        for h in self.handles:
            limits = [
                self._call(fn, h)
                for fn in (
                    "nvmlDeviceGetEnforcedPowerLimit",
                    "nvmlDeviceGetPowerManagementLimit",
                    "nvmlDeviceGetPowerManagementDefaultLimit",
                )
            ]
            known = [float(x) * 1e-3 for x in limits if isinstance(x, int | float)]
            out.append(max(known) if known else None)
        return out

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
                    "sm_clock_mhz": self._call("nvmlDeviceGetClockInfo", h, 1),
                    "mem_clock_mhz": self._call("nvmlDeviceGetClockInfo", h, 2),
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
                    pci_bus_id=_text(getattr(self._call("nvmlDeviceGetPciInfo", h), "busId", None)),
                    power_limit_w=_scaled(self._call("nvmlDeviceGetPowerManagementLimit", h), 1e-3),
                    enforced_power_limit_w=_scaled(self._call("nvmlDeviceGetEnforcedPowerLimit", h), 1e-3),
                    default_power_limit_w=_scaled(self._call("nvmlDeviceGetPowerManagementDefaultLimit", h), 1e-3),
                    memory_total_bytes=getattr(self._call("nvmlDeviceGetMemoryInfo", h), "total", None),
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


def field_value(fv: Any) -> float | None:
    """The number in one ``nvmlFieldValue_t``, read from the union member its ``valueType`` names.

    None when NVML answered that field with an error (``nvmlReturn`` not 0: unsupported here).
    """
    if int(getattr(fv, "nvmlReturn", 0)) != 0:
        return None
    member = _VALUE_MEMBERS.get(int(getattr(fv, "valueType", 1)), "uiVal")
    value = getattr(getattr(fv, "value", None), member, None)
    return None if value is None else float(value)


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
