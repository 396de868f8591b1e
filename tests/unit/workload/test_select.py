"""Length filters, output lengths and the seeded draw (pure: rows and a fake token counter)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from llenergymeasure.config.datasets import LengthFilter, SyntheticDataset
from llenergymeasure.workload.rows import DatasetRow
from llenergymeasure.workload.select import draw_sets, filter_rows, output_lengths, synthetic_rows


def words(texts: Sequence[str]) -> list[int]:
    """A stand-in tokenizer: one token per word."""
    return [len(t.split()) for t in texts]


ROWS = [
    DatasetRow("one", "a b c"),
    DatasetRow("one two", 7),
    DatasetRow("one two three", None),
    DatasetRow("one two three four", "a"),
]


def test_output_lengths_count_texts_keep_integers_and_none() -> None:
    assert output_lengths(ROWS, words) == [3, 7, None, 1]


def test_output_lengths_are_at_least_one() -> None:
    assert output_lengths([DatasetRow("p", ""), DatasetRow("p", 0)], words) == [1, 1]


def test_input_bounds_are_inclusive() -> None:
    kept = filter_rows(ROWS, LengthFilter(min_input_tokens=2, max_input_tokens=3), words)
    assert [r.prompt for r in kept] == ["one two", "one two three"]


def test_output_bounds_drop_rows_without_an_output() -> None:
    kept = filter_rows(ROWS, LengthFilter(min_output_tokens=2), words)
    assert [r.prompt for r in kept] == ["one", "one two"]
    kept = filter_rows(ROWS, LengthFilter(max_output_tokens=3, max_input_tokens=1), words)
    assert [r.prompt for r in kept] == ["one"]


def test_a_filter_needs_a_tokenizer() -> None:
    with pytest.raises(ValueError, match=r"dataset\.filter needs the model's tokenizer: pass count_tokens"):
        filter_rows(ROWS, LengthFilter(min_input_tokens=2), None)


def test_draw_is_seeded_and_the_first_set_fixed() -> None:
    sets, distinct = draw_sets(10, 3, 4, seed=42)
    assert sets[0] == draw_sets(10, 3, 1, seed=42)[0][0]
    assert distinct == 3
    assert len({i for s in sets[:3] for i in s}) == 9
    assert sets[3][1:] == sets[0][:2]  # the fourth set wraps to the start of the order


def test_synthetic_prefix_is_shared_and_lengths_follow_the_distribution() -> None:
    ds = SyntheticDataset.model_validate(
        {
            "kind": "synthetic",
            "prefix_tokens": 4,
            "input": {"distribution": "uniform", "min": 2, "max": 6},
            "output": {"distribution": "fixed", "mean": 9},
        }
    )
    rows = synthetic_rows(ds, 5, seed=1, vocab_size=100)
    prompts = [r.prompt for r in rows]
    assert all(isinstance(p, list) and p[:4] == prompts[0][:4] for p in prompts)
    assert all(isinstance(p, list) and 6 <= len(p) <= 10 and min(p) >= 10 for p in prompts)
    assert [r.output for r in rows] == [9] * 5
    assert synthetic_rows(ds, 2, seed=1, vocab_size=100) == rows[:2]


def test_synthetic_without_new_fields_draws_what_it_always_did() -> None:
    import random

    rng = random.Random(42)
    expected = [[rng.randrange(10, 50) for _ in range(3)] for _ in range(2)]
    rows = synthetic_rows(SyntheticDataset(input_tokens=3), 2, seed=42, vocab_size=50)
    assert [r.prompt for r in rows] == expected
    assert [r.output for r in rows] == [None, None]
