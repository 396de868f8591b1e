"""The GPU check's summary, rendered from real results of an H100 run (tests/data/h100, requests trimmed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llenergymeasure.gpucheck.summary import (
    RUNS_HEADING,
    ForkCheck,
    config_rows,
    fork_check,
    insert_run,
    run_section,
    scope_check,
)
from llenergymeasure.results.reader import read_result
from llenergymeasure.results.schema import ExperimentResult

DATA = Path(__file__).parents[2] / "data" / "h100"
UUID = "GPU-87669b4f-4d3a-9852-0688-cd1e4683e9f0"


def load(*names: str) -> list[ExperimentResult]:
    return [read_result(DATA / f"{n}.json") for n in names]


def test_rows_pool_cycles_per_config_and_launch_in_a_fixed_order() -> None:
    results = load("fresh_b32_c1", "warm_b32_c1", "warm_b4_c1", "warm_b32_c2", "warm_b4_c2")
    rows = config_rows(results)
    assert [(r.batch, r.launch, r.cycles) for r in rows] == [
        (4, "warm-start", 2),
        (32, "warm-start", 2),
        (32, "fresh", 1),
    ]
    b32 = rows[1]
    assert b32.tokens_per_s == pytest.approx((1364.833425217221 + 1838.257437118043) / 2)
    assert b32.j_per_token == pytest.approx((0.1221536865234375 + 0.10038754882812499) / 2)
    assert b32.j_per_decode_token == pytest.approx((0.10817531860500611 + 0.08608855020054616) / 2)
    assert b32.gap_pct == pytest.approx(100 * 0.01360883753638769)  # the larger of the two cycles
    assert b32.period_ms == pytest.approx(100.0, abs=1.0)


def test_fork_check_compares_forked_units_with_the_fresh_one() -> None:
    fresh = load("fresh_b32_c1")
    fc = fork_check(load("warm_b32_c1", "warm_b32_c2", "warm_b4_c1"), fresh)
    assert (fc.config, fc.forked_device, fc.fresh_device) == ("pytorch batch 32, 2 forked vs 1 fresh", "cuda", "cuda")
    assert fc.throughput_ratio == pytest.approx((1364.833425217221 + 1838.257437118043) / 2 / 1560.0343571706296)
    assert fc.ok is True
    assert ForkCheck("x", "cuda", "cuda", 1.45, 1.0).ok is False
    assert ForkCheck("x", "cpu", "cuda", 1.0, 1.0).ok is False
    with pytest.raises(ValueError, match="no warm-start result of config"):
        fork_check(load("warm_b4_c1"), fresh)
    with pytest.raises(ValueError, match="fresh results of exactly one config"):
        fork_check(load("warm_b4_c1"), load("fresh_b32_c1", "warm_b4_c1"))


def test_scope_check_names_the_gpu_measured() -> None:
    fresh = load("fresh_b32_c1")[0]
    assert scope_check(UUID, fresh) == (
        f"ok: a unit run with CUDA_VISIBLE_DEVICES={UUID} ran on cuda and measured {UUID}"
    )
    assert scope_check("GPU-other", fresh).startswith("FAILED: ")


def test_section_and_document() -> None:
    results = load("warm_b4_c1", "warm_b32_c1", "fresh_b32_c1")
    section = run_section(
        "2026-11-23 06:17 UTC", results, [fork_check(results[:2], results[2:])], ["vLLM"], "m", ["ok: x"]
    )
    lines = section.splitlines()
    assert lines[0] == "### 2026-11-23 06:17 UTC: 1 x NVIDIA H100 80GB HBM3"
    assert lines[2] == (
        f"- GPU: NVIDIA H100 80GB HBM3 ({UUID}, PCI 00000000:00:06.0), power limit 700 W (enforced 700 W),"
        " driver 580.159.04, CUDA driver 13.0"
    )
    assert lines[8].startswith("| pytorch | bf16 | 4 | warm-start | 1 | 0.7085 |")
    assert "- GPU scope by UUID: ok: x" in lines
    assert "- Skipped: vLLM" in lines
    doc = insert_run(None, "# GPU validation\n", section)
    assert doc.startswith(f"# GPU validation\n\n{RUNS_HEADING}\n\n### 2026-11-23")
    newer = insert_run(doc, "ignored", "### later\n")
    assert newer.index("### later") < newer.index("### 2026-11-23")
    assert "ignored" not in newer


def test_measurement_lines_name_the_reading_the_budget_the_loaded_baseline_and_throttle_time() -> None:
    from llenergymeasure.gpucheck.summary import measurement_lines
    from llenergymeasure.results.schema import UncertaintyBudget

    (old,) = load("warm_b32_c1")
    budget = UncertaintyBudget(
        components_j={"counter_resolution": 3.0}, total_j=3.0, not_included={"sensor_accuracy": "x"}
    )
    energy = old.energy.model_copy(
        update={
            "power_source": "instant_field",
            "power_average_window_s": 0.0,
            "total_energy_j": 300.0,
            "total_energy_uncertainty_j": 3.0,
            "uncertainty_budget": budget,
            "method": "counter",
            "sampled_energy_j": 301.0,
            "sampled_energy_uncertainty_j": 0.5,
            "baseline_power_w": 71.5,
            "baseline_power_uncertainty_w": 0.25,
            "baseline_temperature_start_c": 41.0,
            "throttle_share": {"power": 0.125, "thermal": 0.0},
            "throttle_method": "violation_time",
        }
    )
    lines = measurement_lines([old.model_copy(update={"energy": energy})])
    assert lines == [
        "- Power reading sampled: instant_field (averaging 0 s)",
        "- Uncertainty budget: 1.00% of the window's energy on average; parts: counter_resolution 100%",
        "- Not included (named, not zero): sensor_accuracy",
        "- Sampled power vs the counter: within both bounds in 1 of 1 windows (one sensor behind both: a check"
        " of integration and timing, not of the sensor)",
        "- Idle baseline in the loaded state (model warmed, weights and KV cache resident): 71.5 W ± 0.25 W,"
        " 71.5-71.5 W over 1 units, GPU at 41 °C",
        "- Throttle time, largest share of a window (violation_time): power 12.5%",
    ]
