from __future__ import annotations

import pytest

from llenergymeasure.serving.stats import (
    StreamedRequest,
    achieved_rate_per_s,
    failure_summary,
    lateness_distribution_ms,
    lateness_note,
    meets_slo,
    ms_distribution,
    served_requests,
    serving_window,
    token_mismatches,
)


def req(
    i: int, sent: float, tokens: list[float], done: float, usage: int | None = None, error: str | None = None
) -> StreamedRequest:
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


def late(i: int, due: float, sent: float, tokens: list[float], done: float) -> StreamedRequest:
    return StreamedRequest(i, sent, done, tokens, 4, None, None, None, due)


def test_open_loop_latencies_run_from_the_due_time_and_send_figures_from_the_send() -> None:
    r = late(0, due=1.0, sent=1.25, tokens=[1.5, 2.0], done=2.25)
    assert (r.arrival_s, r.lateness_s) == (1.0, 0.25)
    assert (r.ttft_s, r.send_ttft_s) == (0.5, 0.25)
    assert (r.e2e_s, r.send_e2e_s) == (1.25, 1.0)
    closed = req(1, 1.0, [1.5], 2.0)
    assert (closed.arrival_s, closed.lateness_s, closed.ttft_s, closed.send_ttft_s) == (1.0, None, 0.5, 0.5)


def test_a_request_sent_late_misses_a_ttft_bound_its_send_would_meet() -> None:
    r = late(0, due=0.0, sent=0.125, tokens=[0.1875, 0.25], done=0.25)
    assert r.send_ttft_s == 0.0625
    assert not meets_slo(r, ttft_ms=100.0, tpot_ms=None)
    assert meets_slo(r, ttft_ms=200.0, tpot_ms=None)


def test_lateness_distribution_and_its_note_above_5_ms_at_p99() -> None:
    tick = 1 / 1024  # s; 0.9765625 ms, exact in binary
    on_time = [late(i, 0.5 * i, 0.5 * i + tick, [0.5 * i + 0.25], 0.5 * i + 0.25) for i in range(4)]
    d = lateness_distribution_ms(on_time)
    assert d is not None
    assert (d.n, d.p50, d.p99, d.max) == (4, 0.9765625, 0.9765625, 0.9765625)
    assert lateness_note(d, None) is None
    assert lateness_distribution_ms([req(0, 0.0, [0.1], 0.2)]) is None  # closed loop: nothing is due

    behind = [late(i, 0.0, tick * (i + 1), [0.5], 0.5) for i in range(10)]  # 1..10 ticks late
    d = lateness_distribution_ms(behind)
    assert d is not None
    assert (d.p50, d.p99, d.max) == (4.8828125, 9.765625, 9.765625)
    assert lateness_note(d, None) == (
        "sends ran late: p50 4.9 ms, p99 9.8 ms, max 9.8 ms behind schedule (more than 5 ms at p99): the client "
        "could not keep up (a busy host, or too high a request_rate for one client); the offered load was not the "
        "drawn schedule, and TTFT and latency, timed from the due time, include the lateness"
    )
    capped = lateness_note(d, 1)
    assert capped is not None
    assert "scenario.concurrency caps in-flight requests at 1, so requests waited for a slot" in capped
    at_threshold = lateness_distribution_ms([late(0, 0.0, 0.005, [0.5], 0.5)])
    assert at_threshold is not None
    assert at_threshold.p99 == 5.0
    assert lateness_note(at_threshold, None) is None  # 5 ms exactly is not above


def test_window_goodput_counts_good_requests_by_completion_and_their_tokens_by_arrival() -> None:
    rs = [req(0, 0.0, [0.5, 1.5, 2.5], 2.5), req(1, 0.0, [0.5, 1.0], 1.0), req(2, 0.0, [1.5], 2.0)]
    w = serving_window(rs, 1.0, 3.0, energy_j=6.0, uncertainty_j=0.5, good={0, 1})
    # Good requests 0 and 1 finish at 2.5 and 1.0 (both inside); their tokens inside: 1.5, 2.5, 1.0.
    assert (w.goodput_requests, w.request_goodput_per_s, w.goodput_output_tokens) == (2, 1.0, 3)
    assert (w.energy_per_goodput_token_j, w.energy_per_goodput_token_uncertainty_j) == (2.0, 0.5 / 3)
    plain = serving_window(rs, 1.0, 3.0, energy_j=6.0)
    assert (plain.goodput_requests, plain.request_goodput_per_s, plain.energy_per_goodput_token_j) == (None,) * 3
    none_good = serving_window(rs, 1.0, 3.0, energy_j=6.0, good=set())
    assert (none_good.goodput_requests, none_good.energy_per_goodput_token_j) == (0, None)


def test_served_requests_keep_every_timing_in_prompt_order() -> None:
    rs = [late(1, 0.5, 0.5, [0.75], 1.0), late(0, 0.0, 0.0, [], 0.25)]
    out = served_requests(rs, good={1})
    assert [(s.index, s.due_s, s.sent_s, s.first_token_s, s.done_s, s.ok, s.meets_slo) for s in out] == [
        (0, 0.0, 0.0, None, 0.25, False, False),
        (1, 0.5, 0.5, 0.75, 1.0, True, True),
    ]
