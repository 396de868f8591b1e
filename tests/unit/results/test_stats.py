import math

import pytest
from scipy import stats as sp

from llenergymeasure.config.dotted import varying_keys
from llenergymeasure.results.stats import (
    PairedComparison,
    Ranking,
    Spread,
    Summary,
    by_config,
    comparison_note,
    paired_compare,
    range_note,
    rank,
    ranked_item,
    ranked_order,
    ranking_metric,
    spread,
    summarize,
)


def test_summary_matches_scipy() -> None:
    xs = [0.0123, 0.0131, 0.0127, 0.0140, 0.0119]
    s = summarize(xs)
    assert s is not None
    mean = sum(xs) / len(xs)
    lo, hi = sp.t.interval(0.95, len(xs) - 1, loc=mean, scale=sp.sem(xs))
    assert s.mean == pytest.approx(mean)
    assert s.std == pytest.approx(sp.tstd(xs))
    assert (s.ci_low, s.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert s.cv == pytest.approx(sp.tstd(xs) / mean)
    assert s.ci_method == "t"


def test_positive_metric_interval_is_log_t_and_never_below_zero() -> None:
    # Two cycles of throughput, tok/s: the plain t-interval is -2756.7 .. 3494.7 (t=12.706 at dof 1).
    xs = [123.0, 615.0]
    plain = summarize(xs)
    assert plain is not None
    assert (plain.ci_low, plain.ci_high) == (pytest.approx(-2756.726365), pytest.approx(3494.726365))
    s = summarize(xs, positive=True)
    assert s is not None
    # By hand: logs 4.812184, 6.421622; mean 5.616903, sem |diff|/2 = 0.804719; half = 12.706205 * sem.
    centre, half = (math.log(123) + math.log(615)) / 2, 12.706204736 * (math.log(615) - math.log(123)) / 2
    assert (s.ci_low, s.ci_high) == (pytest.approx(math.exp(centre - half)), pytest.approx(math.exp(centre + half)))
    assert (s.ci_low, s.ci_high) == (pytest.approx(0.0099715, rel=1e-4), pytest.approx(7586092.0, rel=1e-4))
    assert (s.n, s.mean, s.ci_method) == (2, 369.0, "log-t")
    lo, hi = sp.t.interval(0.95, 1, loc=sum(map(math.log, xs)) / 2, scale=sp.sem([math.log(x) for x in xs]))
    assert (s.ci_low, s.ci_high) == (pytest.approx(math.exp(lo)), pytest.approx(math.exp(hi)))


def test_positive_metric_with_a_non_positive_value_falls_back_to_t() -> None:
    s = summarize([-1.0, 1.0, 3.0], positive=True)
    assert s is not None
    half = sp.t.ppf(0.975, 2) * 2.0 / math.sqrt(3)
    assert (s.ci_low, s.ci_high, s.ci_method) == (pytest.approx(1 - half), pytest.approx(1 + half), "t")


def test_by_config_picks_the_method_per_metric() -> None:
    rows = [
        {"config_hash": "a", "metrics.output_tokens_per_s": 10.0, "energy.adjusted_energy_per_output_token_j": -0.1},
        {"config_hash": "a", "metrics.output_tokens_per_s": 12.0, "energy.adjusted_energy_per_output_token_j": 0.2},
    ]
    (s,) = by_config(rows, [])
    assert s.metrics["metrics.output_tokens_per_s"].ci_method == "log-t"
    assert s.metrics["energy.adjusted_energy_per_output_token_j"].ci_method == "t"
    assert s.metrics["metrics.output_tokens_per_s"].ci_low == pytest.approx(
        math.exp(math.log(120) / 2 - sp.t.ppf(0.975, 1) * (math.log(12) - math.log(10)) / 2)
    )


def test_ranking_metric_says_when_energy_is_missing() -> None:
    with_energy = by_config([{"config_hash": "a", "energy.energy_per_output_token_j": 0.5}], [])
    assert ranking_metric(with_energy) == Ranking("energy.energy_per_output_token_j", True, None)
    without = by_config([{"config_hash": "a", "metrics.output_tokens_per_s": 10.0}], [])
    assert ranking_metric(without) == Ranking(
        "metrics.output_tokens_per_s",
        False,
        "energy unavailable in every result (no NVML), so ranked by output throughput (tokens/s)"
        " instead of energy per output token (J)",
    )


def test_single_value_has_no_spread_and_missing_values_are_ignored() -> None:
    s = summarize([2.0, None, math.nan])
    assert s == Summary(1, 2.0, None, None, None, None, None, 2.0, "mean", 2.0, 2.0)
    assert summarize([None]) is None


def _cycle_rows(figures: dict[str, list[float]]) -> list[dict[str, object]]:
    """Rows of total J/token, cycle by cycle, for each config."""
    return [
        {"config_hash": h, "config.x": h, "cycle": c, TOTAL: v}
        for h, vals in figures.items()
        for c, v in enumerate(vals, start=1)
    ]


def test_ranking_compares_neighbours_cycle_by_cycle() -> None:
    # b is a's every cycle x 1.05 give or take 0.1 %: the unpaired intervals overlap widely
    # (a 0.777-1.279, b 0.806-1.359) but the cycles, paired, tell them apart. d moves against c.
    stats = by_config(
        _cycle_rows(
            {
                "a": [1.0, 1.1, 0.9],
                "b": [1.05, 1.16, 0.94],
                "c": [3.0, 3.1, 2.9],
                "d": [3.1, 3.0, 3.0],
            }
        ),
        ["config.x"],
    )
    ranked = rank(stats, TOTAL)
    assert [(r.stats.config_hash, r.rank, r.mark) for r in ranked] == [
        ("a", 1, ""),
        ("b", 2, ""),
        ("c", 3, ""),
        ("d", 4, "≈"),
    ]
    b = ranked[1].vs_above
    assert b is not None
    la, lb = [math.log(x) for x in (1.0, 1.1, 0.9)], [math.log(x) for x in (1.05, 1.16, 0.94)]
    assert (b.method, b.pairs, b.distinguishable) == ("paired log-t", 3, True)
    assert b.p_value == pytest.approx(sp.ttest_rel(lb, la).pvalue)
    # With every cycle shared, the estimate is the ratio of the two centres the ranking sorts by.
    assert b.estimate == pytest.approx(stats[1].metrics[TOTAL].value / stats[0].metrics[TOTAL].value)
    assert b.estimate == pytest.approx(1.0496552)
    assert (b.ci_low, b.ci_high) == (pytest.approx(1.0371601), pytest.approx(1.0623008))
    d = ranked[3].vs_above
    assert d is not None
    assert (d.pairs, d.distinguishable) == (3, False)
    assert d.p_value == pytest.approx(
        sp.ttest_rel([math.log(x) for x in (3.1, 3.0, 3.0)], [math.log(3.0), math.log(3.1), math.log(2.9)]).pvalue
    )
    assert ranked[0].vs_above is None


def test_signed_metrics_are_compared_by_their_differences() -> None:
    above, this = {1: -0.1, 2: 0.2, 3: 0.0}, {1: 0.0, 2: 0.35, 3: 0.05}
    c = paired_compare(above, this, positive=False)
    diffs = [0.1, 0.15, 0.05]
    half = sp.t.ppf(0.975, 2) * sp.tstd(diffs) / math.sqrt(3)
    assert (c.method, c.pairs) == ("paired t", 3)
    assert (c.estimate, c.ci_low, c.ci_high) == (
        pytest.approx(0.1),
        pytest.approx(0.1 - half),
        pytest.approx(0.1 + half),
    )
    assert c.p_value == pytest.approx(sp.ttest_rel([0.0, 0.35, 0.05], [-0.1, 0.2, 0.0]).pvalue)
    assert c.p_value == pytest.approx(0.0741799)
    assert c.distinguishable is False  # the interval -0.024..0.224 holds 0
    # A positive metric with a zero in it falls back to differences too.
    assert paired_compare({1: 0.0, 2: 1.0}, {1: 1.0, 2: 2.0}, positive=True).method == "paired t"


def test_only_shared_cycles_are_paired_and_fewer_than_two_are_not_tested() -> None:
    c = paired_compare({1: 1.0, 2: 2.0, 3: 4.0}, {2: 3.0, 3: 5.0, 4: 9.0}, positive=False)
    assert (c.pairs, c.estimate) == (2, pytest.approx(1.0))
    one = paired_compare({1: 1.0, 2: 2.0}, {2: 4.0}, positive=True)
    assert one == PairedComparison("paired log-t", 1, 2.0, None, None, None, None)
    assert paired_compare({1: 1.0}, {2: 4.0}, positive=True) == PairedComparison(
        "paired log-t", 0, None, None, None, None, None
    )
    stats = by_config(_cycle_rows({"a": [1.0], "b": [2.0]}), ["config.x"])
    assert [(r.stats.config_hash, r.mark) for r in rank(stats, TOTAL)] == [("a", ""), ("b", "?")]
    assert comparison_note(rank(stats, TOTAL), 0.95) == (
        "≈: not distinguishable from the config ranked above at 95% (paired t-test over the cycles both ran: on log"
        " ratios for positive metrics, on differences otherwise); ?: not compared (fewer than 2 cycles in common)"
    )


def test_a_constant_paired_difference_is_distinguishable_unless_it_is_zero() -> None:
    same = paired_compare({1: 1.0, 2: 2.0}, {1: 1.0, 2: 2.0}, positive=True)
    assert same == PairedComparison("paired log-t", 2, 1.0, 1.0, 1.0, 1.0, False)
    shifted = paired_compare({1: 1.0, 2: 2.0}, {1: 1.5, 2: 2.5}, positive=False)
    assert shifted == PairedComparison("paired t", 2, 0.5, 0.5, 0.5, 0.0, True)


def test_rows_without_a_cycle_are_paired_in_their_order() -> None:
    (s,) = by_config([{"config_hash": "a", TOTAL: 0.5}, {"config_hash": "a", TOTAL: 0.7}], [])
    assert s.cycles == {TOTAL: {1: 0.5, 2: 0.7}}


def test_two_cycles_show_their_range_and_one_cycle_no_interval() -> None:
    two = summarize([123.0, 615.0], positive=True)
    assert two is not None
    assert spread(two) == Spread("range", 123.0, 615.0, "range of 2 cycles")
    assert spread(two, intervals_at_2=True) == Spread("interval", two.ci_low, two.ci_high, "log-t")
    assert (two.ci_low, two.ci_high) == (pytest.approx(0.0099715, rel=1e-4), pytest.approx(7586092.0, rel=1e-4))
    one = summarize([4.0])
    assert one is not None
    assert spread(one) == Spread("none", None, None, "one cycle: no interval")
    three = summarize([1.0, 2.0, 3.0])
    assert three is not None
    assert spread(three) == Spread("interval", three.ci_low, three.ci_high, "t")
    assert range_note([three, two], intervals_at_2=False, confidence=0.95) == (
        "n = 2: the range of the two cycles is shown instead of a 95% interval, which from 2 cycles spans +-12.7"
        " standard errors; run more cycles (--intervals-at-2 shows it)"
    )
    assert range_note([three, two], intervals_at_2=True, confidence=0.95) is None
    assert range_note([three, one], intervals_at_2=False, confidence=0.95) is None


def test_ranked_item_carries_rank_centre_interval_method_and_the_comparison() -> None:
    stats = by_config(_cycle_rows({"a": [1.0, 1.1, 0.9], "b": [1.05, 1.16, 0.94]}), ["config.x"])
    first, second = ranked_order(stats, TOTAL)
    item = ranked_item(second, TOTAL, 0.95)
    m = stats[1].metrics[TOTAL]
    assert {k: item[k] for k in ("rank", "ranking_metric", "centre", "centre_kind", "ci_low", "ci_high")} == {
        "rank": 2,
        "ranking_metric": TOTAL,
        "centre": m.value,
        "centre_kind": "geometric_mean",
        "ci_low": m.ci_low,
        "ci_high": m.ci_high,
    }
    assert (item["ci_method"], item["confidence"], item["n"], item["unranked_reason"]) == ("log-t", 0.95, 3, None)
    assert item["vs_above"]["method"] == "paired log-t"
    assert item["vs_above"]["distinguishable"] is True
    assert item["cycles"][TOTAL] == {1: 1.05, 2: 1.16, 3: 0.94}
    assert item["metrics"][TOTAL]["min_value"] == 0.94
    assert ranked_item(first, TOTAL, 0.95)["vs_above"] is None


def test_high_cv_is_flagged() -> None:
    rows = [{"config_hash": "a", "metrics.output_tokens_per_s": v} for v in (10.0, 20.0, 30.0)]
    (s,) = by_config(rows, [], cv_threshold=0.1)
    assert s.high_cv == ["metrics.output_tokens_per_s"]


def test_varying_keys() -> None:
    rows = [{"config.a": 1, "config.b": 2, "x": 1}, {"config.a": 1, "config.b": 3, "x": 2}]
    assert varying_keys(rows, "config.") == ["config.b"]


def _row(h: str, total: float, adjusted: float | None, adjusted_j: float | None = None) -> dict[str, object]:
    return {
        "config_hash": h,
        "energy.energy_per_output_token_j": total,
        "energy.adjusted_energy_per_output_token_j": adjusted,
        "energy.adjusted_energy_j": adjusted_j if adjusted_j is not None else adjusted,
    }


TOTAL = "energy.energy_per_output_token_j"
ADJUSTED = "energy.adjusted_energy_per_output_token_j"
TPS = "metrics.output_tokens_per_s"


def three_configs() -> list[dict[str, object]]:
    """a: high total, low above idle (slow); b: lower total, more above idle; c: lowest, one cycle below idle."""
    rows = [
        _row("a", 0.50, 0.30),
        _row("a", 0.52, 0.31),
        _row("b", 0.40, 0.35),
        _row("b", 0.41, 0.36),
        _row("c", 0.10, 0.05),
        _row("c", 0.11, -0.01),  # one cycle below idle: flagged, never ranked above idle
    ]
    for row, tps in zip(rows, (10.0, 11.0, 30.0, 31.0, 20.0, 21.0), strict=True):
        row[TPS] = tps
    return rows


def test_default_ranks_by_total_with_above_idle_beside_and_every_config_ranked() -> None:
    from llenergymeasure.results.stats import ranked_order, unranked

    stats = by_config(three_configs(), [])
    ranking = ranking_metric(stats)
    assert ranking == Ranking(TOTAL, True, None, beside=ADJUSTED)
    assert ranking_metric(stats, "total") == ranking
    assert [r.stats.config_hash for r in rank(stats, ranking.metric)] == ["c", "b", "a"]
    assert unranked(stats, ranking.metric) == []
    assert [(r.stats.config_hash, r.rank) for r in ranked_order(stats, ranking.metric)] == [
        ("c", 1),
        ("b", 2),
        ("a", 3),
    ]


def test_above_idle_ranks_the_adjusted_figure_with_the_total_beside_and_negatives_left_out() -> None:
    from llenergymeasure.results.stats import ranked_order, unranked

    stats = by_config(three_configs(), [])
    ranking = ranking_metric(stats, "above-idle")
    assert ranking == Ranking(ADJUSTED, True, None, beside=TOTAL)
    assert [r.stats.config_hash for r in rank(stats, ranking.metric)] == ["a", "b"]  # a: slow, so less above idle
    reason = "energy above idle negative in some cycle (below the idle baseline): not ranked"
    assert [(s.config_hash, why) for s, why in unranked(stats, ranking.metric)] == [("c", reason)]
    assert [(r.stats.config_hash, r.rank, r.reason) for r in ranked_order(stats, ranking.metric)] == [
        ("a", 1, None),
        ("b", 2, None),
        ("c", None, reason),
    ]


def test_throughput_ranks_by_tokens_per_s_higher_first_with_the_total_beside() -> None:
    from llenergymeasure.results.stats import ranked_order

    stats = by_config(three_configs(), [])
    ranking = ranking_metric(stats, "throughput")
    assert ranking == Ranking(TPS, False, None, beside=TOTAL)
    assert [(r.stats.config_hash, r.rank) for r in ranked_order(stats, ranking.metric)] == [
        ("b", 1),
        ("c", 2),
        ("a", 3),
    ]


def test_above_idle_with_a_config_without_baseline_ranks_by_totals_and_says_so() -> None:
    stats = by_config([_row("a", 0.5, 0.3), _row("b", 0.4, None), _row("c", 0.6, None)], [])
    assert ranking_metric(stats, "above-idle") == Ranking(
        TOTAL,
        True,
        "2 of 3 configs have no idle baseline, so all are ranked by energy per output token (J)"
        " instead of energy per output token above idle (J)",
        beside=ADJUSTED,
    )
    assert ranking_metric(stats) == Ranking(TOTAL, True, None, beside=ADJUSTED)
    no_baseline = by_config([_row("a", 0.5, None)], [])
    assert ranking_metric(no_baseline) == Ranking(TOTAL, True, None)
    assert ranking_metric(no_baseline, "above-idle").note == (
        "1 of 1 configs have no idle baseline, so all are ranked by energy per output token (J)"
        " instead of energy per output token above idle (J)"
    )


@pytest.mark.parametrize("rank_by", ["total", "above-idle"])
def test_energy_rankings_fall_back_to_throughput_without_energy(rank_by: str) -> None:
    without = by_config([{"config_hash": "a", TPS: 10.0}], [])
    assert ranking_metric(without, rank_by) == Ranking(  # type: ignore[arg-type]
        TPS,
        False,
        "energy unavailable in every result (no NVML), so ranked by output throughput (tokens/s)"
        " instead of energy per output token (J)",
    )
    assert ranking_metric(without, "throughput") == Ranking(TPS, False, None)


def test_unknown_ranking_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"^unknown ranking 'speed'; valid: total, above-idle, throughput$"):
        ranking_metric([], "speed")  # type: ignore[arg-type]


