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


def test_pareto_plot_and_serving_table_from_config_stats() -> None:
    from llenergymeasure.results.report import plot_pareto, serving_table_html
    from llenergymeasure.results.stats import ConfigStats

    def cfg(h: str, c: int, tpot: float, jpt: float) -> ConfigStats:
        metrics = {
            "serving.tpot_ms.p90": Summary(2, tpot, 0.1, 0.01, tpot * 0.9, tpot * 1.1, "log-t"),
            "serving.steady_state.energy_per_output_token_j": Summary(
                2, jpt, 0.01, 0.01, jpt * 0.9, jpt * 1.1, "log-t"
            ),
        }
        return ConfigStats(h, {"config.backend": "vllm", "config.scenario.concurrency": c}, metrics, [])

    stats = [cfg("a" * 16, 1, 5.0, 0.9), cfg("b" * 16, 4, 8.0, 0.3), cfg("c" * 16, 16, 9.0, 0.5)]
    title, png = plot_pareto(stats, ["config.scenario.concurrency"])
    assert title == "Pareto: J / output token (steady state) vs p90 TPOT"
    assert png is not None
    assert len(png) > 1000
    table = serving_table_html(stats, ["config.scenario.concurrency"])
    assert "<td>0.3 [0.27–0.33]</td>" in table
    assert plot_pareto([], []) == ("Pareto", None)
