from __future__ import annotations

from llenergymeasure.serving.steady import SteadyStateTracker, TraceEvent, Window, steady_state_window


def closed_loop_trace(n: int, c: int, ttft: float, e2e: float) -> list[TraceEvent]:
    """Closed loop with identical requests: slot k sends at 0, e2e, 2*e2e, ... (staggered by 0.01 s)."""
    events: list[TraceEvent] = []
    free = [0.01 * k for k in range(c)]  # when each slot is next free
    for _ in range(n):
        k = min(range(c), key=lambda j: (free[j], j))
        sent = free[k]
        events.append(TraceEvent(sent, sent + ttft, sent + e2e))
        free[k] = sent + e2e
    return events


def test_closed_loop_window_from_last_leading_first_token_to_first_drain() -> None:
    ev = closed_loop_trace(n=8, c=2, ttft=0.1, e2e=1.0)
    # Leading requests: sent 0.0 and 0.01, first tokens 0.1 and 0.11. The last send is request 7
    # (slot 1 at 3.01); the first completion after it is slot 0's at 4.0.
    assert steady_state_window(ev, 2, open_loop=False) == Window(0.11, 4.0)


def test_concurrency_one_spans_first_token_to_last_completion() -> None:
    ev = closed_loop_trace(n=3, c=1, ttft=0.2, e2e=1.0)
    assert steady_state_window(ev, 1, open_loop=False) == Window(0.2, 3.0)


def test_fewer_requests_than_slots_never_reach_steady_state() -> None:
    ev = closed_loop_trace(n=2, c=4, ttft=0.1, e2e=1.0)
    tracker = SteadyStateTracker(4, 2, open_loop=False)
    assert steady_state_window(ev, 4, open_loop=False) is None
    assert "n_prompts must exceed scenario.concurrency" in tracker.why_none()


def test_drain_before_the_last_first_token_means_no_window() -> None:
    # Two slots, two requests: request 0 finishes (0.5) before request 1's first token (0.6).
    ev = [TraceEvent(0.0, 0.1, 0.5), TraceEvent(0.0, 0.6, 1.0)]
    assert steady_state_window(ev, 2, open_loop=False) is None


def test_a_leading_request_that_fails_without_a_token_frees_its_slot() -> None:
    ev = [TraceEvent(0.0, None, 0.05), TraceEvent(0.0, 0.1, 1.0), TraceEvent(0.05, 0.2, 1.5), TraceEvent(1.0, 1.1, 2.0)]
    # The last send (1.0) follows the completion at 1.0 that freed its slot; the next one ends it.
    assert steady_state_window(ev, 2, open_loop=False) == Window(0.1, 1.5)


def test_open_loop_window_from_first_completion_to_last_arrival() -> None:
    ev = [
        TraceEvent(0.0, 0.05, 0.3),
        TraceEvent(0.2, 0.25, 0.5),
        TraceEvent(0.9, 0.95, 1.2),
        TraceEvent(1.4, 1.45, 1.7),
    ]
    assert steady_state_window(ev, 8, open_loop=True) == Window(0.3, 1.4)


def test_open_loop_that_finishes_nothing_before_the_last_arrival_has_no_window() -> None:
    ev = [TraceEvent(0.0, 0.05, 2.0), TraceEvent(0.5, 0.6, 2.5)]
    assert steady_state_window(ev, 8, open_loop=True) is None


def test_edges_are_reported_online_once_each_in_order() -> None:
    seen: list[tuple[str, float]] = []
    tracker = SteadyStateTracker(2, 3, open_loop=False, on_edge=lambda name, t: seen.append((name, t)))
    tracker.sent(0, 0.0)
    tracker.sent(1, 0.0)
    tracker.first_token(0, 0.1)
    tracker.first_token(1, 0.2)
    tracker.done(0, 1.0)
    tracker.sent(2, 1.0)
    tracker.first_token(2, 1.1)
    tracker.done(1, 1.2)
    tracker.done(2, 2.0)
    assert seen == [("start", 0.2), ("end", 1.2)]
    assert tracker.window() == Window(0.2, 1.2)


def test_open_loop_window_closes_at_the_last_due_time_not_a_send_held_back_by_a_cap() -> None:
    # Due every 0.25 s, one slot, 0.5 s each: sends fall behind (0, 0.5, 1.0, 1.5). The arrival
    # process ends at 0.75; the sends after it are the drain of a client-side queue.
    ev = [TraceEvent(0.5 * i, 0.5 * i + 0.125, 0.5 * i + 0.5, due_s=0.25 * i) for i in range(4)]
    assert steady_state_window(ev, 1, open_loop=True) == Window(0.5, 0.75)


def test_open_loop_edges_online_come_from_arrivals_and_completions() -> None:
    seen: list[tuple[str, float]] = []
    tracker = SteadyStateTracker(3, 3, open_loop=True, on_edge=lambda name, t: seen.append((name, t)))
    tracker.arrived(0, 0.0)
    tracker.sent(0, 0.0)
    tracker.arrived(1, 0.25)
    tracker.done(0, 0.5)
    tracker.arrived(2, 0.75)
    tracker.sent(1, 0.8)  # sends do not move an open loop's edges
    tracker.sent(2, 0.9)
    tracker.done(1, 1.0)
    tracker.done(2, 1.5)
    assert seen == [("start", 0.5), ("end", 0.75)]
