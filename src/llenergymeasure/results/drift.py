"""Idle-baseline drift across a campaign's units, per GPU. Pure: rows in, figures and lines out.

Each unit measures its own idle baseline (model loaded and warmed), so its above-idle energy is
relative to the idle state of its own GPUs at that time. When one GPU's baseline moves across the
campaign (warming up, a clock or fan state changing) beyond what the baselines' own uncertainty
explains, above-idle figures of different units sit on different floors; the results say so.

Per-GPU baselines are keyed by GPU UUID (a CUDA ordinal names different GPUs in different slots),
joining each row's ``energy.baseline_per_gpu_power_w.{ordinal}`` with its
``environment.gpu_uuid.{ordinal}`` (both flattened by ``results.table.collect``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PER_GPU = "energy.baseline_per_gpu_power_w."
PER_GPU_UNCERTAINTY = "energy.baseline_per_gpu_uncertainty_w."
TOTAL = "energy.baseline_power_w"
TOTAL_UNCERTAINTY = "energy.baseline_power_uncertainty_w"
UUID = "environment.gpu_uuid."
WINDOW_START = "energy.baseline_window_start_monotonic_s"

# Relative spread (max - min) / median above which a GPU's baselines are said to drift.
SPREAD_THRESHOLD = 0.05


@dataclass(frozen=True)
class GpuBaseline:
    """One unit's idle baseline on one GPU, and the bound on it (None: not recorded)."""

    power_w: float
    uncertainty_w: float | None


@dataclass(frozen=True)
class GpuDrift:
    """One GPU's idle baselines over the units that measured one, in run order."""

    gpu_uuid: str
    n: int
    first_w: float
    last_w: float
    min_w: float
    max_w: float
    spread: float  # (max - min) / median
    # Sum of the bounds of the units with the lowest and the highest baseline; None if either lacks one.
    uncertainty_w: float | None
    flagged: bool


def gpu_baselines(row: dict[str, Any]) -> dict[str, GpuBaseline]:
    """One unit's idle baseline per GPU UUID; empty without a baseline or where it cannot be split per GPU.

    Per GPU: ``energy.baseline_per_gpu_power_w``; a unit with one GPU and no per-GPU figure uses
    the total. Uncertainty per GPU: ``energy.baseline_per_gpu_uncertainty_w`` where recorded;
    where only the total bound ``energy.baseline_power_uncertainty_w`` is, it is apportioned by the
    GPU's share of the total baseline, ``u_gpu = u_total * P_gpu / P_total`` (the bound is not split
    by measurement, so this assumes it scales with power); None where neither is recorded. A GPU
    whose UUID is unrecorded or ``unknown`` is left out (it cannot be matched across units).
    """
    total = row.get(TOTAL)
    if total is None:
        return {}
    uuids = {k.removeprefix(UUID): v for k, v in row.items() if k.startswith(UUID) and v not in (None, "unknown")}
    per_gpu = {k.removeprefix(PER_GPU): v for k, v in row.items() if k.startswith(PER_GPU) and v is not None}
    if not per_gpu and len(uuids) == 1:
        per_gpu = {next(iter(uuids)): total}
    known = {k.removeprefix(PER_GPU_UNCERTAINTY): v for k, v in row.items() if k.startswith(PER_GPU_UNCERTAINTY)}
    total_u = row.get(TOTAL_UNCERTAINTY)
    out = {}
    for ordinal, power_w in per_gpu.items():
        if ordinal not in uuids:
            continue
        u = known.get(ordinal)
        if u is None and total_u is not None:
            u = total_u * power_w / total if total else total_u
        out[str(uuids[ordinal])] = GpuBaseline(float(power_w), None if u is None else float(u))
    return out


def _run_order(row: dict[str, Any]) -> tuple[float, str, float, str]:
    """When the unit started (``started_at``, whole seconds; unparsable ones last, by their text).

    Ties: the baseline window's start on CLOCK_MONOTONIC (comparable between units that share a GPU,
    as they share a host), then the file name.
    """
    started = str(row.get("started_at") or "")
    try:
        when = datetime.fromisoformat(started).timestamp()
    except ValueError:
        when = math.inf
    monotonic = row.get(WINDOW_START)
    return when, started, monotonic if monotonic is not None else -math.inf, str(row.get("file", ""))


def baseline_drift(rows: list[dict[str, Any]], spread_threshold: float = SPREAD_THRESHOLD) -> list[GpuDrift]:
    """Per GPU UUID (sorted), its units' idle baselines in run order and whether they drift.

    Flagged: the relative spread ``(max - min) / median`` exceeds ``spread_threshold`` and
    ``max - min`` exceeds the sum of the bounds of the two extreme units (where either bound is
    unrecorded, the spread alone decides). Units without a baseline are skipped.
    """
    series: dict[str, list[GpuBaseline]] = {}
    for row in sorted(rows, key=_run_order):
        for uuid, baseline in gpu_baselines(row).items():
            series.setdefault(uuid, []).append(baseline)
    out = []
    for uuid in sorted(series):
        points = series[uuid]
        watts = [p.power_w for p in points]
        low = min(points, key=lambda p: p.power_w)
        high = max(points, key=lambda p: p.power_w)
        median = statistics.median(watts)
        spread = (high.power_w - low.power_w) / median if median > 0 else 0.0
        bound = None
        if low.uncertainty_w is not None and high.uncertainty_w is not None:
            bound = low.uncertainty_w + high.uncertainty_w
        beyond = bound is None or high.power_w - low.power_w > bound
        flagged = spread > spread_threshold and beyond
        out.append(GpuDrift(uuid, len(points), watts[0], watts[-1], low.power_w, high.power_w, spread, bound, flagged))
    return out


def drift_line(drift: GpuDrift) -> str:
    """One line saying how a GPU's idle baseline moved, for ``llem results`` and the report."""
    if drift.uncertainty_w is None:
        why = "the baselines' uncertainty not recorded"
    else:
        why = f"beyond the baselines' uncertainty of {drift.uncertainty_w:.1f} W"
    return (
        f"idle baseline drift on {drift.gpu_uuid}: {drift.first_w:.1f} W -> {drift.last_w:.1f} W over {drift.n} units"
        f" (range {drift.min_w:.1f}-{drift.max_w:.1f} W, spread {drift.spread:.0%}, {why});"
        " above-idle figures compare units at different idle states"
    )
