import math
from typing import Any

import pytest

from llenergymeasure.results.compare import (
    CampaignStats,
    MatchError,
    compare,
    compared_metrics,
    environment_differences,
    environment_facts,
    match,
    missing_note,
    welch_change,
)
from llenergymeasure.results.compare_plot import compare_points, compare_view, plot_compare
from llenergymeasure.results.stats import by_config

JPT = "energy.energy_per_output_token_j"
ADJ = "energy.adjusted_energy_per_output_token_j"
TPS = "metrics.output_tokens_per_s"
DIMS = ["config.model", "config.backend", "config.precision", "config.pytorch.batch_size"]


def config_rows(config_hash: str, values: dict[str, list[float]], **fields: Any) -> list[dict[str, Any]]:
    """One row per cycle of one config: ``values`` maps metric -> per-cycle values."""
    config = {"model": "llem/tiny", "backend": "pytorch", "precision": "fp16", "pytorch.batch_size": 1} | fields
    n = len(next(iter(values.values())))
    rows = []
    for cycle in range(1, n + 1):
        row: dict[str, Any] = {"config_hash": config_hash, "cycle": cycle}
        row |= {f"config.{k}": v for k, v in config.items()}
        row |= {m: vs[cycle - 1] for m, vs in values.items()}
        rows.append(row)
    return rows


def campaign(name: str, *configs: list[dict[str, Any]]) -> CampaignStats:
    rows = [r for c in configs for r in c]
    return CampaignStats(name, rows, by_config(rows, DIMS))


# --- Welch ratio and difference (hand-computed) ----------------------------------------------------


def test_ratio_of_geometric_means_with_a_welch_interval_on_logs() -> None:
    before = campaign("before", config_rows("a" * 16, {JPT: [10.0, 12.0, 11.0]}))
    after = campaign("after", config_rows("a" * 16, {JPT: [5.0, 6.0, 5.5]}))
    [row] = compare([before, after], match([before, after]), [JPT])
    [change] = row.changes
    # B is A halved cycle for cycle: log values shifted by ln 2, same log variance s^2 = 0.0083160267.
    # Ratio exp(-ln 2) = 0.5; se = sqrt(2 s^2 / 3) = 0.0744588; Welch dof (equal v, equal n) = 2(n-1) = 4;
    # t(0.975, 4) = 2.7764451; interval 0.5 * exp(-+0.2067304) = 0.4066200 .. 0.6148246.
    assert (change.metric, change.baseline, change.campaign) == (JPT, "before", "after")
    assert (change.kind, change.method, change.n_baseline, change.n) == ("ratio", "Welch log-t", 3, 3)
    assert change.estimate == pytest.approx(0.5, rel=1e-12)
    assert change.dof == pytest.approx(4.0, rel=1e-12)
    assert change.ci_low == pytest.approx(0.40662000501, rel=1e-9)
    assert change.ci_high == pytest.approx(0.61482464443, rel=1e-9)
    assert change.distinguishable is True
    assert change.note is None


def test_ratio_whose_interval_holds_one_is_not_distinguishable() -> None:
    change = welch_change(JPT, ("before", [10.0, 12.0, 11.0]), ("after", [9.0, 13.0, 11.5]))
    # Logs: means differ by 0.0063780; Welch dof 2.8983251 (unequal variances).
    assert change.estimate == pytest.approx(1.006398367518, rel=1e-9)
    assert change.dof == pytest.approx(2.8983250704, rel=1e-9)
    assert change.ci_low == pytest.approx(0.6811424016, rel=1e-9)
    assert change.ci_high == pytest.approx(1.4869690563, rel=1e-9)
    assert change.distinguishable is False


def test_metric_that_can_be_negative_is_a_difference_of_means() -> None:
    change = welch_change(ADJ, ("before", [1.0, 2.0, 3.0]), ("after", [3.0, 5.0]))
    # 4 - 2 = 2; v_A/n_A = 1/3, v_B/n_B = 2/2 = 1, se = sqrt(4/3);
    # dof = (4/3)^2 / ((1/3)^2/2 + 1^2/1) = 32/19; t(0.975, 32/19) = 5.1762316; 2 -+ 5.9769974.
    assert (change.kind, change.method) == ("difference", "Welch t")
    assert change.estimate == 2.0
    assert change.dof == pytest.approx(32 / 19, rel=1e-12)
    assert change.ci_low == pytest.approx(-3.97699744826, rel=1e-9)
    assert change.ci_high == pytest.approx(7.97699744826, rel=1e-9)
    assert change.distinguishable is False


