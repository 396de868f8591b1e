import math

import pytest
from scipy import stats as sp

from llenergymeasure.config.dotted import varying_keys
from llenergymeasure.results.stats import Summary, by_config, overlaps, rank, summarize


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


def test_single_value_has_no_spread_and_missing_values_are_ignored() -> None:
    s = summarize([2.0, None, math.nan])
    assert s == Summary(1, 2.0, None, None, None, None)
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
