import math

import pytest
from scipy import stats as sp

from llenergymeasure.config.dotted import varying_keys
from llenergymeasure.results.stats import (
    Ranking,
    Summary,
    by_config,
    overlaps,
    rank,
    ranking_metric,
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
        "energy unavailable in every result (no NVML), so ranked by metrics.output_tokens_per_s"
        " instead of energy.energy_per_output_token_j",
    )


def test_single_value_has_no_spread_and_missing_values_are_ignored() -> None:
    s = summarize([2.0, None, math.nan])
    assert s == Summary(1, 2.0, None, None, None, None, None)
    assert summarize([None]) is None


def test_ranking_marks_overlapping_intervals() -> None:
    rows = []
    for h, vals in {"a": [1.0, 1.1, 0.9], "b": [1.05, 1.15, 0.95], "c": [3.0, 3.1, 2.9]}.items():
        rows += [{"config_hash": h, "config.x": h, "energy.energy_per_output_token_j": v} for v in vals]
    stats = by_config(rows, ["config.x"])
    ranked = rank(stats, "energy.energy_per_output_token_j")
    assert [(s.config_hash, o) for s, o in ranked] == [("a", False), ("b", True), ("c", False)]


def test_high_cv_is_flagged() -> None:
    rows = [{"config_hash": "a", "metrics.output_tokens_per_s": v} for v in (10.0, 20.0, 30.0)]
    (s,) = by_config(rows, [], cv_threshold=0.1)
    assert s.high_cv == ["metrics.output_tokens_per_s"]


def test_overlap_needs_intervals() -> None:
    assert not overlaps(Summary(1, 1, None, None, None, None), Summary(2, 1, 0.1, 0.1, 0.9, 1.1))


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
    assert [s.config_hash for s, _ in rank(stats, ranking.metric)] == ["c", "b", "a"]
    assert unranked(stats, ranking.metric) == []
    assert [(s.config_hash, n) for s, n in ranked_order(stats, ranking.metric)] == [("c", 1), ("b", 2), ("a", 3)]


def test_above_idle_ranks_the_adjusted_figure_with_the_total_beside_and_negatives_left_out() -> None:
    from llenergymeasure.results.stats import ranked_order, unranked

    stats = by_config(three_configs(), [])
    ranking = ranking_metric(stats, "above-idle")
    assert ranking == Ranking(ADJUSTED, True, None, beside=TOTAL)
    assert [s.config_hash for s, _ in rank(stats, ranking.metric)] == ["a", "b"]  # a: slow, so less above idle
    assert [(s.config_hash, why) for s, why in unranked(stats, ranking.metric)] == [
        ("c", "energy above idle negative in some cycle (below the idle baseline): not ranked")
    ]
    assert [(s.config_hash, n) for s, n in ranked_order(stats, ranking.metric)] == [("a", 1), ("b", 2), ("c", None)]


def test_throughput_ranks_by_tokens_per_s_higher_first_with_the_total_beside() -> None:
    from llenergymeasure.results.stats import ranked_order

    stats = by_config(three_configs(), [])
    ranking = ranking_metric(stats, "throughput")
    assert ranking == Ranking(TPS, False, None, beside=TOTAL)
    assert [(s.config_hash, n) for s, n in ranked_order(stats, ranking.metric)] == [("b", 1), ("c", 2), ("a", 3)]


def test_above_idle_with_a_config_without_baseline_ranks_by_totals_and_says_so() -> None:
    stats = by_config([_row("a", 0.5, 0.3), _row("b", 0.4, None), _row("c", 0.6, None)], [])
    assert ranking_metric(stats, "above-idle") == Ranking(
        TOTAL,
        True,
        "2 of 3 configs have no idle baseline, so all are ranked by total energy.energy_per_output_token_j"
        " instead of energy.adjusted_energy_per_output_token_j",
        beside=ADJUSTED,
    )
    assert ranking_metric(stats) == Ranking(TOTAL, True, None, beside=ADJUSTED)
    no_baseline = by_config([_row("a", 0.5, None)], [])
    assert ranking_metric(no_baseline) == Ranking(TOTAL, True, None)
    assert ranking_metric(no_baseline, "above-idle").note == (
        "1 of 1 configs have no idle baseline, so all are ranked by total energy.energy_per_output_token_j"
        " instead of energy.adjusted_energy_per_output_token_j"
    )


@pytest.mark.parametrize("rank_by", ["total", "above-idle"])
def test_energy_rankings_fall_back_to_throughput_without_energy(rank_by: str) -> None:
    without = by_config([{"config_hash": "a", TPS: 10.0}], [])
    assert ranking_metric(without, rank_by) == Ranking(  # type: ignore[arg-type]
        TPS,
        False,
        "energy unavailable in every result (no NVML), so ranked by metrics.output_tokens_per_s"
        " instead of energy.energy_per_output_token_j",
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
