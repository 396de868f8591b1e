"""Seeded token-length draws from a ``LengthDistribution`` (pure: the same seed gives the same lengths)."""

from __future__ import annotations

import math
import random

from llenergymeasure.config.datasets import LengthDistribution

MAX_LENGTH = 1_000_000


def lognormal_parameters(mean: float, std: float) -> tuple[float, float]:
    """(mu, sigma) of the underlying normal for lengths of this ``mean`` and ``std``.

    sigma^2 = ln(1 + std^2 / mean^2) and mu = ln(mean) - sigma^2 / 2, so the lognormal's own mean
    and standard deviation are ``mean`` and ``std``.
    """
    sigma2 = math.log1p((std / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def draw_lengths(dist: LengthDistribution, n: int, rng: random.Random) -> list[int]:
    """``n`` lengths from ``dist``, rounded to integers and clipped to [min, max] (max: 1,000,000 when unset).

    Drawn one after another from ``rng``, so the first k lengths are the same whatever ``n`` is.
    """
    low, high = dist.min, dist.max if dist.max is not None else MAX_LENGTH
    out: list[int] = []
    for _ in range(n):
        if dist.distribution == "fixed":
            value = float(dist.mean or 1)
        elif dist.distribution == "uniform":
            value = float(rng.randint(low, high))
        elif dist.distribution == "normal":
            value = rng.gauss(dist.mean or 1, dist.std or 0.0)
        else:
            mu, sigma = lognormal_parameters(dist.mean or 1, dist.std or 0.0)
            value = rng.lognormvariate(mu, sigma)
        out.append(min(high, max(low, 1, round(value))))
    return out


def stream(seed: int, purpose: str) -> random.Random:
    """An independent seeded generator per purpose (``input``, ``output``, ``prefix``), so adding one moves no other."""
    return random.Random(f"llem:{seed}:{purpose}")