def test_positive_metric_with_a_zero_falls_back_to_the_difference() -> None:
    change = welch_change(JPT, ("before", [0.0, 1.0]), ("after", [1.0, 2.0]))
    assert (change.kind, change.estimate) == ("difference", 1.0)


def test_one_cycle_gives_the_estimate_and_says_why_there_is_no_interval() -> None:
    change = welch_change(JPT, ("before", [10.0, 12.0, 11.0]), ("after", [5.0]))
    assert change.estimate == pytest.approx(5.0 / (10.0 * 12.0 * 11.0) ** (1 / 3), rel=1e-12)
    assert (change.ci_low, change.ci_high, change.dof, change.distinguishable) == (None, None, None, None)
    assert change.note == "no interval: 1 cycle in after (a Welch interval needs 2 or more cycles in each)"
    both = welch_change(ADJ, ("before", [1.0]), ("after", [3.0]))
    assert both.estimate == 2.0
    assert both.note == (
        "no interval: 1 cycle in before and 1 cycle in after (a Welch interval needs 2 or more cycles in each)"
    )


def test_identical_cycles_have_a_zero_width_interval() -> None:
    change = welch_change(JPT, ("before", [2.0, 2.0]), ("after", [1.0, 1.0]))
    assert (change.estimate, change.ci_low, change.ci_high, change.dof) == (0.5, 0.5, 0.5, None)
    assert change.distinguishable is True


# --- matching ------------------------------------------------------------------------------------


def test_match_by_fields_pairs_configs_whose_hashes_differ() -> None:
    before = campaign(
        "before",
        config_rows("a" * 16, {JPT: [1.0, 1.0]}, precision="fp16"),
        config_rows("b" * 16, {JPT: [2.0, 2.0]}, precision="fp32"),
    )
    after = campaign(
        "after",
        config_rows("c" * 16, {JPT: [3.0, 3.0]}, precision="fp32"),
        config_rows("d" * 16, {JPT: [4.0, 4.0]}, precision="fp16"),
    )
    matched = match([before, after], ["model", "backend", "config.precision"])
    assert [m.label for m in matched] == [
        "model=llem/tiny, backend=pytorch, precision=fp16",
        "model=llem/tiny, backend=pytorch, precision=fp32",
    ]
    assert [m.key for m in matched] == [("llem/tiny", "pytorch", "fp16"), ("llem/tiny", "pytorch", "fp32")]
    assert [[s.config_hash[0] for s in m.configs if s] for m in matched] == [["a", "d"], ["b", "c"]]
    assert all(m.complete for m in matched)


def test_backend_scoped_field_reads_as_a_dash_for_another_backend() -> None:
    before = campaign(
        "before",
        config_rows("a" * 16, {JPT: [1.0]}, **{"pytorch.batch_size": 4}),
        config_rows("b" * 16, {JPT: [1.0]}, backend="vllm", **{"pytorch.batch_size": None}),
    )
    matched = match([before], ["backend", "pytorch.batch_size"])
    assert [m.label for m in matched] == ["backend=pytorch, pytorch.batch_size=4", "backend=vllm"]


def test_two_configs_sharing_a_match_key_is_one_line_naming_campaign_key_and_fix() -> None:
    before = campaign(
        "before",
        config_rows("a" * 16, {JPT: [1.0]}, **{"pytorch.batch_size": 1}),
        config_rows("b" * 16, {JPT: [1.0]}, **{"pytorch.batch_size": 8}),
    )
    after = campaign("after", config_rows("c" * 16, {JPT: [1.0]}))
    with pytest.raises(MatchError) as exc:
        match([after, before], ["model", "backend", "precision"])
    assert isinstance(exc.value, ValueError)
    assert str(exc.value) == (
        "campaign 'before': configs aaaaaaaa and bbbbbbbb share the --match key"
        " model=llem/tiny, backend=pytorch, precision=fp16;"
        " add fields to --match, e.g. --match model,backend,precision,pytorch.batch_size"
    )
    assert "\n" not in str(exc.value)


