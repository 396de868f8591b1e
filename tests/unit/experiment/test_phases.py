"""The differential prefill/decode split: exact slope and intercept, bounds from both windows, degenerate cases."""

from __future__ import annotations

import pytest

from llenergymeasure.experiment.phases import SplitWindow, differential_split

# Per pass: 100 input tokens, prefill 5 J and 0.2 s; every decode token 0.5 J and 0.01 s. 8 requests per pass.
MAIN = SplitWindow(
    wall_s=3 * (0.2 + 120 * 0.01), input_tokens=300, decode_tokens=360, energy_j=195.0, uncertainty_j=3.0
)
SHORT = SplitWindow(wall_s=5 * (0.2 + 24 * 0.01), input_tokens=500, decode_tokens=120, energy_j=85.0, uncertainty_j=2.0)


def test_slope_and_intercept_recover_decode_and_prefill() -> None:
    s = differential_split(MAIN, SHORT)
    assert s is not None
    assert s.method == "differential"
    assert s.energy_per_decode_token_j == pytest.approx(0.5, rel=1e-12)
    assert s.prefill_energy_j == pytest.approx(15.0, rel=1e-12)  # 5 J per pass x the main window's 3 passes
    assert s.decode_energy_j == pytest.approx(180.0, rel=1e-12)
    assert s.decode_tokens == 360
    assert s.prefill_time_s == pytest.approx(0.6, rel=1e-9)
    assert s.decode_time_s == pytest.approx(3.6, rel=1e-9)
    assert s.decode_tokens_per_s == pytest.approx(100.0, rel=1e-9)
    # Per pass: u_long 1 J, u_short 0.4 J, 96 decode tokens apart.
    assert s.energy_per_decode_token_uncertainty_j == pytest.approx(1.4 / 96, rel=1e-12)
    assert s.prefill_uncertainty_j == pytest.approx((120 * 0.4 + 24 * 1.0) / 96 * 3, rel=1e-12)  # 2.25 J
    assert s.decode_uncertainty_j == pytest.approx(1.4 / 96 * 360, rel=1e-12)
    assert s.notes == ()


def test_a_one_token_window_is_the_special_case_of_no_decode() -> None:
    one = SplitWindow(wall_s=0.8, input_tokens=400, decode_tokens=0, energy_j=20.0, uncertainty_j=0.8)
    s = differential_split(MAIN, one)
    assert s is not None
    assert s.prefill_energy_j == pytest.approx(15.0, rel=1e-12)
    assert s.prefill_uncertainty_j == pytest.approx(0.6, rel=1e-12)  # the short window's own bound, per pass x 3
    assert s.energy_per_decode_token_uncertainty_j == pytest.approx((1.0 + 0.2) / 120, rel=1e-12)


def test_windows_over_different_prompt_mixes_are_compared_per_input_token() -> None:
    # The short window's passes reached longer prompts (600 input tokens over 5 passes, not 500): its
    # prefill is 0.05 J per input token as the main window's is, 30 J, not 25 J. Per pass, the
    # intercept would absorb that difference; per input token it does not.
    longer = SplitWindow(wall_s=2.2, input_tokens=600, decode_tokens=120, energy_j=90.0, uncertainty_j=2.0)
    s = differential_split(MAIN, longer)
    assert s is not None
    assert s.energy_per_decode_token_j == pytest.approx(0.5, rel=1e-12)
    assert s.prefill_energy_j == pytest.approx(15.0, rel=1e-12)


def test_equal_decode_work_gives_no_split() -> None:
    assert differential_split(MAIN, MAIN) is None


def test_no_energy_still_splits_time() -> None:
    blind = [SplitWindow(w.wall_s, w.input_tokens, w.decode_tokens, None, None) for w in (MAIN, SHORT)]
    s = differential_split(blind[0], blind[1])
    assert s is not None
    assert (s.prefill_energy_j, s.decode_energy_j, s.energy_per_decode_token_j) == (0.0, 0.0, None)
    assert (s.prefill_uncertainty_j, s.decode_uncertainty_j) == (None, None)
    assert s.prefill_time_s == pytest.approx(0.6, rel=1e-9)


def test_noise_that_inverts_the_windows_is_flagged() -> None:
    # The short window drew more per pass than its tokens allow: the intercept goes negative.
    short = SplitWindow(wall_s=2.2, input_tokens=500, decode_tokens=120, energy_j=10.0, uncertainty_j=2.0)
    s = differential_split(MAIN, short)
    assert s is not None
    assert s.prefill_energy_j < 0
    assert s.notes == (
        f"prefill/decode split out of range (prefill {s.prefill_energy_j:.4g} J, decode "
        f"{s.energy_per_decode_token_j:.4g} J/token): within the noise of short windows; lengthen energy.min_window_s",
    )
