from __future__ import annotations

import pytest

from llenergymeasure.serving.stats import (
    StreamedRequest,
    achieved_rate_per_s,
    failure_summary,
    meets_slo,
    ms_distribution,
    serving_window,
    token_mismatches,
)


def req(i: int, sent: float, tokens: list[float], done: float, usage: int | None = None, error: str | None = None):
    return StreamedRequest(i, sent, done, tokens, 4, usage, None, error)


def test_per_request_timings_from_token_stamps() -> None:
    r = req(0, 1.0, [1.25, 1.5, 1.5, 2.0], 2.125, usage=4)
    assert r.ttft_s == 0.25
    assert r.tpot_s == pytest.approx(0.75 / 3)
    assert r.itl_s == [0.25, 0.0, 0.5]
    assert r.e2e_s == 1.125
    assert r.output_tokens == 4


def test_itl_distribution_holds_every_gap_not_a_mean() -> None:
    a = req(0, 0.0, [0.1, 0.2, 0.3], 0.3)
    b = req(1, 0.0, [0.1, 0.5], 0.5)
    gaps = [g for r in (a, b) for g in r.itl_s]
    d = ms_distribution(gaps)
    assert d is not None
    assert (d.min, d.max, d.p50) == pytest.approx((100.0, 400.0, 100.0))
    assert ms_distribution([]) is None


def test_slo_needs_both_bounds_and_success() -> None:
    fast = req(0, 0.0, [0.05, 0.07, 0.09], 0.1)
    slow_first = req(1, 0.0, [0.5, 0.52], 0.6)
    slow_decode = req(2, 0.0, [0.05, 0.5], 0.6)
    failed = req(3, 0.0, [0.05], 0.1, error="HTTP 500: boom")
    assert [meets_slo(r, 100.0, 50.0) for r in (fast, slow_first, slow_decode, failed)] == [True, False, False, False]
    assert [meets_slo(r, None, None) for r in (fast, slow_first, slow_decode, failed)] == [True, True, True, False]


def test_window_counts_tokens_by_arrival_and_requests_by_completion() -> None:
    rs = [req(0, 0.0, [0.5, 1.5, 2.5], 2.6), req(1, 0.0, [0.6, 1.0], 1.1), req(2, 0.0, [3.5], 3.6)]
    w = serving_window(rs, 1.0, 3.0, energy_j=6.0, uncertainty_j=0.5)
    assert (w.completed_requests, w.output_tokens, w.duration_s) == (2, 3, 2.0)
    assert (w.output_tokens_per_s, w.requests_per_s) == (1.5, 1.0)
    assert (w.energy_per_output_token_j, w.energy_per_request_j, w.energy_uncertainty_j) == (2.0, 3.0, 0.5)
    assert serving_window(rs, 1.0, 3.0).energy_per_output_token_j is None


def test_failures_counted_most_frequent_first() -> None:
    rs = [
        req(0, 0.0, [], 0.1, error="HTTP 500: x"),
        req(1, 0.0, [], 0.1, error="HTTP 500: x"),
        req(2, 0.0, [], 0.1, error="ClientConnectionError: gone"),
        req(3, 0.0, [], 0.1),
        req(4, 0.0, [0.1], 0.1),
    ]
    assert failure_summary(rs) == ["2x HTTP 500: x", "1x ClientConnectionError: gone", "1x no token streamed"]


def test_usage_mismatch_and_achieved_rate() -> None:
    rs = [req(0, 0.0, [0.1, 0.2], 0.3, usage=2), req(1, 0.5, [0.6], 0.7, usage=3), req(2, 1.0, [1.1], 1.2)]
    assert token_mismatches(rs) == 1
    assert achieved_rate_per_s(rs) == 2.0
    assert achieved_rate_per_s(rs[:1]) == 0.0
