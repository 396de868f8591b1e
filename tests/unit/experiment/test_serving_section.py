"""The result's serving section from synthetic traces: schedule and send rates, lateness, stability, goodput.

``build_serving`` is the pure end of a server-mode unit: the streamed records, the replayed steady-state
tracker and a window without energy (no NVML) in, the ``serving`` section out.
"""

from __future__ import annotations

from llenergymeasure.config.experiment import ServerScenario
from llenergymeasure.experiment.measure import WindowMeasurement
from llenergymeasure.experiment.serving import build_serving
from llenergymeasure.results.schema import Serving
from llenergymeasure.serving.stability import stability_note
from llenergymeasure.serving.stats import StreamedRequest
from llenergymeasure.serving.steady import SteadyStateTracker, TraceEvent, replay


def section(scenario: ServerScenario, requests: list[StreamedRequest], offsets: list[float], end_s: float) -> Serving:
    events = [TraceEvent(r.sent_s, r.token_times_s[0], r.done_s, r.due_s) for r in requests]
    tracker = replay(events, SteadyStateTracker(scenario.max_in_flight or len(events), len(events), scenario.open_loop))
    window = WindowMeasurement(1000.0, 1000.0 + end_s, 1.7e9, 1.7e9 + end_s, None, None, "no RAPL", None, 1)
    return build_serving(scenario, requests, tracker, end_s, window, None, "logs/u.server.log", offsets, 7)


def test_an_overloaded_open_loop_is_rejected_with_its_figures_kept() -> None:
    # Due every 0.25 s and sent on time (81 requests, the last at 20 s); the first three take 0.5 s,
    # then one finishes every 0.5 s: half the arrival rate.
    dues = [0.25 * i for i in range(81)]
    dones = [d + 0.5 for d in dues[:3]] + [1.0 + 0.5 * (i - 2) for i in range(3, 81)]
    rs = [
        StreamedRequest(i, d, e, [e - 0.125, e], 4, 2, None, None, d)
        for i, (d, e) in enumerate(zip(dues, dones, strict=True))
    ]
    s = section(ServerScenario(request_rate=4.0), rs, dues, 40.5)
    assert (s.concurrency, s.requested_rate_per_s, s.schedule_rate_per_s, s.achieved_rate_per_s) == (
        None,
        4.0,
        4.0,
        4.0,
    )
    assert s.send_lateness_ms is not None
    assert (s.send_lateness_ms.p50, s.send_lateness_ms.max, s.send_lateness_flagged, s.notes) == (0.0, 0.0, False, [])
    assert (s.load_state, s.steady_state) == ("overload", None)
    assert s.stability is not None
    assert s.stability.verdict == "overload"
    assert s.steady_state_note == stability_note(s.stability)
    rejected = s.rejected_window
    assert rejected is not None
    # From the first completion (0.5) to the last arrival (20.0); requests 0..40 finished in it.
    assert (rejected.start_s, rejected.end_s, rejected.completed_requests) == (0.5, 20.0, 41)
    assert (s.arrival_seed, s.request_goodput_per_s, s.goodput_requests) == (7, 2.0, 81)
    assert (rejected.goodput_requests, rejected.request_goodput_per_s) == (41, 41 / 19.5)
    assert [(r.index, r.due_s, r.sent_s, r.done_s) for r in s.requests[2:4]] == [
        (2, 0.5, 0.5, 1.0),
        (3, 0.75, 0.75, 1.5),
    ]


def test_a_capped_open_loop_times_latency_from_the_due_time_and_flags_its_late_sends() -> None:
    # Due every 0.25 s, one slot, 0.5 s each: request i goes out 0.25 i s late.
    rs = [
        StreamedRequest(i, 0.5 * i, 0.5 * i + 0.5, [0.5 * i + 0.25, 0.5 * i + 0.5], 4, 2, None, None, 0.25 * i)
        for i in range(8)
    ]
    s = section(ServerScenario(request_rate=4.0, concurrency=1), rs, [0.25 * i for i in range(8)], 4.0)
    assert (s.concurrency, s.schedule_rate_per_s, s.achieved_rate_per_s) == (1, 4.0, 2.0)
    assert s.send_lateness_ms is not None
    assert (s.send_lateness_ms.p50, s.send_lateness_ms.p99, s.send_lateness_ms.max) == (750.0, 1750.0, 1750.0)
    assert s.send_lateness_flagged is True
    assert len(s.notes) == 1
    assert "scenario.concurrency caps in-flight requests at 1, so requests waited for a slot" in s.notes[0]
    assert s.ttft_ms is not None
    assert s.send_ttft_ms is not None
    assert (s.ttft_ms.min, s.ttft_ms.max, s.send_ttft_ms.min, s.send_ttft_ms.max) == (250.0, 2000.0, 250.0, 250.0)
    assert s.e2e_ms is not None
    assert s.send_e2e_ms is not None
    assert (s.e2e_ms.max, s.send_e2e_ms.max) == (2250.0, 500.0)
    # Window (0.5, 1.75]: 5 arrivals, 2 completions, in flight 2 -> 5; net growth 2 +- 2 sqrt(2 x 4 x 0.75)
    # straddles the tolerance of 0.5: too short to tell, so not called steady.
    assert s.stability is not None
    assert (s.load_state, s.stability.arrivals, s.stability.completions) == ("unresolved", 5, 2)
    assert s.steady_state is None
    assert s.rejected_window is not None


def test_a_closed_loop_is_steady_by_construction_with_nothing_due() -> None:
    rs = [StreamedRequest(i, 0.5 * i, 0.5 * i + 0.5, [0.5 * i + 0.25, 0.5 * i + 0.5], 4, 2) for i in range(4)]
    s = section(ServerScenario(), rs, [0.0] * 4, 2.0)
    assert (s.concurrency, s.schedule_rate_per_s, s.send_lateness_ms, s.send_lateness_flagged) == (1, None, None, None)
    assert (s.send_ttft_ms, s.send_e2e_ms, s.stability, s.rejected_window) == (None, None, None, None)
    assert s.load_state == "steady"
    assert s.steady_state is not None
    # One client: from the first token (0.25) to the last completion (2.0).
    assert (s.steady_state.start_s, s.steady_state.end_s) == (0.25, 2.0)
    assert s.ttft_ms is not None
    assert s.ttft_ms.p50 == 250.0
