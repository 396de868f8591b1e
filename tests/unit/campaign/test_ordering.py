import pytest

from llenergymeasure.campaign.ordering import default_shuffle_seed, order_units


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
