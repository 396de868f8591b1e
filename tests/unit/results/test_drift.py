"""Idle-baseline drift per GPU across a campaign's units, from hand-made result rows."""

from __future__ import annotations

from typing import Any

import pytest

from llenergymeasure.results.drift import GpuBaseline, GpuDrift, baseline_drift, drift_line, gpu_baselines


def unit(
    started: str,
    total_w: float | None,
    uncertainty_w: float | None = None,
    uuids: tuple[str, ...] = ("GPU-aaaa",),
    per_gpu_w: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One result row as ``results.table.collect`` flattens it."""
    row: dict[str, Any] = {"file": f"m_pytorch_fp16_0123abcd_{started}.json", "started_at": started}
    row["energy.baseline_power_w"] = total_w
    row["energy.baseline_power_uncertainty_w"] = uncertainty_w
    row.update({f"environment.gpu_uuid.{i}": u for i, u in enumerate(uuids)})
    row.update({f"energy.baseline_per_gpu_power_w.{k}": v for k, v in (per_gpu_w or {}).items()})
    return row


def test_one_gpu_drifting_beyond_its_uncertainty_is_flagged_in_run_order() -> None:
    rows = [  # listed out of run order: started_at decides
        unit("2026-11-23T06:20:00+00:00", 66.0, 0.5),
        unit("2026-11-23T06:00:00+00:00", 61.2, 0.5),
        unit("2026-11-23T06:30:00+00:00", 70.4, 0.5),
        unit("2026-11-23T06:10:00+00:00", 60.0, 0.5),
    ]
    (drift,) = baseline_drift(rows)
    # median of 60.0, 61.2, 66.0, 70.4 is 63.6; spread (70.4 - 60.0) / 63.6 = 0.16352
    assert drift == GpuDrift(
        gpu_uuid="GPU-aaaa",
        n=4,
        first_w=61.2,
        last_w=70.4,
        min_w=60.0,
        max_w=70.4,
        spread=pytest.approx(10.4 / 63.6),
        uncertainty_w=1.0,
        flagged=True,
    )
    assert drift_line(drift) == (
        "idle baseline drift on GPU-aaaa: 61.2 W -> 70.4 W over 4 units (range 60.0-70.4 W, spread 16%,"
        " beyond the baselines' uncertainty of 1.0 W); above-idle figures compare units at different idle states"
    )


def test_per_gpu_baselines_follow_the_uuid_not_the_ordinal_and_the_total_bound_is_apportioned() -> None:
    first = unit("2026-11-23T06:00:00+00:00", 100.0, 10.0, ("GPU-a", "GPU-b"), {"0": 60.0, "1": 40.0})
    # The next unit ran in another slot: ordinal 0 is GPU-b there.
    second = unit("2026-11-23T06:05:00+00:00", 110.0, 11.0, ("GPU-b", "GPU-a"), {"0": 44.0, "1": 66.0})
    assert gpu_baselines(first) == {"GPU-a": GpuBaseline(60.0, 6.0), "GPU-b": GpuBaseline(40.0, 4.0)}
    assert gpu_baselines(second) == {"GPU-b": GpuBaseline(44.0, 4.4), "GPU-a": GpuBaseline(66.0, 6.6)}
    a, b = baseline_drift([second, first])
    # GPU-a: 60 -> 66, median 63, spread 6/63 = 9.5 %, bound 6.0 + 6.6 = 12.6 W > 6 W: within it
    assert (a.gpu_uuid, a.first_w, a.last_w, a.spread, a.uncertainty_w, a.flagged) == (
        "GPU-a",
        60.0,
        66.0,
        pytest.approx(6 / 63),
        pytest.approx(12.6),
        False,
    )
    # GPU-b: 40 -> 44, spread 4/42 = 9.5 %, bound 4.0 + 4.4 = 8.4 W > 4 W: within it
    assert (b.gpu_uuid, b.n, b.spread, b.uncertainty_w, b.flagged) == (
        "GPU-b",
        2,
        pytest.approx(4 / 42),
        pytest.approx(8.4),
        False,
    )


def test_a_recorded_per_gpu_bound_is_used_instead_of_apportioning() -> None:
    row = unit("2026-11-23T06:00:00+00:00", 100.0, 10.0, ("GPU-a", "GPU-b"), {"0": 60.0, "1": 40.0})
    row["energy.baseline_per_gpu_uncertainty_w.0"] = 1.5
    assert gpu_baselines(row) == {"GPU-a": GpuBaseline(60.0, 1.5), "GPU-b": GpuBaseline(40.0, 4.0)}


def test_spread_within_five_percent_or_within_uncertainty_is_not_flagged() -> None:
    small = [unit("2026-11-23T06:00:00+00:00", 100.0, 0.1), unit("2026-11-23T06:10:00+00:00", 104.0, 0.1)]
    (d,) = baseline_drift(small)
    assert (d.spread, d.flagged) == (pytest.approx(4 / 102), False)
    noisy = [unit("2026-11-23T06:00:00+00:00", 100.0, 4.0), unit("2026-11-23T06:10:00+00:00", 106.0, 4.0)]
    (d,) = baseline_drift(noisy)
    assert (d.spread, d.uncertainty_w, d.flagged) == (pytest.approx(6 / 103), 8.0, False)  # 5.8 % but 6 W < 8 W


def test_without_recorded_uncertainty_the_spread_alone_decides_and_the_line_says_so() -> None:
    rows = [unit("2026-11-23T06:00:00+00:00", 50.0), unit("2026-11-23T06:10:00+00:00", 55.0)]
    (d,) = baseline_drift(rows)
    assert (d.uncertainty_w, d.flagged) == (None, True)
    assert drift_line(d) == (
        "idle baseline drift on GPU-aaaa: 50.0 W -> 55.0 W over 2 units (range 50.0-55.0 W, spread 10%,"
        " the baselines' uncertainty not recorded); above-idle figures compare units at different idle states"
    )


def test_units_without_a_usable_baseline_are_skipped() -> None:
    rows = [
        unit("2026-11-23T06:00:00+00:00", None),  # baseline disabled or energy unavailable
        unit("2026-11-23T06:01:00+00:00", 80.0, uuids=("GPU-a", "GPU-b")),  # two GPUs, no per-GPU split
        unit("2026-11-23T06:02:00+00:00", 80.0, uuids=("unknown",)),  # cannot be matched across units
        unit("2026-11-23T06:03:00+00:00", 61.0, 0.2),
    ]
    assert [gpu_baselines(r) for r in rows] == [{}, {}, {}, {"GPU-aaaa": GpuBaseline(61.0, 0.2)}]
    (d,) = baseline_drift(rows)
    assert (d.gpu_uuid, d.n, d.first_w, d.last_w, d.spread, d.uncertainty_w, d.flagged) == (
        "GPU-aaaa",
        1,
        61.0,
        61.0,
        0.0,
        0.4,
        False,
    )
    assert baseline_drift([]) == []


def test_units_started_in_the_same_second_are_ordered_by_their_baseline_window() -> None:
    late = unit("2026-11-23T06:00:00+00:00", 70.0, 0.1) | {"energy.baseline_window_start_monotonic_s": 5020.5}
    early = unit("2026-11-23T06:00:00+00:00", 60.0, 0.1) | {"energy.baseline_window_start_monotonic_s": 5000.25}
    (d,) = baseline_drift([late, early])
    assert (d.first_w, d.last_w, d.flagged) == (60.0, 70.0, True)
