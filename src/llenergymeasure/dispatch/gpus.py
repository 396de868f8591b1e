"""The host's GPUs as NVML names them, by UUID: what ``--gpus`` selects units' slots from.

Indices differ between NVML and CUDA (CUDA orders fastest-first unless ``CUDA_DEVICE_ORDER`` is
``PCI_BUS_ID``) and inside containers, so a unit is given its GPUs by UUID; the index is kept
only to name slots for humans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from llenergymeasure.energy.nvml import load_pynvml
from llenergymeasure.errors import EnergyUnavailableError, ExecutorError


@dataclass(frozen=True)
class Gpu:
    """A GPU of this host: NVML ``index`` (for humans) and ``uuid`` (its identity)."""

    index: int
    uuid: str


def parse_gpus(spec: str) -> list[int | str] | None:
    """``--gpus`` as given: None for ``all``, else a list of NVML indices or UUIDs; bad text raises."""
    text = spec.strip()
    if text == "all":
        return None
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        raise ExecutorError(f"--gpus {spec!r}: give 'all' or a comma-separated list such as 0,1,2,3")
    out: list[int | str] = []
    for p in parts:
        if p.isdigit():
            out.append(int(p))
        elif p.startswith(("GPU-", "MIG-")):
            out.append(p)
        else:
            raise ExecutorError(f"--gpus {spec!r}: {p!r} is neither a GPU index nor a GPU-... UUID")
    if len(set(out)) != len(out):
        raise ExecutorError(f"--gpus {spec!r}: a GPU is listed twice")
    return out


def host_gpus(spec: str, nvml_loader: Callable[[], ModuleType] = load_pynvml) -> tuple[Gpu, ...]:
    """The GPUs ``spec`` (``all``, ``0,1,2,3`` or UUIDs) names on this host, in the order given."""
    wanted = parse_gpus(spec)
    try:
        nvml: Any = nvml_loader()
        count = int(nvml.nvmlDeviceGetCount())
        found = [Gpu(i, _text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i)))) for i in range(count)]
    except EnergyUnavailableError as exc:
        raise ExecutorError(f"--gpus {spec}: cannot list this host's GPUs ({exc})") from None
    except Exception as exc:  # pynvml.NVMLError, whose class lives on the loaded module
        raise ExecutorError(f"--gpus {spec}: cannot list this host's GPUs ({exc})") from None
    if wanted is None:
        if not found:
            raise ExecutorError(f"--gpus {spec}: NVML sees no GPU on this host")
        return tuple(found)
    by_index = {g.index: g for g in found}
    by_uuid = {g.uuid: g for g in found}
    out = []
    for w in wanted:
        gpu = by_index.get(w) if isinstance(w, int) else by_uuid.get(w)
        if gpu is None:
            have = ", ".join(f"{g.index}={g.uuid}" for g in found) or "none"
            raise ExecutorError(f"--gpus {spec}: no GPU {w} on this host (NVML sees: {have})")
        out.append(gpu)
    return tuple(out)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
