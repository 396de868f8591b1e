"""Reading, applying and restoring GPU settings through NVML (the ``pynvml`` module, passed in).

The counterpart of ``gpu.settings`` at the hardware edge: every call goes through the ``nvml``
module given (as ``energy.nvml`` does), so tests hand in the fake NVML and the host, a unit or a
restarted host share one driver state. NVML errors become ``GpuSettingsError`` with one line that
names the GPU, the field and NVML's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from llenergymeasure.errors import GpuSettingsError
from llenergymeasure.gpu.settings import MEM_FIELD, NO_PERMISSION, POWER_FIELD, SM_FIELD, Capabilities, State, Target

# NVML return codes (pynvml's NVML_ERROR_* values), as words for one-line messages.
NOT_SUPPORTED = 3
_REASONS = {1: "not initialised", 2: "invalid argument", 3: "not supported", 4: NO_PERMISSION, 6: "not found"}
_REASONS |= {15: "GPU is lost", 999: "unknown error"}
_CLOCK_SM = 1  # NVML_CLOCK_SM
_CLOCK_MEM = 2  # NVML_CLOCK_MEM


def reason(nvml: Any, exc: BaseException) -> str:
    """NVML's reason for ``exc`` in a few words (``NVML: no permission``), stable across pynvml versions."""
    code = getattr(exc, "value", None)
    return f"NVML: {_REASONS.get(code, str(exc)) if isinstance(code, int) else exc}"


def capabilities(nvml: Any, indices: Iterable[int]) -> list[Capabilities]:
    """What each GPU (NVML index) supports and whether this process may change it; changes nothing.

    Whether changes are allowed is probed by setting the power limit to the value it already has:
    NVML checks permission before the value, so a non-root user gets ``NVML_ERROR_NO_PERMISSION``
    and root changes nothing. (Resetting clocks would also probe, but would undo a lock someone
    else holds.) On a GPU without power management the write is not supported, and that is
    reported as the reason instead.
    """
    out = []
    for index in indices:
        h = _handle(nvml, index)
        uuid = _text(_call(nvml, f"GPU {index}", "nvmlDeviceGetUUID", h))
        constraints = _optional(nvml, "nvmlDeviceGetPowerManagementLimitConstraints", h)
        mem = tuple(int(m) for m in _optional(nvml, "nvmlDeviceGetSupportedMemoryClocks", h) or ())
        sm: set[int] = set()
        for m in mem:
            sm.update(int(s) for s in _optional(nvml, "nvmlDeviceGetSupportedGraphicsClocks", h, m) or ())
        why_not = _probe(nvml, h)
        out.append(
            Capabilities(
                uuid=uuid,
                index=index,
                limit_min_mw=None if constraints is None else int(constraints[0]),
                limit_max_mw=None if constraints is None else int(constraints[1]),
                sm_clocks=tuple(sorted(sm, reverse=True)),
                mem_clocks=tuple(sorted(mem, reverse=True)),
                settable=why_not is None,
                why_not=why_not,
            )
        )
    return out


def read_state(nvml: Any, index: int) -> State:
    """What ``restore`` needs to put GPU ``index`` back: its UUID and current power limit."""
    h = _handle(nvml, index)
    uuid = _text(_call(nvml, f"GPU {index}", "nvmlDeviceGetUUID", h))
    limit = _optional(nvml, "nvmlDeviceGetPowerManagementLimit", h)
    return State(uuid=uuid, index=index, power_limit_mw=None if limit is None else int(limit))


def apply(nvml: Any, index: int, target: Target) -> None:
    """Set ``target`` on GPU ``index``: power limit, then SM clocks, then memory clocks.

    A failure raises at once and leaves what was already set: the caller restores the ``State``
    it read before, whatever happened (``restore`` is idempotent).
    """
    h = _handle(nvml, index)
    if target.power_limit_mw is not None:
        what = f"set {POWER_FIELD} to {target.power_limit_mw / 1000:g} W on GPU {index}"
        _call(nvml, what, "nvmlDeviceSetPowerManagementLimit", h, target.power_limit_mw)
    if target.sm_clocks is not None:
        lo, hi = target.sm_clocks
        _call(nvml, f"set {SM_FIELD} to [{lo}, {hi}] MHz on GPU {index}", "nvmlDeviceSetGpuLockedClocks", h, lo, hi)
    if target.mem_clocks is not None:
        lo, hi = target.mem_clocks
        what = f"set {MEM_FIELD} to [{lo}, {hi}] MHz on GPU {index}"
        _call(nvml, what, "nvmlDeviceSetMemoryLockedClocks", h, lo, hi)


