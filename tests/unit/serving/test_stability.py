"""The open-loop stability test on synthetic traces, every figure derived by hand in the comments."""

from __future__ import annotations

from llenergymeasure.serving.stability import mean_queue, open_loop_stability, queue_at, stability_note


def steady_trace(n: int) -> tuple[list[float], list[float]]:
    """Due every 0.25 s, each done 0.5 s later: always two in flight once running."""
    arrivals = [0.25 * i for i in range(n)]
    return arrivals, [a + 0.5 for a in arrivals]


def overload_trace() -> tuple[list[float], list[float]]:
    """Due every 0.25 s (81 requests, last at 20.0); the first three take 0.5 s, then one finishes every 0.5 s."""
    arrivals = [0.25 * i for i in range(81)]
    dones = [a + 0.5 for a in arrivals[:3]] + [1.0 + 0.5 * (i - 2) for i in range(3, 81)]
    return arrivals, dones


def test_queue_counts_arrived_and_unfinished_and_its_time_average() -> None:
    arrivals, dones = steady_trace(81)
    assert (queue_at(arrivals, dones, 0.5), queue_at(arrivals, dones, 20.0)) == (2, 2)
    # Overlaps with [0.5, 20]: request 1 0.25, requests 2..78 0.5 each, request 79 0.25: 39 / 19.5.
    assert mean_queue(arrivals, dones, 0.5, 20.0) == 2.0
    assert mean_queue(arrivals, dones, 1.0, 1.0) == 0.0


def test_a_server_keeping_up_over_a_long_window_is_steady() -> None:
    arrivals, dones = steady_trace(81)
    s = open_loop_stability(arrivals, dones, 0.5, 20.0)
    # Window (0.5, 20]: arrivals 3..80 (78), completions of 1..78 (78); rate 78 / 19.5 = 4/s.
    # Requests arrived by 0.5 (0, 1, 2) each spent 0.5 s: sd = sqrt(2 x 4 x 0.5) = 2.
    # Net growth 2 - 2 - 1 = -1, interval [-5, 3], tolerance 7.8: steady.
    assert s.verdict == "steady"
    assert (s.arrivals, s.completions, s.arrival_rate_per_s, s.completion_rate_per_s) == (78, 78, 4.0, 4.0)
    assert (s.queue_start, s.queue_end, s.queue_mean, s.reference_time_in_system_s) == (2, 2, 2.0, 0.5)
    assert (s.growth_low, s.growth_high, s.growth_tolerance) == (-5.0, 3.0, 0.10 * 78)
    assert stability_note(s) is None


def test_completions_falling_behind_arrivals_is_overload() -> None:
    arrivals, dones = overload_trace()
    s = open_loop_stability(arrivals, dones, 0.5, 20.0)
    # Completions in (0.5, 20]: 0.75, 1.0 and 1.5 .. 20.0 (requests 3..40): 40. In flight 3 - 1 = 2 at
    # the start, 81 - 41 = 40 at the end; net growth 37, interval [33, 41], tolerance 7.8: overload.
    assert s.verdict == "overload"
    assert (s.arrivals, s.completions, s.queue_start, s.queue_end) == (78, 40, 2, 40)
    assert (s.arrival_rate_per_s, s.completion_rate_per_s) == (4.0, 40 / 19.5)
    assert (s.growth_low, s.growth_high, s.reference_time_in_system_s) == (33.0, 41.0, 0.5)
    # Overlaps: 0.25 + 0.5 + 0.25 x (3 + .. + 40) + (20 - 0.25 i for i in 41..80) = 0.75 + 204.25 + 195.
    assert s.queue_mean == 400.0 / 19.5
    assert stability_note(s) == (
        "overload, not a steady state: completions fell behind arrivals beyond chance (completions 2.05/s against "
        "arrivals 4.00/s, requests in flight 2 -> 40 (net growth in [33.0, 41.0], tolerance 7.8)): the server "
        "cannot sustain scenario.request_rate; lower it. The window's figures are under serving.rejected_window"
    )


def test_a_window_too_short_to_tell_is_unresolved_not_steady() -> None:
    arrivals, dones = steady_trace(9)
    s = open_loop_stability(arrivals, dones, 0.5, 2.0)
    # Arrivals 3..8 (6) over 1.5 s: 4/s, sd 2; net growth -1, interval [-5, 3], tolerance 0.6: straddles.
    assert (s.verdict, s.arrivals, s.completions, s.growth_low, s.growth_high) == ("unresolved", 6, 6, -5.0, 3.0)
    assert s.growth_tolerance == 0.10 * 6
    note = stability_note(s)
    assert note is not None
    assert note.startswith("stability unresolved, not reported as steady: the window is too short to tell")
    assert note.endswith("raise n_prompts for a longer window. Its figures are under serving.rejected_window")


def test_bursty_arrivals_widen_the_interval() -> None:
    arrivals, dones = steady_trace(41)
    # Arrivals 3..40 (38) over 9.5 s: 4/s; tolerance 3.8. Poisson: sd 2, interval [-5, 3]: steady.
    assert open_loop_stability(arrivals, dones, 0.5, 10.0).verdict == "steady"
    # Burstiness 0.25: variance x 4, sd 4, interval [-9, 7]: unresolved.
    s = open_loop_stability(arrivals, dones, 0.5, 10.0, burstiness=0.25)
    assert (s.verdict, s.growth_low, s.growth_high) == ("unresolved", -9.0, 7.0)
    # More regular arrivals than Poisson do not narrow it below Poisson's.
    assert open_loop_stability(arrivals, dones, 0.5, 10.0, burstiness=4.0).growth_high == 3.0
