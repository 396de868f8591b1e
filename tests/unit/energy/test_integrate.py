import pytest

from llenergymeasure.energy.integrate import (
    counter_delta_mj,
    counter_quantisation_bound_j,
    counter_update_period_s,
    relative_gap,
    trapezoid_energy_j,
    wrapped_delta,
)


def test_trapezoid_of_a_ramp_is_exact() -> None:
    # 0 → 100 W over 2 s: 100 J
    assert trapezoid_energy_j([0, 1, 2], [0, 50, 100]) == pytest.approx(100.0)


def test_trapezoid_bridges_missing_samples() -> None:
    assert trapezoid_energy_j([0, 1, 2, 3], [10, None, None, 10]) == pytest.approx(30.0)


def test_trapezoid_of_fewer_than_two_samples_is_zero() -> None:
    assert trapezoid_energy_j([0], [10]) == 0.0
    assert trapezoid_energy_j([], []) == 0.0


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


def test_quantisation_bound_is_period_times_edge_power() -> None:
    assert counter_quantisation_bound_j(0.1, 250.0) == pytest.approx(25.0)


def test_wrapped_delta_in_any_unit() -> None:
    assert wrapped_delta(262_143_000_000, 1_000, 262_143_328_850) == 328_850 + 1_000


def test_sampling_bound_is_half_the_riemann_gap() -> None:
    from llenergymeasure.energy.integrate import sampling_bound_j

    # 100 -> 300 W over 1 s, then flat 300 W over 2 s: left sum 700, right 900; half the gap 100 J.
    assert sampling_bound_j([0.0, 1.0, 3.0], [100.0, 300.0, 300.0]) == pytest.approx(100.0)
    assert sampling_bound_j([0.0, 1.0, 2.0], [200.0, 200.0, 200.0]) == 0.0
    assert sampling_bound_j([0.0, 1.0, 2.0], [100.0, None, 300.0]) == pytest.approx(200.0)  # bridged
