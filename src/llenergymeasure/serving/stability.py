"""Is an open loop's steady-state window steady? Arrivals against completions, and the queue, inside it.

An open loop offers load whatever the server does with it. A server that keeps up completes
requests as fast as they arrive, and the number of requests in flight (arrived, not yet finished:
waiting in the client for a slot, in the server's queue, or being served) wanders around a mean.
An overloaded one completes fewer than arrive, and that number grows for as long as arrivals go
on: the window from the first completion to the last arrival is then a ramp, not a steady state.

Inside the window ``(start, end]``, with ``A`` arrivals (due times) and ``C`` completions (successful
or not: either leaves the system), the queue obeys ``Q(end) - Q(start) = A - C`` exactly, so comparing
the arrival and completion rates and watching the queue grow are one test. The window's net growth,
``G = Q(end) - Q(start) - EDGE_BIAS``, gets an interval ``G -+ Z * sd`` and is compared with the
growth a steady server may show, ``RATE_TOLERANCE * A`` (completions up to 10 % behind arrivals):

- **overload**: the whole interval lies above the tolerance (completions fell behind, beyond chance);
- **steady**: the whole interval lies at or below it (completions kept up, beyond chance);
- **unresolved**: it straddles the tolerance: the window is too short to tell, and is not called steady.

Where the terms come from:

- ``sd = sqrt(2 * lambda * W0 * d)``. A steady server with Poisson arrivals holds a queue that is
  about Poisson-distributed with mean ``L = lambda * W`` (Little's law; exact for the M/G/infinity
  queue, which a batching server short of its memory limit resembles), so two queue lengths far apart
  differ by about ``sqrt(2 L)``. ``lambda`` is the window's arrival rate. ``W0`` is the median time in
  system of the requests that arrived before the window opened: under a steady load they are like
  any other, and under overload they are the least delayed, so the allowance is not inflated by the
  very backlog it should detect. ``d = max(1, 1 / burstiness)`` is the gamma gaps' squared coefficient
  of variation, by which bursty arrivals widen count fluctuations.
- ``EDGE_BIAS = 1``: the window closes on an arrival, which counts itself in ``Q(end)``, and opens on
  a departure, which leaves behind the queue an arrival would find (the time average, with Poisson
  arrivals): one request of growth comes from the edges alone.
- ``Z = 2``: about 98 % one-sided on each side. In simulations of a FIFO server with 8 slots (32 to
  500 requests, Poisson and burstiness 0.25), overloads of 1.2x capacity were called steady in at
  most 6 % of runs and 2x never, steady loads up to 0.8 of capacity were called overload in at most
  3 %, and runs of a few dozen requests mostly came out unresolved.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from llenergymeasure.results.schema import LoadStability

RATE_TOLERANCE = 0.10
EDGE_BIAS = 1.0
Z = 2.0


def queue_at(arrivals_s: Sequence[float], dones_s: Sequence[float], t: float) -> int:
    """Requests in flight at ``t``: arrived at or before it, not finished at or before it."""
    return sum(1 for a in arrivals_s if a <= t) - sum(1 for d in dones_s if d <= t)


def mean_queue(arrivals_s: Sequence[float], dones_s: Sequence[float], start_s: float, end_s: float) -> float:
    """Time-averaged requests in flight over ``[start, end]``: each request's overlap with it, summed, over its span."""
    span = end_s - start_s
    if span <= 0:
        return 0.0
    inside = sum(max(0.0, min(d, end_s) - max(a, start_s)) for a, d in zip(arrivals_s, dones_s, strict=True))
    return inside / span


def open_loop_stability(
    arrivals_s: Sequence[float],
    dones_s: Sequence[float],
    start_s: float,
    end_s: float,
    burstiness: float = 1.0,
) -> LoadStability:
    """The stability test of one window (module docstring).

    Request ``i`` arrived at ``arrivals_s[i]`` (its due time) and finished, or failed, at ``dones_s[i]``;
    ``start_s`` is the window's opening completion and ``end_s`` its closing arrival.
    """
    span = end_s - start_s
    arrivals = sum(1 for a in arrivals_s if start_s < a <= end_s)
    completions = sum(1 for d in dones_s if start_s < d <= end_s)
    q0, q1 = queue_at(arrivals_s, dones_s, start_s), queue_at(arrivals_s, dones_s, end_s)
    rate = arrivals / span if span > 0 else 0.0
    early = [d - a for a, d in zip(arrivals_s, dones_s, strict=True) if a <= start_s]
    w0 = statistics.median(early) if early else 0.0
    sd = math.sqrt(2.0 * rate * w0 * max(1.0, 1.0 / burstiness))
    growth = q1 - q0 - EDGE_BIAS
    low, high = growth - Z * sd, growth + Z * sd
    tolerance = RATE_TOLERANCE * arrivals
    verdict = "overload" if low > tolerance else "steady" if high <= tolerance else "unresolved"
    return LoadStability(
        verdict=verdict,
        arrivals=arrivals,
        completions=completions,
        arrival_rate_per_s=rate,
        completion_rate_per_s=completions / span if span > 0 else 0.0,
        queue_start=q0,
        queue_end=q1,
        queue_mean=mean_queue(arrivals_s, dones_s, start_s, end_s),
        reference_time_in_system_s=w0,
        growth_low=low,
        growth_high=high,
        growth_tolerance=tolerance,
    )


def stability_note(s: LoadStability) -> str | None:
    """Why an open loop's window is not reported as steady, with its figures; None when it is steady."""
    figures = (
        f"completions {s.completion_rate_per_s:.2f}/s against arrivals {s.arrival_rate_per_s:.2f}/s, requests in "
        f"flight {s.queue_start} -> {s.queue_end} (net growth in [{s.growth_low:.1f}, {s.growth_high:.1f}], "
        f"tolerance {s.growth_tolerance:.1f})"
    )
    if s.verdict == "overload":
        return (
            f"overload, not a steady state: completions fell behind arrivals beyond chance ({figures}): the server "
            "cannot sustain scenario.request_rate; lower it. The window's figures are under serving.rejected_window"
        )
    if s.verdict == "unresolved":
        return (
            f"stability unresolved, not reported as steady: the window is too short to tell a steady server from an "
            f"overloaded one ({figures}); raise n_prompts for a longer window. Its figures are under "
            "serving.rejected_window"
        )
    return None
