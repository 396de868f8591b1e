"""The saturation sweep's rates and verdicts, on plain values."""

from __future__ import annotations

import pytest

from llenergymeasure.serving.saturation import completed_rate_per_s, highest_sustained, phase_rates, sustained
from llenergymeasure.serving.stats import StreamedRequest


def test_rates_lie_evenly_strictly_between_the_synchronous_and_throughput_rates() -> None:
    assert phase_rates(1.0, 6.0, 4) == [2.0, 3.0, 4.0, 5.0]
    assert phase_rates(2.0, 3.0, 0) == []


def test_a_server_no_faster_under_throughput_still_gets_rates_above_the_synchronous_one() -> None:
    assert phase_rates(4.0, 3.0, 3) == [5.0, 6.0, 7.0]


def test_completion_rate_counts_only_successful_requests() -> None:
    reqs = [
        StreamedRequest(0, 0.0, 1.0, [0.5]),
        StreamedRequest(1, 0.1, 2.0, [1.5]),
        StreamedRequest(2, 0.2, 9.0, [], error="HTTP 500"),
        StreamedRequest(3, 0.3, 3.0, [2.5]),
    ]
    assert completed_rate_per_s(reqs) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("offered", "completed", "failed", "verdict"),
    [(10.0, 9.6, 0, True), (10.0, 9.4, 0, False), (10.0, 10.0, 1, False), (None, 3.0, 0, None), (4.0, None, 0, None)],
)
def test_a_rate_holds_when_completions_keep_up_and_nothing_fails(
    offered: float | None, completed: float | None, failed: int, verdict: bool | None
) -> None:
    assert sustained(offered, completed, failed, 0.95) is verdict


def test_the_highest_sustained_rate_ignores_rates_that_did_not_hold() -> None:
    assert highest_sustained([(2.0, True), (4.0, True), (6.0, False), (8.0, None)]) == 4.0
    assert highest_sustained([(2.0, False)]) is None