def test_unknown_match_field_is_one_line_with_a_suggestion() -> None:
    before = campaign("before", config_rows("a" * 16, {JPT: [1.0]}))
    after = campaign("after", config_rows("a" * 16, {JPT: [1.0]}))
    with pytest.raises(MatchError) as exc:
        match([before, after], ["modle"])
    assert str(exc.value) == (
        "unknown --match field 'modle': no config.modle in any result of before, after; did you mean model?"
    )
    with pytest.raises(MatchError) as exc:
        match([before, after], ["zzz"])
    assert str(exc.value) == (
        "unknown --match field 'zzz': no config.zzz in any result of before, after;"
        " fields are named as in the campaign file, e.g. model,backend,precision,pytorch.batch_size"
    )


def test_configs_in_only_one_campaign_are_reported_not_dropped() -> None:
    before = campaign(
        "before",
        config_rows("a" * 16, {JPT: [1.0, 1.1]}),
        config_rows("b" * 16, {JPT: [2.0, 2.1]}, precision="fp32"),
    )
    after = campaign(
        "after",
        config_rows("a" * 16, {JPT: [1.0, 1.1]}),
        config_rows("e" * 16, {JPT: [3.0, 3.1]}, precision="bf16"),
    )
    campaigns = [before, after]
    matched = match(campaigns)
    assert [(m.label, m.missing) for m in matched] == [
        ("aaaaaaaa", ()),
        ("bbbbbbbb", ("after",)),
        ("eeeeeeee", ("before",)),
    ]
    assert [missing_note(m, campaigns) for m in matched] == [
        None,
        "bbbbbbbb: only in before (not in after)",
        "eeeeeeee: only in after (not in before)",
    ]
    rows = compare(campaigns, matched)
    assert [(r.config.label, r.metric) for r in rows] == [("aaaaaaaa", JPT), ("bbbbbbbb", JPT), ("eeeeeeee", JPT)]
    assert [r.changes[0].note for r in rows] == [None, "not in after", "not in before"]
    assert [(r.changes[0].n_baseline, r.changes[0].n) for r in rows] == [(2, 2), (2, 0), (0, 2)]
    assert rows[1].changes[0].estimate is None


def test_compared_metrics_follow_the_metrics_table_order() -> None:
    before = campaign("before", config_rows("a" * 16, {TPS: [1.0], JPT: [2.0]}))
    assert compared_metrics(match([before])) == [JPT, TPS]


def test_three_campaigns_compare_each_later_one_with_the_first() -> None:
    a = campaign("a", config_rows("a" * 16, {JPT: [4.0, 4.0]}))
    b = campaign("b", config_rows("a" * 16, {JPT: [2.0, 2.0]}))
    c = campaign("c", config_rows("a" * 16, {JPT: [8.0, 8.0]}))
    [row] = compare([a, b, c], match([a, b, c]))
    assert [(ch.baseline, ch.campaign) for ch in row.changes] == [("a", "b"), ("a", "c")]
    assert [ch.estimate for ch in row.changes] == [pytest.approx(0.5, rel=1e-12), pytest.approx(2.0, rel=1e-12)]


# --- environment ---------------------------------------------------------------------------------


def env_rows(gpu: str, vllm: str, llem: str) -> list[dict[str, Any]]:
    rows = config_rows("a" * 16, {JPT: [1.0, 1.0]}, backend="vllm")
    for r in rows:
        r |= {
            "gpu": gpu,
            "environment.cpu": "AMD EPYC",
            "environment.packages.vllm": vllm,
            "environment.packages.torch": "2.9.0",
            "environment.container_image": None,
            "environment.llem_version": llem,
        }
    return rows


def test_environment_differences_name_only_what_differs() -> None:
    before = campaign("before", env_rows("NVIDIA A100-SXM4-80GB", "0.10.1", "0.1.0"))
    after = campaign("after", env_rows("NVIDIA H100 80GB HBM3", "0.11.0", "0.1.0"))
    assert environment_differences([before, after]) == [
        ("GPU", ["NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"]),
        ("vllm", ["0.10.1", "0.11.0"]),
    ]
    assert environment_facts([before, after]) == [
        ("GPU", ["NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"]),
        ("CPU", ["AMD EPYC", "AMD EPYC"]),
        ("torch", ["2.9.0", "2.9.0"]),
        ("vllm", ["0.10.1", "0.11.0"]),
        ("llem", ["0.1.0", "0.1.0"]),
    ]


