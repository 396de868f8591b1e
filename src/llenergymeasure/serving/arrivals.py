"""When each request of a load run is due: all at once (closed loop) or Poisson arrivals at a rate."""

from __future__ import annotations

import random


def arrival_offsets_s(n_requests: int, request_rate_per_s: float | None, seed: int) -> list[float]:
    """Due time of each request, in seconds after the load starts.

    No rate: every request is due at 0 and only the concurrency limit paces them (closed loop).
    A rate: a Poisson process, the first request at 0 and exponential gaps of mean ``1/rate``
    after it, drawn from a generator of its own seeded by ``seed``, so one experiment's schedule
    is identical on every run and machine and independent of anything else that draws numbers.
    """
    if n_requests <= 0:
        return []
    if request_rate_per_s is None:
        return [0.0] * n_requests
    if request_rate_per_s <= 0:
        raise ValueError(f"request_rate_per_s must be positive, got {request_rate_per_s}")
    rng = random.Random(seed)
    out = [0.0]
    for _ in range(n_requests - 1):
        out.append(out[-1] + rng.expovariate(request_rate_per_s))
    return out
