from collections import Counter

import pytest

from llenergymeasure.campaign.ordering import default_shuffle_seed, order_units, ordering_note, williams_rows
from llenergymeasure.config.campaign import CycleOrder


def test_sequential() -> None:
    assert order_units(2, 2, "sequential", 0) == [(0, 1), (0, 2), (1, 1), (1, 2)]


def test_interleaved() -> None:
    assert order_units(2, 2, "interleaved", 0) == [(0, 1), (1, 1), (0, 2), (1, 2)]


def test_shuffled_is_seeded_and_each_cycle_is_a_permutation() -> None:
    a = order_units(6, 3, "shuffled", 7)
    assert a == order_units(6, 3, "shuffled", 7)
    assert a != order_units(6, 3, "shuffled", 8)
    for cycle in (1, 2, 3):
        assert sorted(e for e, c in a if c == cycle) == list(range(6))
    assert [c for _, c in a] == [1] * 6 + [2] * 6 + [3] * 6


@pytest.mark.parametrize("h", ["0123456789abcdef", "ffffffff00000000"])
def test_default_seed_derives_from_design_hash(h: str) -> None:
    assert default_shuffle_seed(h) == int(h[:8], 16)


def test_reverse_runs_every_other_cycle_backwards() -> None:
    assert order_units(3, 3, "reverse", 0) == [(0, 1), (1, 1), (2, 1), (2, 2), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)]


def test_latin_square_rows_for_four_configs() -> None:
    assert williams_rows(4) == [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]]
    assert order_units(4, 5, "latin_square", 0)[-4:] == [(0, 5), (1, 5), (3, 5), (2, 5)]  # cycle 5 = row 1 again


def test_latin_square_rows_for_three_configs_add_mirror_images() -> None:
    assert williams_rows(3) == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [0, 2, 1], [1, 0, 2]]


@pytest.mark.parametrize("n", range(2, 13))
def test_williams_design_balances_first_order_carryover(n: int) -> None:
    rows = williams_rows(n)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    for row in rows:
        assert sorted(row) == list(range(n))  # each cycle runs every config once
    for position in range(n):  # each config appears equally often at each position
        assert Counter(row[position] for row in rows) == Counter({e: len(rows) // n for e in range(n)})
    follows = Counter((row[i], row[i + 1]) for row in rows for i in range(n - 1))
    times = 1 if n % 2 == 0 else 2
    assert follows == Counter({(a, b): times for a in range(n) for b in range(n) if a != b})


def test_latin_square_units_over_whole_repetitions_are_balanced() -> None:
    units = order_units(5, 10, "latin_square", 0)
    by_cycle = [[e for e, c in units if c == cycle] for cycle in range(1, 11)]
    follows = Counter((row[i], row[i + 1]) for row in by_cycle for i in range(4))
    assert set(follows.values()) == {2}
    assert len(follows) == 20


def test_degenerate_latin_squares() -> None:
    assert williams_rows(1) == [[0]]
    assert order_units(1, 3, "latin_square", 0) == [(0, 1), (0, 2), (0, 3)]


@pytest.mark.parametrize(
    ("n", "cycles", "order", "note"),
    [
        (4, 8, "latin_square", None),
        (1, 3, "latin_square", None),
        (3, 6, "latin_square", None),
        (
            4,
            6,
            "latin_square",
            "latin_square: the Williams design for 4 configs has 4 rows; n_cycles=6 runs it 1 time(s) plus its "
            "first 2 row(s), so carryover is balanced over the first 4 cycles only; use a multiple of 4 cycles "
            "for full balance",
        ),
        (4, 3, "reverse", "reverse: 3 cycles is odd, so the forward order runs once more than the backward one"),
        (4, 2, "reverse", None),
        (4, 3, "shuffled", None),
    ],
)
def test_ordering_note(n: int, cycles: int, order: CycleOrder, note: str | None) -> None:
    assert ordering_note(n, cycles, order) == note
