"""The GPU kit's harness ratio, pure parts: paired rotation and the seeded bootstrap."""

from __future__ import annotations

from llenergymeasure.gpucheck.harness import HarnessRatio, bootstrap_median_ci, rotating_pairs


def test_pairs_rotate_which_side_runs_first_and_divide_bare_by_window() -> None:
    calls: list[str] = []

    def bare(batch: int) -> float:
        calls.append(f"bare{batch}")
        return 2.0 * batch

    def window(batch: int) -> float:
        calls.append(f"window{batch}")
        return 1.0 * batch

    assert rotating_pairs([1, 2], bare, window, rounds=2) == [2.0, 2.0, 2.0, 2.0]
    assert calls == ["window1", "bare1", "bare2", "window2", "bare1", "window1", "window2", "bare2"]


def test_bootstrap_interval_is_seeded_and_holds_the_median() -> None:
    ratios = [0.99, 1.0, 1.01, 1.02, 0.98, 1.0, 1.0, 1.03]
    med, lo, hi = bootstrap_median_ci(ratios)
    assert (med, lo, hi) == bootstrap_median_ci(ratios)
    assert lo <= med <= hi
    assert med == 1.0
    line = HarnessRatio(med, lo, hi, 8, "cuda:0").line()
    assert line.startswith("Harness window vs a bare generate on cuda:0: median tokens/s ratio 1.0000, 95 % CI [")
    assert line.endswith("], 8 paired batches (target >= 0.99)")
