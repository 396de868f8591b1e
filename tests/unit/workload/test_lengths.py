"""Seeded length distributions: exact first values, clipping, and the lognormal's moments."""

from __future__ import annotations

import random
import statistics

import pytest
from pydantic import ValidationError

from llenergymeasure.config.datasets import LengthDistribution
from llenergymeasure.workload.lengths import draw_lengths, lognormal_parameters, stream


def dist(**fields: object) -> LengthDistribution:
    return LengthDistribution.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "first"),
    [
        ({"distribution": "fixed", "mean": 7}, [7, 7, 7, 7, 7, 7]),
        ({"distribution": "uniform", "min": 4, "max": 9}, [7, 7, 4, 6, 8, 7]),
        ({"distribution": "normal", "mean": 50, "std": 10}, [59, 36, 43, 54, 40, 49]),
        ({"distribution": "lognormal", "mean": 100, "std": 80, "max": 300}, [69, 80, 128, 73, 211, 27]),
        ({"distribution": "normal", "mean": 3, "std": 10, "min": 2, "max": 5}, [5, 2, 2, 5, 2, 2]),
    ],
)
def test_first_values_with_a_fixed_seed(fields: dict[str, object], first: list[int]) -> None:
    assert draw_lengths(dist(**fields), 6, random.Random(0)) == first


def test_the_first_lengths_do_not_depend_on_how_many_are_drawn() -> None:
    d = dist(distribution="normal", mean=50, std=10)
    assert draw_lengths(d, 3, stream(42, "input")) == draw_lengths(d, 10, stream(42, "input"))[:3] == [48, 56, 57]


def test_lengths_are_at_least_one_without_a_min() -> None:
    assert min(draw_lengths(dist(distribution="normal", mean=1, std=50), 200, random.Random(3))) == 1


def test_lognormal_is_parametrised_by_the_lengths_own_mean_and_std() -> None:
    mu, sigma = lognormal_parameters(100.0, 80.0)
    assert (round(mu, 6), round(sigma, 6)) == (4.357822, 0.703346)
    draws = draw_lengths(dist(distribution="lognormal", mean=100, std=80), 20_000, random.Random(1))
    assert statistics.mean(draws) == pytest.approx(100, rel=0.02)
    assert statistics.stdev(draws) == pytest.approx(80, rel=0.03)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"distribution": "uniform", "min": 3}, "distribution uniform needs max; set them"),
        ({"distribution": "normal", "mean": 5}, "distribution normal needs std; set them"),
        ({"distribution": "lognormal"}, "distribution lognormal needs mean and std; set them"),
        ({"distribution": "fixed", "mean": 5, "min": 9, "max": 4}, "min 9 is above max 4; swap or widen them"),
    ],
)
def test_missing_parameters_are_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        dist(**fields)
    assert err.value.errors()[0]["msg"] == f"Value error, {message}"
