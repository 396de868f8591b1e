import pytest

from llenergymeasure.energy.integrate import (
    counter_delta_mj,
    counter_update_period_s,
    integrate_between,
    interval_bound,
    relative_gap,
    wrapped_delta,
)

LIMIT_W = 700.0


def test_trapezoid_of_a_ramp_is_exact() -> None:
    # 0 → 100 W over 2 s: 100 J
    assert integrate_between([(0, 0), (1, 50), (2, 100)], 0, 2) == pytest.approx(100.0)


def test_trapezoid_bridges_missing_samples() -> None:
    # Failed readings are dropped before integration (energy.settle.readings): the neighbours bridge.
    assert integrate_between([(0, 10), (3, 10)], 0, 3) == pytest.approx(30.0)


def test_trapezoid_of_fewer_than_two_samples_is_zero() -> None:
    assert integrate_between([(0, 10)], 0, 0) == 0.0
    assert integrate_between([], 0, 0) == 0.0


def test_counter_delta_handles_wrap() -> None:
    assert counter_delta_mj(100, 350) == 250
    assert counter_delta_mj(2**64 - 100, 150) == 250
    assert counter_delta_mj(990, 10, modulus=1000) == 20


def test_relative_gap() -> None:
    assert relative_gap(100, 99) == pytest.approx(0.01)
    assert relative_gap(0, 0) == 0.0


def test_update_period_from_polls_of_a_100ms_counter() -> None:
    # Polled every 10 ms; the counter steps at 0.03, 0.13, 0.23, 0.33 s.
    polls = [(i * 0.01, 5 * int((i * 0.01 + 0.07) // 0.1)) for i in range(40)]
    assert counter_update_period_s(polls) == pytest.approx(0.1)


def test_update_period_median_ignores_one_late_poll() -> None:
    polls = [(0.0, 1), (0.1, 2), (0.2, 3), (0.35, 4), (0.4, 5), (0.5, 6)]  # one poll delayed by the scheduler
    assert counter_update_period_s(polls) == pytest.approx(0.1)


def test_update_period_needs_two_changes_and_every_read() -> None:
    assert counter_update_period_s([(0.0, 1), (0.1, 1), (0.2, 2), (0.3, 2)]) is None
    assert counter_update_period_s([(0.0, 1), (0.1, 2), (0.2, None), (0.3, 3)]) is None
    assert counter_update_period_s([]) is None


def test_wrapped_delta_in_any_unit() -> None:
    assert wrapped_delta(262_143_000_000, 1_000, 262_143_328_850) == 328_850 + 1_000


def test_sampling_bound_is_half_the_riemann_gap() -> None:
    # 100 -> 300 W over 1 s, then flat 300 W over 2 s: left sum 700, right 900; half the gap 100 J.
    assert interval_bound([(0.0, 100.0), (1.0, 300.0), (3.0, 300.0)], 0.0, 3.0, LIMIT_W) == pytest.approx(100.0)
    assert interval_bound([(0.0, 200.0), (1.0, 200.0), (2.0, 200.0)], 0.0, 2.0, LIMIT_W) == 0.0
    assert interval_bound([(0.0, 100.0), (2.0, 300.0)], 0.0, 2.0, LIMIT_W) == pytest.approx(200.0)  # bridged
