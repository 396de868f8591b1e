"""A saturation sweep's arithmetic (``scenario.saturation``): the rates it tries and which ones held.

GuideLLM's ``sweep`` profile, in one unit: a synchronous phase (one request at a time) gives the
lowest useful rate, a throughput phase (every request at once) the highest the server completes;
``points - 2`` evenly spaced rates strictly between them are then offered as open loops. Pure: the
phases' requests come in, the curve and its verdicts go out.

A phase's completed rate is GuideLLM's: successful requests over the phase's span, from its first
send (every request of a throughput phase is sent then) to its last completion. Not ``n - 1`` over the
span of the completions: a batch that finishes together would make that rate a burst's.

A rate holds when nothing failed and the open loop's stability test (``serving.stability``: the
queue of requests in flight, arrivals against completions, from the first completion to the last
arrival) calls it steady; overload is a rate that did not hold, and a phase too short to tell is
left unjudged (None), never called sustained.
"""

from __future__ import annotations

from collections.abc import Sequence

from llenergymeasure.results.schema import LoadStability
from llenergymeasure.serving.stability import open_loop_stability
from llenergymeasure.serving.stats import StreamedRequest


def phase_rates(low_per_s: float, high_per_s: float, n: int) -> list[float]:
    """``n`` rates evenly spaced strictly between ``low`` and ``high`` (GuideLLM spaces its sweep the same way).

    ``high`` at or below ``low`` (a server no faster with many requests than with one) leaves
    nothing between: the rates then step up from ``low`` to twice it, so the sweep still probes
    beyond the synchronous rate.
    """
    if n <= 0:
        return []
    if high_per_s <= low_per_s:
        high_per_s = 2.0 * low_per_s
    step = (high_per_s - low_per_s) / (n + 1)
    return [low_per_s + step * (k + 1) for k in range(n)]


def completed_rate_per_s(requests: Sequence[StreamedRequest]) -> float | None:
    """Successful requests per second of the phase: their count over the span from its first send to its last end.

    From the first send, not the window's opening: the client's connection set-up before it is the
    load generator's, not the server's.
    """
    done = [r.done_s for r in requests if r.ok]
    if not done:
        return None
    start = min(r.sent_s for r in requests)
    return len(done) / (max(done) - start) if max(done) > start else None


def rate_stability(requests: Sequence[StreamedRequest]) -> LoadStability | None:
    """An open-loop phase's stability test over its window (first completion to last arrival); None without one."""
    if not requests:
        return None
    arrivals = [r.arrival_s for r in requests]
    dones = [r.done_s for r in requests]
    start, end = min(dones), max(arrivals)
    if end <= start:
        return None  # every request arrived before the first completion: no window to test
    return open_loop_stability(arrivals, dones, start, end)


def sustained(n_failed: int, stability: LoadStability | None) -> bool | None:
    """Whether a rate held: nothing failed and its window was steady; False on overload; None if unknown."""
    if n_failed:
        return False
    if stability is None or stability.verdict == "unresolved":
        return None
    return stability.verdict == "steady"


def highest_sustained(rates: Sequence[tuple[float | None, bool | None]]) -> float | None:
    """The highest offered rate that held, over the rate phases; None when none did."""
    held = [rate for rate, ok in rates if ok and rate is not None]
    return max(held) if held else None
