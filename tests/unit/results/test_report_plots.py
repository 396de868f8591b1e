import pytest

from llenergymeasure.results.report import error_bars
from llenergymeasure.results.stats import Summary


def test_error_bars_follow_the_interval_not_the_mean() -> None:
    log_t = Summary(2, 369.0, 347.9, 0.94, 0.5, 7586092.0, "log-t")
    plain = Summary(3, 2.0, 0.1, 0.05, 1.75, 2.25, "t")
    # 99 cycles at 1.0 and one at 1000: the interval for the geometric mean lies below the mean 10.99.
    skewed = Summary(100, 10.99, 99.9, 9.09, 0.94, 1.23, "log-t")
    single = Summary(1, 4.0, None, None, None, None)
    below, above = error_bars([log_t, plain, skewed, single])
    assert below == [368.5, 0.25, pytest.approx(10.05), 0.0]
    assert above == [7585723.0, 0.25, 0.0, 0.0]