def test_adjusted_energy_uses_the_plain_t_interval_even_when_every_cycle_is_positive() -> None:
    stats = by_config([_row("a", 0.5, 0.2), _row("a", 0.52, 0.3)], [])
    (s,) = stats
    m = s.metrics[ADJUSTED]
    half = sp.t.ppf(0.975, 1) * sp.tstd([0.2, 0.3]) / math.sqrt(2)
    assert (m.ci_method, m.ci_low, m.ci_high) == ("t", pytest.approx(0.25 - half), pytest.approx(0.25 + half))
    assert m.ci_low < 0  # log-t would have kept it above zero; the adjusted figure may be zero or negative
    assert s.metrics[TOTAL].ci_method == "log-t"


def test_every_centre_lies_inside_its_own_interval() -> None:
    """The review's demo: mean 1.09 beside a log-t interval [0.056, 0.449]; the geometric mean sits inside."""
    import math
    import random

    from llenergymeasure.results.stats import summarize

    demo = summarize([0.05, 0.1, 3.12], positive=True)
    assert demo is not None
    assert (demo.ci_method, demo.centre_kind) == ("log-t", "geometric_mean")
    assert demo.mean == pytest.approx(1.09)
    assert demo.centre == pytest.approx(math.exp((math.log(0.05) + math.log(0.1) + math.log(3.12)) / 3))
    rng = random.Random(7)
    for _ in range(500):
        n = rng.randint(2, 6)
        for positive in (True, False):
            xs = [rng.lognormvariate(0, 1.5) if positive else rng.gauss(0, 1) for _ in range(n)]
            s = summarize(xs, positive=positive)
            assert s is not None
            assert s.ci_low is not None
            assert s.ci_high is not None
            assert s.ci_low <= s.value <= s.ci_high
            assert s.centre_kind == ("geometric_mean" if positive else "mean")


def test_configs_whose_first_8_hash_digits_collide_keep_apart_in_labels() -> None:
    rows = [
        {"config_hash": "825fbd46e2f39ee9", TPS: 10.0},
        {"config_hash": "825fbd4694623a0b", TPS: 11.0},
        {"config_hash": "0123456789abcdef", TPS: 12.0},
    ]
    assert [s.hash_label for s in by_config(rows, [])] == ["825fbd46e", "825fbd469", "01234567"]
