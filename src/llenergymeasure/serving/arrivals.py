"""When each request of a load run is due: all at once (closed loop), gamma arrivals at a rate, a ramp.

Open-loop arrivals follow vLLM's ``bench serve``: gaps between arrivals are gamma-distributed with
shape ``burstiness`` and scale ``1 / (rate * burstiness)``, so their mean is ``1 / rate`` whatever
the burstiness and their coefficient of variation is ``1 / sqrt(burstiness)``. Burstiness 1 is an
exponential gap, a Poisson process; below 1 arrivals come in bursts, above 1 they are more regular.

Unlike vLLM's bench, llem does not rescale a drawn schedule so that its span is exactly
``n / rate``: the drawn schedule is what the server was offered, so the result records that
schedule's own rate (``schedule_rate_per_s``) beside the configured one, and achieved send rates
are compared against it.

Each unit draws its schedule from a generator of its own, seeded from the experiment's seed and,
unless a fixed schedule is asked for, the cycle: cycles then sample arrival randomness, and
confidence intervals across cycles include it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Literal

ArrivalSchedule = Literal["per_cycle", "fixed"]


def arrival_seed(seed: int, cycle: int, schedule: ArrivalSchedule) -> int:
    """The seed a unit's arrival schedule is drawn from.

    ``fixed``: the experiment's seed, so every cycle replays one schedule. ``per_cycle``: 64 bits of
    SHA-256 over the seed and the cycle, identical on every machine and Python version (unlike
    ``hash()``) and unrelated from one cycle to the next.
    """
    if schedule == "fixed":
        return seed
    digest = hashlib.sha256(f"llem-arrivals:{seed}:{cycle}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def arrival_offsets_s(
    n_requests: int, request_rate_per_s: float | None, seed: int, burstiness: float = 1.0
) -> list[float]:
    """Due time of each request, in seconds after the load starts.

    No rate: every request is due at 0 and only the concurrency limit paces them (closed loop).
    A rate: the first request at 0, then ``n - 1`` gamma gaps (module docstring), drawn from a
    ``random.Random`` of its own seeded by ``seed``, so a schedule is identical on every run and
    machine and independent of anything else that draws numbers.
    """
    if n_requests <= 0:
        return []
    if request_rate_per_s is None:
        return [0.0] * n_requests
    if request_rate_per_s <= 0:
        raise ValueError(f"request_rate_per_s must be positive, got {request_rate_per_s}")
    if burstiness <= 0:
        raise ValueError(f"burstiness must be positive, got {burstiness}")
    rng = random.Random(seed)
    scale_s = 1.0 / (request_rate_per_s * burstiness)
    out = [0.0]
    for _ in range(n_requests - 1):
        out.append(out[-1] + rng.gammavariate(burstiness, scale_s))
    return out


def ramp_offsets_s(
    n_requests: int, start_rate_per_s: float, end_rate_per_s: float, seed: int, burstiness: float = 1.0
) -> list[float]:
    """Due times of a linear ramp (vLLM bench's ``--ramp-up-strategy linear``): rate grows with the request index.

    The gap before request ``i`` is gamma-distributed (shape ``burstiness``) at the rate
    ``start + (end - start) * i / (n - 1)``, so the first gaps follow ``start_rate`` and the last
    ``end_rate``; the first request is due at 0. Seeded as ``arrival_offsets_s``.
    """
    if n_requests <= 0:
        return []
    if start_rate_per_s <= 0 or end_rate_per_s <= 0:
        raise ValueError(f"ramp rates must be positive, got {start_rate_per_s} and {end_rate_per_s}")
    if burstiness <= 0:
        raise ValueError(f"burstiness must be positive, got {burstiness}")
    rng = random.Random(seed)
    out = [0.0]
    for i in range(1, n_requests):
        rate = start_rate_per_s + (end_rate_per_s - start_rate_per_s) * i / (n_requests - 1)
        out.append(out[-1] + rng.gammavariate(burstiness, 1.0 / (rate * burstiness)))
    return out


def even_offsets_s(n_requests: int, rate_per_s: float) -> list[float]:
    """Due times at exactly ``rate_per_s``, evenly spaced (GuideLLM's constant rate): no arrival randomness."""
    if rate_per_s <= 0:
        raise ValueError(f"rate must be positive, got {rate_per_s}")
    return [i / rate_per_s for i in range(n_requests)]


def schedule_rate_per_s(offsets_s: Sequence[float]) -> float | None:
    """The drawn schedule's own rate: ``n - 1`` gaps over the span from the first due time to the last.

    That is the maximum-likelihood rate of the gaps actually drawn (not the configured rate, which
    a finite schedule only approximates), and the same estimator ``stats.achieved_rate_per_s``
    applies to the sends, so the two compare directly. None for fewer than two requests or a
    schedule with no span (a closed loop: all due at once).
    """
    if len(offsets_s) < 2:
        return None
    span = max(offsets_s) - min(offsets_s)
    return (len(offsets_s) - 1) / span if span > 0 else None
