import pytest

from llenergymeasure.energy.integrate import counter_delta_mj, relative_gap, trapezoid_energy_j


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