def restore(nvml: Any, index: int, state: State) -> None:
    """Put GPU ``index`` back to ``state``: its power limit, and SM and memory clocks unlocked.

    Idempotent, so it is safe after a partial ``apply``, twice, or from a host restarted after a
    crash. Every step is tried even when one fails; the first failure is raised after the rest ran.
    A reset that NVML does not support (the GPU cannot lock that clock) is nothing to undo.
    """
    h = _handle(nvml, index)
    uuid = _text(_call(nvml, f"GPU {index}", "nvmlDeviceGetUUID", h))
    if uuid != state.uuid:
        raise GpuSettingsError(f"cannot restore GPU {index}: it is now {uuid}, not {state.uuid} whose state was saved")
    steps: list[tuple[str, Callable[[], Any]]] = [
        (f"reset SM clocks of GPU {index}", lambda: nvml.nvmlDeviceResetGpuLockedClocks(h)),
        (f"reset memory clocks of GPU {index}", lambda: nvml.nvmlDeviceResetMemoryLockedClocks(h)),
    ]
    if state.power_limit_mw is not None:
        limit = state.power_limit_mw
        what = f"restore the power limit of GPU {index} to {limit / 1000:g} W"
        steps.insert(0, (what, lambda: nvml.nvmlDeviceSetPowerManagementLimit(h, limit)))
    first: GpuSettingsError | None = None
    for what, step in steps:
        try:
            step()
        except nvml.NVMLError as exc:
            if what.startswith("reset") and getattr(exc, "value", None) == NOT_SUPPORTED:
                continue
            first = first or GpuSettingsError(f"cannot {what} ({state.uuid}): {reason(nvml, exc)}")
    if first is not None:
        raise first


def enforced(nvml: Any, index: int) -> dict[str, float | int | None]:
    """The settings in force on GPU ``index`` now, for results (None where NVML cannot read them)."""
    h = _handle(nvml, index)
    limit = _optional(nvml, "nvmlDeviceGetEnforcedPowerLimit", h)
    sm = _optional(nvml, "nvmlDeviceGetClockInfo", h, getattr(nvml, "NVML_CLOCK_SM", _CLOCK_SM))
    mem = _optional(nvml, "nvmlDeviceGetClockInfo", h, getattr(nvml, "NVML_CLOCK_MEM", _CLOCK_MEM))
    return {
        "enforced_power_limit_w": None if limit is None else int(limit) / 1000,
        "sm_clock_mhz": None if sm is None else int(sm),
        "mem_clock_mhz": None if mem is None else int(mem),
    }


def _probe(nvml: Any, h: Any) -> str | None:
    """None when NVML accepts a no-op power-limit write from this process, else NVML's reason."""
    try:
        nvml.nvmlDeviceSetPowerManagementLimit(h, nvml.nvmlDeviceGetPowerManagementLimit(h))
    except nvml.NVMLError as exc:
        return reason(nvml, exc).removeprefix("NVML: ")
    return None


def _handle(nvml: Any, index: int) -> Any:
    try:
        return nvml.nvmlDeviceGetHandleByIndex(index)
    except nvml.NVMLError as exc:
        raise GpuSettingsError(f"NVML cannot open GPU {index} ({reason(nvml, exc)})") from None


def _call(nvml: Any, what: str, fn: str, *args: Any) -> Any:
    """``nvml.fn(*args)``; an NVML error becomes ``cannot {what}: NVML: {reason}``."""
    try:
        return getattr(nvml, fn)(*args)
    except nvml.NVMLError as exc:
        raise GpuSettingsError(f"cannot {what}: {reason(nvml, exc)}") from None


def _optional(nvml: Any, fn: str, *args: Any) -> Any:
    """``nvml.fn(*args)``, or None where the GPU or the installed pynvml lacks it."""
    try:
        return getattr(nvml, fn)(*args)
    except nvml.NVMLError:
        return None
    except AttributeError:  # older nvidia-ml-py without this call
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
