"""The saturation sweep's rates and verdicts, on plain values."""

from __future__ import annotations

import pytest

from llenergymeasure.serving.saturation import (
    completed_rate_per_s,
    highest_sustained,
    phase_rates,
    rate_stability,
    sustained,
)
from llenergymeasure.serving.stats import StreamedRequest


def test_rates_lie_evenly_strictly_between_the_synchronous_and_throughput_rates() -> None:
    assert phase_rates(1.0, 6.0, 4) == [2.0, 3.0, 4.0, 5.0]
    assert phase_rates(2.0, 3.0, 0) == []


def test_a_server_no_faster_under_throughput_still_gets_rates_above_the_synchronous_one() -> None:
    assert phase_rates(4.0, 3.0, 3) == [5.0, 6.0, 7.0]


def test_the_completed_rate_runs_from_the_first_send_so_a_batch_finishing_together_is_no_burst() -> None:
    # Ten requests sent at 0 that all finish within 5 ms of 2 s: 10 / 2.005 per second, not 9 / 0.005.
    reqs = [StreamedRequest(i, 0.0, 2.0 + 0.0005 * i, [1.0]) for i in range(10)]
    assert completed_rate_per_s(reqs) == pytest.approx(10 / 2.0045)
    failed = [*reqs, StreamedRequest(10, 0.0, 9.0, [], error="HTTP 500")]
    assert completed_rate_per_s(failed) == pytest.approx(10 / 2.0045)
    assert completed_rate_per_s([]) is None


def open_loop(gap_s: float, service_s: float, n: int) -> list[StreamedRequest]:
    """Due every ``gap_s``, served one at a time in ``service_s`` each (a FIFO server with one slot)."""
    out, free = [], 0.0
    for i in range(n):
        due = i * gap_s
        done = max(due, free) + service_s
        free = done
        out.append(StreamedRequest(i, due, done, [done - service_s / 2], due_s=due))
    return out


def test_a_server_that_keeps_up_is_steady_and_one_that_falls_behind_is_overload() -> None:
    kept = rate_stability(open_loop(0.1, 0.05, 200))
    behind = rate_stability(open_loop(0.1, 0.2, 200))
    assert kept is not None
    assert behind is not None
    assert (kept.verdict, behind.verdict) == ("steady", "overload")
    assert (sustained(0, kept), sustained(0, behind)) == (True, False)
    assert sustained(1, kept) is False  # a failed request: never sustained


def test_a_phase_too_short_to_tell_is_left_unjudged() -> None:
    short = rate_stability(open_loop(0.1, 0.12, 6))
    assert short is not None
    assert short.verdict == "unresolved"
    assert sustained(0, short) is None
    # Every request arrived before the first completion: no window at all.
    assert rate_stability(open_loop(0.001, 1.0, 3)) is None
    assert sustained(0, None) is None


def test_the_highest_sustained_rate_ignores_rates_that_did_not_hold() -> None:
    assert highest_sustained([(2.0, True), (4.0, True), (6.0, False), (8.0, None)]) == 4.0
    assert highest_sustained([(2.0, False)]) is None
