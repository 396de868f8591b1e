"""Prefill/decode split arithmetic: exact values, scaling by passes, bounds adding up, negatives flagged."""

from __future__ import annotations

import pytest

from llenergymeasure.experiment.phases import split_phases


def test_prefill_window_is_scaled_to_the_main_windows_passes() -> None:
    # Main window: 3 passes, 300 J, 10 s, 3 x 8 requests x 16 tokens. Prefill-only window: 5 passes, 25 J, 2 s.
    s = split_phases(
        total_energy_j=300.0,
        total_uncertainty_j=3.0,
        wall_s=10.0,
        n_passes=3,
        output_tokens=384,
        n_requests=24,
        prefill_energy_j=25.0,
        prefill_uncertainty_j=1.0,
        prefill_wall_s=2.0,
        prefill_passes=5,
    )
    assert s.prefill_energy_j == pytest.approx(15.0)  # 25 J / 5 passes x 3 passes
    assert s.decode_energy_j == pytest.approx(285.0)
    assert s.prefill_energy_j + s.decode_energy_j == pytest.approx(300.0)
    assert s.prefill_time_s == pytest.approx(1.2)
    assert s.decode_time_s == pytest.approx(8.8)
    assert s.decode_tokens == 360
    assert s.energy_per_decode_token_j == pytest.approx(285.0 / 360)
    assert s.decode_tokens_per_s == pytest.approx(360 / 8.8)
    assert s.prefill_uncertainty_j == pytest.approx(0.6)
    assert s.decode_uncertainty_j == pytest.approx(3.6)
    assert s.notes == ()


def test_one_output_token_has_no_decode_share_per_token() -> None:
    s = split_phases(
        total_energy_j=10.0,
        total_uncertainty_j=None,
        wall_s=1.0,
        n_passes=1,
        output_tokens=4,
        n_requests=4,
        prefill_energy_j=10.0,
        prefill_uncertainty_j=None,
        prefill_wall_s=1.0,
        prefill_passes=1,
    )
    assert (s.decode_tokens, s.energy_per_decode_token_j, s.decode_tokens_per_s) == (0, None, None)
    assert (s.prefill_uncertainty_j, s.decode_uncertainty_j) == (None, None)


def test_a_prefill_window_costlier_than_the_whole_is_flagged() -> None:
    s = split_phases(
        total_energy_j=10.0,
        total_uncertainty_j=1.0,
        wall_s=1.0,
        n_passes=1,
        output_tokens=8,
        n_requests=4,
        prefill_energy_j=12.0,
        prefill_uncertainty_j=1.0,
        prefill_wall_s=0.5,
        prefill_passes=1,
    )
    assert s.decode_energy_j == pytest.approx(-2.0)
    assert s.notes == (
        "prefill-only passes took 12 J and 0.5 s, more than the whole window (10 J, 1 s): decode share negative,"
        " within noise of a short window; lengthen energy.min_window_s",
    )