def test_environment_fact_missing_from_one_campaign_reads_as_a_dash() -> None:
    rows = env_rows("NVIDIA H100 80GB HBM3", "0.11.0", "0.1.0")
    for r in rows:
        r["environment.driver_version"] = "580.65.06"
        r["environment.container_image"] = "llem/vllm:0.11.0"
    before = campaign("before", env_rows("NVIDIA H100 80GB HBM3", "0.11.0", "0.1.0"))
    after = campaign("after", rows)
    assert environment_differences([before, after]) == [
        ("driver", ["-", "580.65.06"]),
        ("container image", ["-", "llem/vllm:0.11.0"]),
    ]


# --- plot ----------------------------------------------------------------------------------------


def plot_campaigns() -> list[CampaignStats]:
    """3 configs x 2 campaigns; config 1 of before has a wide 3-cycle interval, config 3 is only in before."""
    before = campaign(
        "before",
        config_rows("a" * 16, {JPT: [0.05, 0.1, 3.12]}, **{"pytorch.batch_size": 1}),
        config_rows("b" * 16, {JPT: [1.0, 1.2]}, **{"pytorch.batch_size": 8}),
        config_rows("f" * 16, {JPT: [2.0]}, backend="vllm", **{"pytorch.batch_size": None}),
    )
    after = campaign(
        "after",
        config_rows("c" * 16, {JPT: [0.5, 0.6, 0.55]}, **{"pytorch.batch_size": 1}),
        config_rows("d" * 16, {JPT: [0.9, 1.0]}, **{"pytorch.batch_size": 8}),
    )
    return [before, after]


def test_plot_points_sit_side_by_side_in_one_group_per_config() -> None:
    campaigns = plot_campaigns()
    matched = match(campaigns, ["backend", "pytorch.batch_size"])
    shown, points = compare_points(campaigns, matched, JPT)
    assert [m.label for m in shown] == [
        "backend=pytorch, pytorch.batch_size=1",
        "backend=pytorch, pytorch.batch_size=8",
        "backend=vllm",
    ]
    assert [(p.group, p.campaign, p.x, p.kind) for p in points] == [
        (0, 0, -0.175, "interval"),
        (0, 1, 0.175, "interval"),
        (1, 0, 0.825, "range"),
        (1, 1, 1.175, "range"),
        (2, 0, 1.825, "none"),
    ]
    assert points[2].cycles == (1.0, 1.2)
    assert (points[2].low, points[2].high) == (1.0, 1.2)
    # The view: 0 up to 1.4 x the highest centre or cycle (3.12), not the interval's bound.
    assert compare_view(points) == (0.0, pytest.approx(4.368))


def test_plot_view_legend_and_labels() -> None:
    campaigns = plot_campaigns()
    matched = match(campaigns, ["backend", "pytorch.batch_size"])
    fig = plot_compare(campaigns, matched, JPT)
    assert fig is not None
    [ax] = fig.axes
    _, points = compare_points(campaigns, matched, JPT)
    bounds = [b for p in points for b in (p.low, p.high) if b is not None]
    low, high = ax.get_ylim()
    assert (low, high) == (0.0, pytest.approx(4.368))
    assert all(not math.isclose(high, b) for b in bounds)
    assert max(bounds) > high  # the wide interval is clipped, and the title says so
    assert "bars clipped to the view" in ax.get_title()
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["before", "after"]
    assert legend.get_title().get_text() == "campaign"
    assert legend._loc == 2  # upper left
    assert tuple(legend.get_bbox_to_anchor().bounds[:2]) == pytest.approx(tuple(ax.transAxes.transform((1.02, 1.0))))
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [
        "backend=pytorch, pytorch.batch_size=1",
        "backend=pytorch, pytorch.batch_size=8",
        "backend=vllm",
    ]
    texts = [*ticks, ax.get_title(), ax.get_ylabel(), *(t.get_text() for t in legend.get_texts())]
    assert not any("None" in t or "config." in t for t in texts)
    assert ax.get_ylabel() == "Energy per output token (J)"
    assert len(ax.containers) == 2  # one errorbar series per campaign
    scatters = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
    assert [len(c.get_offsets()) for c in scatters] == [3, 2, 1, 3, 2]  # every cycle, per campaign and config


def test_plot_without_the_metric_is_none() -> None:
    campaigns = plot_campaigns()
    assert plot_compare(campaigns, match(campaigns), TPS) is None
