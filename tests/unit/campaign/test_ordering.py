from collections import Counter

import pytest

from llenergymeasure.campaign.ordering import (
    default_shuffle_seed,
    order_units,
    ordering_note,
    self_follow_note,
    self_follows,
    williams_rows,
)
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


def test_shuffled_never_starts_a_cycle_with_the_config_the_last_one_ended_with() -> None:
    # Seed 1 draws 2 1 0 for cycle 2 (it would follow c1's last, 2); the seeded swap makes it 1 2 0.
    assert order_units(3, 3, "shuffled", 1) == [(0, 1), (1, 1), (2, 1), (1, 2), (2, 2), (0, 2), (1, 3), (2, 3), (0, 3)]
    for seed in range(200):
        for n in (2, 3, 5):
            assert self_follows(order_units(n, 6, "shuffled", seed)) == []


def test_reverse_runs_every_other_cycle_backwards_each_pair_one_config_further_on() -> None:
    assert order_units(3, 3, "reverse", 0) == [(0, 1), (1, 1), (2, 1), (2, 2), (1, 2), (0, 2), (1, 3), (2, 3), (0, 3)]
    # Two configs, four cycles: 0 1 | 1 0 | 1 0 | 0 1. Only inside a pair does a config follow itself.
    units = order_units(2, 4, "reverse", 0)
    assert [e for e, _ in units] == [0, 1, 1, 0, 1, 0, 0, 1]
    assert self_follows(units) == [(1, 1, 2), (0, 3, 4)]
    # Within each pair the positions of every config sum to n - 1: a linear drift cancels.
    for pair in range(2):
        fwd, bwd = ([e for e, c in units if c == 2 * pair + k] for k in (1, 2))
        assert [fwd.index(e) + bwd.index(e) for e in range(2)] == [1, 1]


def test_reverse_with_two_cycles_is_abba() -> None:
    units = order_units(2, 2, "reverse", 0)
    assert units == [(0, 1), (1, 1), (1, 2), (0, 2)]
    assert self_follows(units) == [(1, 1, 2)]


def test_latin_square_rows_for_four_configs() -> None:
    assert williams_rows(4) == [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]]
    assert order_units(4, 5, "latin_square", 0)[-4:] == [(0, 5), (1, 5), (3, 5), (2, 5)]  # cycle 5 = row 1 again


def test_latin_square_rows_for_three_configs_add_mirror_images_ordered_so_no_config_follows_itself() -> None:
    # Construction order: 012 120 201 210 021 102, where 210 -> 021 and 021 -> 102 meet at 0 and 1.
    assert williams_rows(3) == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [1, 0, 2], [0, 2, 1]]
    assert self_follows(order_units(3, 12, "latin_square", 0)) == []


def test_latin_square_for_two_configs_cannot_avoid_a_config_following_itself() -> None:
    assert williams_rows(2) == [[0, 1], [1, 0]]
    assert self_follows(order_units(2, 4, "latin_square", 0)) == [(1, 1, 2), (0, 2, 3), (1, 3, 4)]


@pytest.mark.parametrize("n", range(3, 13))
def test_williams_rows_meet_at_distinct_pairs_and_never_at_one_config(n: int) -> None:
    rows = williams_rows(n)
    # Run in a loop (the design repeated), each (last, first) pair at a row change is new.
    boundaries = [(rows[i][-1], rows[(i + 1) % len(rows)][0]) for i in range(len(rows))]
    assert [a == b for a, b in boundaries] == [False] * len(rows)
    assert len(set(boundaries)) == len(rows)
    assert self_follows(order_units(n, 2 * len(rows), "latin_square", 0)) == []


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


def test_self_follow_note_names_the_places() -> None:
    names = ["exp001", "exp002"]
    assert self_follow_note(order_units(2, 2, "reverse", 0), "reverse", names) == (
        "reverse: at 1 cycle boundary a config runs straight after itself (exp002 c1->c2), starting from its own"
        " heat rather than another config's; each backward cycle starts with the config its forward cycle ended"
        " with, which cancelling a linear drift within the pair requires; cycle_gap_seconds pauses there"
    )
    assert self_follow_note(order_units(2, 8, "latin_square", 0), "latin_square", names) == (
        "latin_square: at 7 cycle boundaries a config runs straight after itself (exp002 c1->c2, exp001 c2->c3,"
        " exp002 c3->c4, exp001 c4->c5, exp002 c5->c6, exp001 c6->c7 and 1 more), starting from its own heat"
        " rather than another config's; the Williams design for 2 configs has the rows AB and BA, which meet at"
        " the same config; cycle_gap_seconds pauses there"
    )


@pytest.mark.parametrize(
    ("n", "cycles", "order"),
    [(2, 4, "sequential"), (1, 4, "reverse"), (3, 6, "latin_square"), (4, 4, "interleaved"), (3, 5, "shuffled")],
)
def test_no_self_follow_note_where_none_or_by_design(n: int, cycles: int, order: CycleOrder) -> None:
    names = [f"exp{i:03d}" for i in range(1, n + 1)]
    assert self_follow_note(order_units(n, cycles, order, 0), order, names) is None


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
            "latin_square: the Williams design for 4 configs has 4 rows; n_cycles=6 runs it 1 time plus its "
            "first 2 rows, so carryover is balanced over the first 4 cycles only; use a multiple of 4 cycles "
            "for full balance",
        ),
        (4, 3, "reverse", "reverse: 3 cycles is odd, so the forward order runs once more than the backward one"),
        (4, 2, "reverse", None),
        (4, 3, "shuffled", None),
    ],
)
def test_ordering_note(n: int, cycles: int, order: CycleOrder, note: str | None) -> None:
    assert ordering_note(n, cycles, order) == note
