"""A fake ``pynvml`` module with deterministic, known power curves (the hardware edge of the tests).

Power of GPU i at time t (seconds since the fake's time origin ``t0``) follows ``profile``:

- ``"sine"`` (the default): ``base_w[i] + amp_w * sin(2*pi*t/period_s)`` (``amps_w`` gives each GPU
  its own amplitude).
- ``"steps"``: piecewise constant, from ``steps = ((t_rel_s, watts), ...)`` sorted by time and
  relative to ``t0``; a step holds from its time (inclusive) to the next one's, and the first step's
  watts also hold before its time. For a known power edge (the engine starting a batch).
- ``"square"``: ``high_w`` for the first ``duty`` fraction of each ``period_s``, starting at ``t0``,
  then ``low_w``. For a signal that changes faster than NVML's averaging window.

For ``steps`` and ``square`` GPU i adds the offset ``base_w[i] - base_w[0]`` (0 where ``base_w`` has no
entry for it), so several GPUs share a shape but differ in level. The energy counter is the exact
integral, in mJ, offset by ``counter_start_mj`` (to exercise wrap-around); every profile integrates in
closed form, so ``energy_between_j(gpu, t_a, t_b)`` is the true energy between two clock readings,
which is what a correct meter must report.

Real-hardware resolution, off by default so older tests keep their meaning:
``counter_update_s`` makes the counter hold its value between updates every that many seconds
(NVML's is ~0.1 s), each GPU offset by ``counter_phase_s[i]``; ``power_avg_s`` makes the power
reading (``nvmlDeviceGetPowerUsage``) the mean over the last that many seconds: on Ampere and newer,
except GA100, that reading is a 1 s trailing average, not the power now.

Idle and load, off by default: with ``idle_w`` set (one constant per GPU) the GPU draws ``idle_w``
except inside load spans, where it follows the profile above. ``start_load()``/``stop_load()`` open
and close a span at the current clock reading (the "engine" starting and stopping work), or
``load_spans`` lists them up front; ``energy_between_j`` integrates both pieces exactly, so a
baseline measured while idle and a window measured under load have a known difference.

Temperature, off by default (``nvmlDeviceGetTemperature`` then reads ``55 + h`` °C, today's value):
with ``thermal_tau_s`` set, GPU h reads ``ambient_c + h + c_per_w * q(t)``, rounded to whole degrees
as NVML does, where ``q`` is a first-order lag (time constant ``thermal_tau_s``) of the power the
heat follows, starting at equilibrium at ``t0``. That power is ``idle_w`` outside load spans and
the load's level inside them: the step's watts for ``steps``, the mean for ``sine`` (``base_w``) and
``square`` (duty-weighted): a GPU heats over minutes, far slower than a batch's power swings. It is
piecewise constant, so ``temperature_at`` is exact: ``q`` relaxes towards each piece's level by
``exp(-dt/tau)``. For testing warmup until settled and cooldown with a known curve.

Other NVML readings, each with today's values by default:

- ``nvmlDeviceGetFieldValues``: ``NVML_FI_DEV_POWER_INSTANT`` is NVML's unaveraged power reading, in
  mW as ``value.uiVal``: the true power now, whatever ``power_avg_s`` is; only when
  ``instant_supported`` (older drivers and GPUs lack it: the entry's ``nvmlReturn`` is then
  ``NVML_ERROR_NOT_SUPPORTED``, and the call itself does not raise, as in NVML).
  ``NVML_FI_DEV_POWER_AVERAGE`` is the same reading as ``nvmlDeviceGetPowerUsage``. Any other field
  id is not supported. Each power entry read counts in ``field_power_reads`` (apart from
  ``power_reads``), and ``fail_power_every`` applies to that count too: every n-th such entry has
  ``nvmlReturn`` 15 (``NVML_ERROR_GPU_IS_LOST``, as ``nvmlDeviceGetPowerUsage`` raises).
- ``nvmlDeviceGetViolationStatus``: time spent throttled by a perf policy, cumulative since ``t0``
  in ns (``violationTime``), with ``referenceTime`` the fake's clock in µs; policy p is in violation
  for ``violation_shares[p]`` of elapsed time (0 where absent); ``violation_supported=False`` raises.
- ``sm_clock_mhz``/``mem_clock_mhz`` (``nvmlDeviceGetClockInfo``), ``compute_capability`` (by default
  the one whose ``nvmlDeviceGetPowerUsage`` behaves as ``power_avg_s`` says: 9.0 averaging, 8.0 not),
  (``nvmlDeviceGetCudaComputeCapability``), ``enforced_limit_mw``/``management_limit_mw`` (the power
  limits); None raises ``NVMLError(NVML_ERROR_NOT_SUPPORTED)``.

Settings, as a real driver enforces and records them (for ``gpu.*`` experiment fields):

- ``limit_constraints_mw`` (min, max) is what ``nvmlDeviceGetPowerManagementLimitConstraints`` gives
  and ``nvmlDeviceSetPowerManagementLimit`` accepts (else ``NVML_ERROR_INVALID_ARGUMENT``); once set,
  ``nvmlDeviceGetPowerManagementLimit`` and ``nvmlDeviceGetEnforcedPowerLimit`` both read the set
  limit (before that, ``management_limit_mw``/``enforced_limit_mw``: the initial values). With
  ``management_limit_mw=None`` power management is not supported: the constraints, the default
  limit and the set call raise ``NVML_ERROR_NOT_SUPPORTED``. ``default_limit_mw`` is
  ``nvmlDeviceGetPowerManagementDefaultLimit``.
- ``supported_mem_clocks`` and ``supported_sm_clocks`` (MHz, descending) are what
  ``nvmlDeviceGetSupportedMemoryClocks`` and ``nvmlDeviceGetSupportedGraphicsClocks(h, mem)`` give
  (the same SM list for every supported memory clock; another memory clock is
  ``NVML_ERROR_NOT_FOUND``). ``nvmlDeviceSetGpuLockedClocks(h, min, max)`` and
  ``nvmlDeviceSetMemoryLockedClocks(h, min, max)`` take only values from those lists with
  ``min <= max`` (else ``NVML_ERROR_INVALID_ARGUMENT``); the ``Reset*LockedClocks`` calls unlock.
  While locked, ``nvmlDeviceGetClockInfo`` reads the locked max (SM and graphics, or memory). An
  empty list means that kind of lock is not supported: its calls raise ``NVML_ERROR_NOT_SUPPORTED``.
- ``can_set=False`` is a non-root user: every set and reset call raises
  ``NVML_ERROR_NO_PERMISSION`` (reads still work).
- ``kill_at_change`` ``(n, "before" | "after")``: the process SIGKILLs itself at its n-th set or reset
  call, before the driver changes anything or after the change is made and recorded: the points
  where a host can die around a GPU setting (crash torture).
- Every set and reset call, failed ones included, is recorded in ``settings_calls`` as
  ``{"gpu", "call", "args", "t" (the fake's clock), "error" (NVML code or None)}``. With
  ``settings_file`` (a path) the per-GPU settings (``power_limit_mw``, ``sm_clocks``,
  ``mem_clocks``; None: never set or unlocked) live in that JSON file instead of in memory, read
  on every get and rewritten atomically on every successful set, under an ``flock`` of
  ``settings_file + ".lock"``; each call is also appended as one JSON line to
  ``settings_file + ".calls"`` (flushed and fsynced). Several processes (the host, units, a host
  restarted after SIGKILL) then share one "driver state", and a test reads the exact call sequence.

``fake_args_from_json`` turns a JSON object (the pynvml shim's ``LLEM_FAKE_NVML``) into ``FakeNvml``
arguments.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import itertools
import json
import math
import os
import signal
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llenergymeasure.atomic import write_atomic


class NVMLError(Exception):
    def __init__(self, value: int = 999) -> None:
        super().__init__(f"fake NVML error {value}")
        self.value = value


NVML_SUCCESS = 0
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_GPU_IS_LOST = 15

NVML_VALUE_TYPE_DOUBLE = 0
NVML_VALUE_TYPE_UNSIGNED_INT = 1
NVML_VALUE_TYPE_UNSIGNED_LONG = 2
NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4
NVML_VALUE_TYPE_SIGNED_INT = 5
NVML_VALUE_TYPE_UNSIGNED_SHORT = 6

NVML_FI_DEV_POWER_AVERAGE = 185
NVML_FI_DEV_POWER_INSTANT = 186

NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2

NVML_PERF_POLICY_POWER = 0
NVML_PERF_POLICY_THERMAL = 1
NVML_PERF_POLICY_SYNC_BOOST = 2
NVML_PERF_POLICY_BOARD_LIMIT = 3
NVML_PERF_POLICY_LOW_UTILIZATION = 4
NVML_PERF_POLICY_RELIABILITY = 5
NVML_PERF_POLICY_TOTAL_APP_CLOCKS = 10
NVML_PERF_POLICY_TOTAL_BASE_CLOCKS = 11
_PERF_POLICIES = frozenset({0, 1, 2, 3, 4, 5, 10, 11})

PROFILES = ("sine", "steps", "square")


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
class _Value:
    """``c_nvmlValue_t``: a union, so every member reads the same (zeroed) 8 bytes."""

    dVal: float = 0.0
    uiVal: int = 0
    ulVal: int = 0
    ullVal: int = 0
    sllVal: int = 0
    siVal: int = 0
    usVal: int = 0

    @classmethod
    def of_uint(cls, v: int) -> _Value:
        """The union after writing ``uiVal = v`` (little-endian, as on x86 and arm64)."""
        v &= 0xFFFFFFFF
        return cls(
            dVal=struct.unpack("<d", struct.pack("<Q", v))[0],
            uiVal=v,
            ulVal=v,
            ullVal=v,
            sllVal=v,
            siVal=v - 2**32 if v >= 2**31 else v,
            usVal=v & 0xFFFF,
        )


@dataclass
class _FieldValue:
    """``c_nvmlFieldValue_t``: one entry of ``nvmlDeviceGetFieldValues``."""

    fieldId: int
    scopeId: int = 0
    timestamp: int = 0  # µs
    latencyUsec: int = 0
    valueType: int = NVML_VALUE_TYPE_DOUBLE
    nvmlReturn: int = NVML_SUCCESS
    value: _Value = field(default_factory=_Value)


@dataclass
class _ViolationTime:
    """``c_nvmlViolationTime_t``."""

    referenceTime: int  # µs
    violationTime: int  # ns, cumulative


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
    idle_w: tuple[float, ...] = ()
    load_spans: list[tuple[float, float]] = field(default_factory=list)
    profile: str = "sine"
    steps: tuple[tuple[float, float], ...] = ()  # ((t_rel_s, watts), ...) for profile "steps"
    low_w: float = 100.0  # profile "square"
    high_w: float = 300.0  # profile "square"
    duty: float = 0.5  # profile "square": fraction of each period at high_w, high first
    instant_supported: bool = False
    violation_shares: dict[int, float] = field(default_factory=dict)
    violation_supported: bool = True
    sm_clock_mhz: int = 1980
    mem_clock_mhz: int = 2619
    # The architecture that matches the power reading: Hopper (9.0) when it averages, GA100 (8.0),
    # whose nvmlDeviceGetPowerUsage is instantaneous, when it does not; set it to test a mismatch.
    compute_capability: tuple[int, int] | str | None = "matching"
    enforced_limit_mw: int | None = 650_000
    management_limit_mw: int | None = 700_000
    limit_constraints_mw: tuple[int, int] = (100_000, 700_000)
    default_limit_mw: int = 700_000
    supported_mem_clocks: tuple[int, ...] = (2619, 1593)
    supported_sm_clocks: tuple[int, ...] = (1980, 1890, 1755, 1620, 1530, 1410, 1305, 1200, 1095, 990, 900, 810, 705)
    can_set: bool = True
    settings_file: str | None = None
    # Crash torture: SIGKILL this process at its n-th set/reset call (counted from 1), "before" the
    # driver changes anything or "after" the change is made and recorded.
    kill_at_change: tuple[int, str] | None = None
    changes_seen: int = 0
    settings_calls: list[dict[str, Any]] = field(default_factory=list)
    thermal_tau_s: float = 0.0  # 0: no temperature model, a fixed 55 + h °C
    ambient_c: float = 30.0
    c_per_w: float = 0.1  # °C above ambient per W of (lagged) power
    t0: float = field(default=0.0)
    power_reads: int = 0
    field_power_reads: int = 0

    # the pynvml constants code under test may use (``__getattr__`` below has no fallback)
    NVML_SUCCESS = NVML_SUCCESS
    NVML_ERROR_INVALID_ARGUMENT = NVML_ERROR_INVALID_ARGUMENT
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_NO_PERMISSION = NVML_ERROR_NO_PERMISSION
    NVML_ERROR_NOT_FOUND = NVML_ERROR_NOT_FOUND
    NVML_ERROR_GPU_IS_LOST = NVML_ERROR_GPU_IS_LOST
    NVML_VALUE_TYPE_DOUBLE = NVML_VALUE_TYPE_DOUBLE
    NVML_VALUE_TYPE_UNSIGNED_INT = NVML_VALUE_TYPE_UNSIGNED_INT
    NVML_VALUE_TYPE_UNSIGNED_LONG = NVML_VALUE_TYPE_UNSIGNED_LONG
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
    NVML_VALUE_TYPE_SIGNED_LONG_LONG = NVML_VALUE_TYPE_SIGNED_LONG_LONG
    NVML_VALUE_TYPE_SIGNED_INT = NVML_VALUE_TYPE_SIGNED_INT
    NVML_VALUE_TYPE_UNSIGNED_SHORT = NVML_VALUE_TYPE_UNSIGNED_SHORT
    NVML_FI_DEV_POWER_AVERAGE = NVML_FI_DEV_POWER_AVERAGE
    NVML_FI_DEV_POWER_INSTANT = NVML_FI_DEV_POWER_INSTANT
    NVML_CLOCK_GRAPHICS = NVML_CLOCK_GRAPHICS
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM
    NVML_PERF_POLICY_POWER = NVML_PERF_POLICY_POWER
    NVML_PERF_POLICY_THERMAL = NVML_PERF_POLICY_THERMAL
    NVML_PERF_POLICY_SYNC_BOOST = NVML_PERF_POLICY_SYNC_BOOST
    NVML_PERF_POLICY_BOARD_LIMIT = NVML_PERF_POLICY_BOARD_LIMIT
    NVML_PERF_POLICY_LOW_UTILIZATION = NVML_PERF_POLICY_LOW_UTILIZATION
    NVML_PERF_POLICY_RELIABILITY = NVML_PERF_POLICY_RELIABILITY
    NVML_PERF_POLICY_TOTAL_APP_CLOCKS = NVML_PERF_POLICY_TOTAL_APP_CLOCKS
    NVML_PERF_POLICY_TOTAL_BASE_CLOCKS = NVML_PERF_POLICY_TOTAL_BASE_CLOCKS

    def __post_init__(self) -> None:
        self.t0 = self.clock()
        self.NVMLError = NVMLError
        if self.compute_capability == "matching":
            self.compute_capability = (9, 0) if self.power_avg_s else (8, 0)
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, not {self.profile!r}")
        if self.profile == "steps":
            times = [t for t, _ in self.steps]
            if not times or times != sorted(times):
                raise ValueError("profile 'steps' needs steps=((t_rel_s, watts), ...), sorted by time")
        if self.profile == "square" and not (self.period_s > 0 and 0.0 <= self.duty <= 1.0):
            raise ValueError("profile 'square' needs period_s > 0 and 0 <= duty <= 1")
        self.violation_shares = {int(p): float(s) for p, s in self.violation_shares.items()}
        self._settings: dict[str, dict[str, Any]] = {}  # without settings_file: the driver state

    # driver settings ----------------------------------------------------
    def settings(self, gpu: int) -> dict[str, Any]:
        """GPU ``gpu``'s settings now: ``power_limit_mw``, ``sm_clocks``, ``mem_clocks`` (None: unset)."""
        return {**_NO_SETTINGS, **self._read_settings().get(str(gpu), {})}

    def _read_settings(self) -> dict[str, dict[str, Any]]:
        if self.settings_file is None:
            return self._settings
        try:
            state: dict[str, dict[str, Any]] = json.loads(Path(self.settings_file).read_text())
        except FileNotFoundError:
            return {}
        return state

    @contextlib.contextmanager
    def _settings_lock(self) -> Iterator[None]:
        """Serialise read-modify-write of the shared settings file across processes."""
        if self.settings_file is None:
            yield
            return
        with open(self.settings_file + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _change(self, h: int, call: str, args: list[int], change: Callable[[dict[str, Any]], int | None]) -> None:
        """One set/reset call as a driver runs it: permission, ``change`` (an NVML error code or None), record."""
        self._handle(h)
        self.changes_seen += 1
        kill = self.kill_at_change is not None and self.kill_at_change[0] == self.changes_seen
        if kill and self.kill_at_change is not None and self.kill_at_change[1] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        with self._settings_lock():
            state = self._read_settings()
            gpu = {**_NO_SETTINGS, **state.get(str(h), {})}
            error = NVML_ERROR_NO_PERMISSION if not self.can_set else change(gpu)
            if error is None:
                state[str(h)] = gpu
                if self.settings_file is None:
                    self._settings = state
                else:
                    write_atomic(Path(self.settings_file), json.dumps(state, sort_keys=True).encode(), sync="data")
            self._record({"gpu": h, "call": call, "args": args, "t": self.clock(), "error": error})
        if kill:
            os.kill(os.getpid(), signal.SIGKILL)
        if error is not None:
            raise NVMLError(error)

    def _record(self, entry: dict[str, Any]) -> None:
        self.settings_calls.append(entry)
        if self.settings_file is not None:
            with open(self.settings_file + ".calls", "a") as log:
                log.write(json.dumps(entry) + "\n")
                log.flush()
                os.fsync(log.fileno())

    def _handle(self, h: int) -> None:
        if not (isinstance(h, int) and 0 <= h < self.n_gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)

    def _locked(self, h: int, key: str) -> int | None:
        """The locked max clock of kind ``key`` (``sm_clocks``/``mem_clocks``), None when unlocked."""
        pair = self.settings(h)[key]
        return None if pair is None else int(pair[1])

    # ground truth -------------------------------------------------------
    def amp(self, gpu: int) -> float:
        return self.amps_w[gpu] if self.amps_w else self.amp_w

    def offset_w(self, gpu: int) -> float:
        """GPU ``gpu``'s level above GPU 0 for the ``steps`` and ``square`` profiles."""
        return self.base_w[gpu] - self.base_w[0] if gpu < len(self.base_w) else 0.0

    def start_load(self) -> None:
        """The engine starts working now: the load curve applies until ``stop_load()``."""
        self.load_spans.append((self.clock(), math.inf))

    def stop_load(self) -> None:
        """The engine is idle again from now on."""
        start, _ = self.load_spans.pop()
        self.load_spans.append((start, self.clock()))

    def loaded(self, t: float) -> bool:
        """Whether the load curve applies at ``t`` (always, when no ``idle_w`` is set)."""
        return not self.idle_w or any(a <= t < b for a, b in self.load_spans)

    def power_at(self, gpu: int, t: float) -> float:
        if not self.loaded(t):
            return self.idle_w[gpu]
        x = t - self.t0
        if self.profile == "steps":
            i = bisect.bisect_right([s for s, _ in self.steps], x) - 1
            return self.steps[max(i, 0)][1] + self.offset_w(gpu)
        if self.profile == "square":
            r = x - math.floor(x / self.period_s) * self.period_s
            return (self.high_w if r < self.duty * self.period_s else self.low_w) + self.offset_w(gpu)
        return self.base_w[gpu] + self.amp(gpu) * math.sin(2 * math.pi * x / self.period_s)

    def _integral_j(self, gpu: int, x: float) -> float:
        """An antiderivative of the load curve at ``x`` seconds after ``t0``."""
        if self.profile == "steps":
            (x_first, w_first), total = self.steps[0], 0.0
            if x <= x_first:
                total = w_first * (x - x_first)
            for k, (x_k, w_k) in enumerate(self.steps):
                end = self.steps[k + 1][0] if k + 1 < len(self.steps) else math.inf
                if x > x_k:
                    total += w_k * (min(x, end) - x_k)
            return total + self.offset_w(gpu) * x
        if self.profile == "square":
            n = math.floor(x / self.period_s)
            r, high_s = x - n * self.period_s, self.duty * self.period_s
            per_period = self.high_w * high_s + self.low_w * (self.period_s - high_s)
            partial = self.high_w * min(r, high_s) + self.low_w * max(0.0, r - high_s)
            return n * per_period + partial + self.offset_w(gpu) * x
        w = 2 * math.pi / self.period_s
        return self.base_w[gpu] * x - self.amp(gpu) / w * math.cos(w * x)

    def load_energy_between_j(self, gpu: int, t_a: float, t_b: float) -> float:
        """Integral of the load curve alone over ``[t_a, t_b]``, idle or not."""
        return self._integral_j(gpu, t_b - self.t0) - self._integral_j(gpu, t_a - self.t0)

    def energy_between_j(self, gpu: int, t_a: float, t_b: float) -> float:
        if not self.idle_w:
            return self.load_energy_between_j(gpu, t_a, t_b)
        loaded_j, loaded_s = 0.0, 0.0
        for a, b in self.load_spans:
            lo, hi = max(a, t_a), min(b, t_b)
            if lo < hi:
                loaded_j += self.load_energy_between_j(gpu, lo, hi)
                loaded_s += hi - lo
        return loaded_j + self.idle_w[gpu] * (t_b - t_a - loaded_s)

    def heat_w(self, gpu: int, t: float) -> float:
        """The power the temperature follows at ``t``: idle, or the load's level (its mean for sine and square)."""
        if not self.loaded(t):
            return self.idle_w[gpu]
        if self.profile == "sine":
            return self.base_w[gpu]
        if self.profile == "square":
            return self.low_w + self.duty * (self.high_w - self.low_w) + self.offset_w(gpu)
        return self.power_at(gpu, t)

    def temperature_at(self, gpu: int, t: float) -> float:
        """The model's exact temperature at ``t`` (unrounded), from equilibrium at ``t0``."""
        edges = {a for a, _ in self.load_spans} | {b for _, b in self.load_spans}
        edges |= {self.t0 + x for x, _ in self.steps} if self.profile == "steps" else set()
        cuts = [self.t0, *sorted(e for e in edges if self.t0 < e < t), max(t, self.t0)]
        lagged = self.heat_w(gpu, self.t0)
        for u, v in itertools.pairwise(cuts):
            level = self.heat_w(gpu, u)
            lagged = level + (lagged - level) * math.exp(-(v - u) / self.thermal_tau_s)
        return self.ambient_c + gpu + self.c_per_w * lagged

    def last_update_at(self, gpu: int, t: float) -> float:
        """When the counter last updated at or before ``t`` (``t`` itself for a continuous counter)."""
        if not self.counter_update_s:
            return t
        phase = self.counter_phase_s[gpu] if self.counter_phase_s else 0.0
        k = math.floor((t - self.t0 - phase) / self.counter_update_s)
        return max(self.t0, self.t0 + phase + k * self.counter_update_s)

    def power_reading_mw(self, gpu: int, t: float) -> int:
        """What ``nvmlDeviceGetPowerUsage`` reads at ``t``: averaged over ``power_avg_s`` when set."""
        if self.power_avg_s:
            return round(self.energy_between_j(gpu, t - self.power_avg_s, t) / self.power_avg_s * 1000)
        return round(self.power_at(gpu, t) * 1000)

    def _us(self, t: float) -> int:
        return round(t * 1e6)

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
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return self.power_reading_mw(h, self.clock())

    def nvmlDeviceGetFieldValues(self, h: int, field_ids: list[int | tuple[int, int]]) -> list[_FieldValue]:
        """One entry per requested field, as pynvml; an unsupported field sets that entry's ``nvmlReturn``."""
        t = self.clock()
        out = []
        for fid in field_ids:
            field_id, scope_id = (fid[0], fid[1]) if isinstance(fid, (tuple, list)) else (fid, 0)
            entry = _FieldValue(fieldId=field_id, scopeId=scope_id, timestamp=self._us(t))
            out.append(entry)
            if field_id == NVML_FI_DEV_POWER_INSTANT and not self.instant_supported:
                entry.nvmlReturn = NVML_ERROR_NOT_SUPPORTED
                continue
            if field_id not in (NVML_FI_DEV_POWER_INSTANT, NVML_FI_DEV_POWER_AVERAGE):
                entry.nvmlReturn = NVML_ERROR_NOT_SUPPORTED
                continue
            self.field_power_reads += 1
            if self.fail_power_every and self.field_power_reads % self.fail_power_every == 0:
                entry.nvmlReturn = NVML_ERROR_GPU_IS_LOST
                continue
            if field_id == NVML_FI_DEV_POWER_INSTANT:
                mw = round(self.power_at(h, t) * 1000)
            else:
                mw = self.power_reading_mw(h, t)
            entry.valueType, entry.value = NVML_VALUE_TYPE_UNSIGNED_INT, _Value.of_uint(mw)
        return out

    def nvmlDeviceGetViolationStatus(self, h: int, perfPolicyType: int) -> _ViolationTime:
        if not self.violation_supported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        if perfPolicyType not in _PERF_POLICIES:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        t = self.clock()
        share = self.violation_shares.get(perfPolicyType, 0.0)
        return _ViolationTime(referenceTime=self._us(t), violationTime=round(share * max(0.0, t - self.t0) * 1e9))

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        if not self.counter_supported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        mj = self.energy_between_j(h, self.t0, self.last_update_at(h, self.clock())) * 1000
        return (self.counter_start_mj + int(mj)) % self.counter_modulus  # int: exact near 2**64

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        if not self.thermal_tau_s:
            return 55 + h
        return round(self.temperature_at(h, self.clock()))

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

    @staticmethod
    def _supported(value: int | None) -> int:
        if value is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlDeviceGetPowerManagementLimit(self, h: int) -> int:
        initial = self._supported(self.management_limit_mw)
        limit = self.settings(h)["power_limit_mw"]
        return initial if limit is None else int(limit)

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        initial = self._supported(self.enforced_limit_mw)
        limit = self.settings(h)["power_limit_mw"]
        return initial if limit is None else int(limit)

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h: int) -> int:
        self._supported(self.management_limit_mw)
        return self.default_limit_mw

    def nvmlDeviceGetPowerManagementLimitConstraints(self, h: int) -> list[int]:
        self._supported(self.management_limit_mw)
        return list(self.limit_constraints_mw)

    def nvmlDeviceSetPowerManagementLimit(self, h: int, limit: int) -> None:
        def change(gpu: dict[str, Any]) -> int | None:
            if self.management_limit_mw is None:
                return NVML_ERROR_NOT_SUPPORTED
            lo, hi = self.limit_constraints_mw
            if not lo <= limit <= hi:
                return NVML_ERROR_INVALID_ARGUMENT
            gpu["power_limit_mw"] = int(limit)
            return None

        self._change(h, "nvmlDeviceSetPowerManagementLimit", [limit], change)

    def nvmlDeviceGetSupportedMemoryClocks(self, h: int) -> list[int]:
        self._handle(h)
        if not self.supported_mem_clocks:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return list(self.supported_mem_clocks)

    def nvmlDeviceGetSupportedGraphicsClocks(self, h: int, memoryClockMHz: int) -> list[int]:
        if memoryClockMHz not in self.nvmlDeviceGetSupportedMemoryClocks(h):
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return list(self.supported_sm_clocks)

    def _lock(self, h: int, call: str, key: str, supported: tuple[int, ...], lo: int, hi: int | None) -> None:
        """Lock (``hi`` given) or reset (``hi`` None) one kind of clock, checked against ``supported``."""

        def change(gpu: dict[str, Any]) -> int | None:
            if not supported:
                return NVML_ERROR_NOT_SUPPORTED
            if hi is None:
                gpu[key] = None
                return None
            if lo not in supported or hi not in supported or lo > hi:
                return NVML_ERROR_INVALID_ARGUMENT
            gpu[key] = [int(lo), int(hi)]
            return None

        self._change(h, call, [] if hi is None else [lo, hi], change)

    def nvmlDeviceSetGpuLockedClocks(self, h: int, minGpuClockMHz: int, maxGpuClockMHz: int) -> None:
        sm = self.supported_sm_clocks
        self._lock(h, "nvmlDeviceSetGpuLockedClocks", "sm_clocks", sm, minGpuClockMHz, maxGpuClockMHz)

    def nvmlDeviceResetGpuLockedClocks(self, h: int) -> None:
        self._lock(h, "nvmlDeviceResetGpuLockedClocks", "sm_clocks", self.supported_sm_clocks, 0, None)

    def nvmlDeviceSetMemoryLockedClocks(self, h: int, minMemClockMHz: int, maxMemClockMHz: int) -> None:
        mem = self.supported_mem_clocks
        self._lock(h, "nvmlDeviceSetMemoryLockedClocks", "mem_clocks", mem, minMemClockMHz, maxMemClockMHz)

    def nvmlDeviceResetMemoryLockedClocks(self, h: int) -> None:
        self._lock(h, "nvmlDeviceResetMemoryLockedClocks", "mem_clocks", self.supported_mem_clocks, 0, None)

    def nvmlDeviceGetPersistenceMode(self, h: int) -> int:
        return 1

    def nvmlDeviceGetClockInfo(self, h: int, kind: int) -> int:
        if kind in (NVML_CLOCK_SM, NVML_CLOCK_GRAPHICS):
            locked = self._locked(h, "sm_clocks")
            if locked is None:  # graphics read as memory before settings existed: kept
                return self.sm_clock_mhz if kind == NVML_CLOCK_SM else self.mem_clock_mhz
            return locked
        locked = self._locked(h, "mem_clocks")
        return self.mem_clock_mhz if locked is None else locked

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        if not isinstance(self.compute_capability, tuple):
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return self.compute_capability

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def __getattr__(self, name: str) -> Any:  # anything else NVML has, this fake lacks
        raise AttributeError(name)


_NO_SETTINGS: dict[str, Any] = {"power_limit_mw": None, "sm_clocks": None, "mem_clocks": None}
_TUPLE_ARGS = (
    "base_w",
    "amps_w",
    "counter_phase_s",
    "idle_w",
    "compute_capability",
    "limit_constraints_mw",
    "supported_mem_clocks",
    "supported_sm_clocks",
)


def fake_args_from_json(text: str) -> dict[str, Any]:
    """``FakeNvml`` arguments from a JSON object: lists become the tuples the fields hold."""
    args: dict[str, Any] = json.loads(text or "{}")
    for key in _TUPLE_ARGS:
        if isinstance(args.get(key), list):
            args[key] = tuple(args[key])
    if isinstance(args.get("steps"), list):
        args["steps"] = tuple((float(t), float(w)) for t, w in args["steps"])
    if isinstance(args.get("load_spans"), list):
        args["load_spans"] = [(float(a), float(b)) for a, b in args["load_spans"]]
    if isinstance(args.get("violation_shares"), dict):
        args["violation_shares"] = {int(p): float(s) for p, s in args["violation_shares"].items()}
    return args
