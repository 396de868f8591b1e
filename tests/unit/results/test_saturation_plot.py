"""The saturation curve from result files, and its figure."""

from __future__ import annotations

import json
from pathlib import Path

from llenergymeasure.results.saturation_plot import CurvePoint, curve_of, curves, saturation_figure


def phase(profile: str, offered: float | None, completed: float, tps: float, sustained: bool | None) -> dict:
    return {
        "profile": profile,
        "offered_rate_per_s": offered,
        "completed_rate_per_s": completed,
        "sustained": sustained,
        "ttft_ms": {"p50": 12.5},
        "window": {"output_tokens_per_s": tps, "energy_per_output_token_j": None},
    }


DOC = {
    "serving": {
        "saturation": {
            "points": [
                phase("synchronous", 1.0, 1.0, 10.0, None),
                phase("throughput", 8.0, 6.0, 60.0, None),
                phase("rate", 2.5, 2.5, 25.0, True),
                phase("rate", 4.5, 3.9, 39.0, False),
            ],
            "max_sustained_rate_per_s": 2.5,
        }
    }
}


def test_a_units_curve_is_its_phases_by_offered_rate() -> None:
    curve = curve_of(DOC, "abc cycle 1")
    assert curve is not None
    assert [p.offered_per_s for p in curve.points] == [1.0, 2.5, 4.5, 8.0]
    assert curve.points[1] == CurvePoint("rate", 2.5, 25.0, None, 12.5, True)
    assert curve.max_sustained_per_s == 2.5
    assert curve_of({"serving": {"saturation": None}}, "x") is None
    assert curve_of({}, "x") is None


def test_curves_come_from_the_rows_with_a_sweep_and_draw_one_figure(tmp_path: Path) -> None:
    (tmp_path / "a_c1.json").write_text(json.dumps(DOC))
    rows = [
        {"file": "a_c1.json", "config_hash": "0123456789abcdef", "cycle": 1, "config.scenario.saturation.points": 4},
        {"file": "b_c1.json", "config_hash": "fedcba9876543210", "cycle": 1},
    ]
    found = curves(rows, tmp_path)
    assert [c.label for c in found] == ["01234567 cycle 1"]
    fig = saturation_figure(found)
    assert fig is not None
    assert fig.name == "saturation"
    assert fig.title == "Saturation sweep: throughput and TTFT by offered load"
    assert saturation_figure([]) is None
