"""The serving section reads results written before open-loop figures existed (schema "1" throughout)."""

from __future__ import annotations

from llenergymeasure.results.schema import Serving

WINDOW = {
    "start_s": 0.0,
    "end_s": 2.0,
    "duration_s": 2.0,
    "completed_requests": 4,
    "output_tokens": 16,
    "output_tokens_per_s": 8.0,
    "requests_per_s": 2.0,
}

# A serving section as llem wrote it before: goodput under its old name, no open-loop figures.
OLDER = {
    "concurrency": 2,
    "requested_rate_per_s": None,
    "achieved_rate_per_s": 3.0,
    "n_requests": 4,
    "n_failed": 0,
    "goodput_requests": 4,
    "goodput_requests_per_s": 2.0,
    "goodput_output_tokens_per_s": 8.0,
    "whole_run": WINDOW,
    "steady_state": WINDOW,
    "load_started_monotonic_s": 100.0,
}


def test_an_older_serving_section_reads_with_goodput_under_its_new_name() -> None:
    s = Serving.model_validate(OLDER)
    assert (s.request_goodput_per_s, s.concurrency) == (2.0, 2)
    assert (s.schedule_rate_per_s, s.send_lateness_ms, s.load_state, s.stability, s.rejected_window) == (None,) * 5
    assert (s.notes, s.requests) == ([], [])
    assert s.steady_state is not None
    assert s.steady_state.goodput_requests is None
    dumped = s.model_dump(mode="json")
    assert "goodput_requests_per_s" not in dumped
    assert dumped["request_goodput_per_s"] == 2.0
    assert Serving.model_validate(dumped) == s


def test_an_uncapped_open_loop_records_no_concurrency() -> None:
    s = Serving.model_validate({**OLDER, "concurrency": None, "requested_rate_per_s": 8.0})
    assert s.concurrency is None
