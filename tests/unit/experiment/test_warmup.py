import pytest

from llenergymeasure.config.experiment import WarmupConfig
from llenergymeasure.experiment.warmup import coefficient_of_variation, run_warmup


def test_fixed_runs_exactly_n() -> None:
    calls = []
    out = run_warmup(WarmupConfig(n_runs=3), lambda: calls.append(1) or 1.0)
    assert (out.runs, len(calls), out.final_cv) == (3, 3, None)


def test_cv_mode_stops_when_latency_settles() -> None:
    latencies = iter([5.0, 3.0, 2.0, 1.0, 1.01, 0.99, 1.0, 1.0])
    out = run_warmup(WarmupConfig(mode="cv", n_runs=2, window=3, cv_threshold=0.05), lambda: next(latencies))
    assert out.runs == 6
    assert out.final_cv is not None
    assert out.final_cv <= 0.05


def test_cv_mode_is_bounded() -> None:
    values = iter([1.0, 2.0] * 50)
    out = run_warmup(WarmupConfig(mode="cv", max_runs=7, cv_threshold=0.01), lambda: next(values))
    assert out.runs == 7
    assert out.final_cv is not None
    assert out.final_cv > 0.01


def test_cv() -> None:
    assert coefficient_of_variation([1.0]) == 0.0
    assert coefficient_of_variation([1.0, 3.0]) == pytest.approx(1.41421356 / 2)
