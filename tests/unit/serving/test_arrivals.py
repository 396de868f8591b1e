from __future__ import annotations

import math
import random

import pytest

from llenergymeasure.serving.arrivals import arrival_offsets_s


def test_closed_loop_sends_everything_at_once() -> None:
    assert arrival_offsets_s(3, None, 42) == [0.0, 0.0, 0.0]
    assert arrival_offsets_s(0, 5.0, 42) == []


def test_poisson_offsets_are_the_seeded_exponential_gaps() -> None:
    rng = random.Random(7)
    gaps = [rng.expovariate(4.0) for _ in range(3)]
    expected = [0.0, gaps[0], gaps[0] + gaps[1], gaps[0] + gaps[1] + gaps[2]]
    assert arrival_offsets_s(4, 4.0, 7) == pytest.approx(expected, abs=0)


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    assert arrival_offsets_s(50, 2.0, 1) == arrival_offsets_s(50, 2.0, 1)
    assert arrival_offsets_s(50, 2.0, 1) != arrival_offsets_s(50, 2.0, 2)


def test_long_run_rate_matches_the_requested_rate() -> None:
    offsets = arrival_offsets_s(20_001, 8.0, 3)
    achieved = 20_000 / offsets[-1]
    assert math.isclose(achieved, 8.0, rel_tol=0.03)
    assert offsets == sorted(offsets)


def test_non_positive_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        arrival_offsets_s(2, 0.0, 1)
