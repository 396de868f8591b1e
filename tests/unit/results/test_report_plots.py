import pytest

from llenergymeasure.results.report import (
    bars_caption,
    clipped,
    dimension_series,
    error_bars,
    format_summary,
    header,
    label,
    view_limits,
)
from llenergymeasure.results.stats import METRICS, Summary, by_config, summarize


def test_error_bars_follow_the_interval_not_the_mean() -> None:
    log_t = Summary(2, 369.0, 347.9, 0.94, 0.5, 7586092.0, "log-t")
    plain = Summary(3, 2.0, 0.1, 0.05, 1.75, 2.25, "t")
    # 99 cycles at 1.0 and one at 1000: the interval for the geometric mean lies below the mean 10.99.
    skewed = Summary(100, 10.99, 99.9, 9.09, 0.94, 1.23, "log-t")
    single = Summary(1, 4.0, None, None, None, None)
    below, above = error_bars([log_t, plain, skewed, single])
    assert below == [368.5, 0.25, pytest.approx(10.05), 0.0]
    assert above == [7585723.0, 0.25, 0.0, 0.0]


def test_two_cycles_draw_their_range_not_a_log_t_interval_to_ten_to_the_seven() -> None:
    two = summarize([123.0, 615.0], positive=True)  # log-t interval 0.00997 .. 7.59e6
    three = summarize([1.0, 2.0, 3.0])  # t interval 2 +- 2.484
    one = summarize([4.0])
    assert two is not None
    assert three is not None
    assert one is not None
    below, above = error_bars([two, three, one])
    centre = (123.0 * 615.0) ** 0.5  # 275.04
    assert below == [pytest.approx(centre - 123.0), pytest.approx(2.4841377), 0.0]
    assert above == [pytest.approx(615.0 - centre), pytest.approx(2.4841377), 0.0]
    assert error_bars([two], intervals_at_2=True) == [
        [pytest.approx(centre - 0.0099715, rel=1e-6)],
        [pytest.approx(7586092.0 - centre, rel=1e-4)],
    ]
    assert bars_caption([two]) == "centre and range of the 2 cycles"
    assert bars_caption([two, three]) == "centre and 95% CI; 2 cycles: their range"
    assert bars_caption([two, three], intervals_at_2=True) == "centre and 95% CI"
    assert format_summary(two) == "275 (range 123–615)"
    assert format_summary(two, intervals_at_2=True) == "275 [0.00997–7.59e+06]"
    assert format_summary(three) == "2 [-0.484–4.48]"
    assert format_summary(one) == "4 (one cycle)"
    assert format_summary(None) == "–"


def test_the_view_follows_the_points_and_says_when_bars_are_clipped() -> None:
    assert view_limits([1.0, 2.0, 5.0]) == (0.0, pytest.approx(7.0))
    assert view_limits([0.0, 0.0]) == (0.0, 1.0)
    assert view_limits([-1.0, 3.0]) == (pytest.approx(-1.8), pytest.approx(3.8))
    assert view_limits([-2.0, -2.0]) == (pytest.approx(-2.4), pytest.approx(0.4))
    # n = 3 of 0.05, 0.1, 3.12: the log-t interval reaches 37 x the centre, beyond the view 0 .. 4.37.
    wide = summarize([0.05, 0.1, 3.12], positive=True)
    assert wide is not None
    view = view_limits([wide.value, 0.05, 0.1, 3.12])
    assert view == (0.0, pytest.approx(4.368))
    assert clipped([wide.value], error_bars([wide]), view) is True
    narrow = summarize([1.0, 1.1, 1.2], positive=True)
    assert narrow is not None
    assert clipped([narrow.value], error_bars([narrow]), view_limits([narrow.value, 1.0, 1.1, 1.2])) is False


# --- header and by-dimension series (pure) ---------------------------------------------------------

TPS = "metrics.output_tokens_per_s"


def sweep_rows() -> list[dict[str, object]]:
    """A 2 x 2 sweep (batch size x precision), 2 cycles each, tokens/s = batch x 10 (+1 in cycle 2)."""
    rows: list[dict[str, object]] = []
    for precision in ("fp16", "fp32"):
        for batch in (8, 2):  # listed out of order: the plot orders numerically
            for cycle in (1, 2):
                rows.append(
                    {
                        "config_hash": f"{precision}-{batch}",
                        "cycle": cycle,
                        "config.backend": "pytorch",
                        "config.model": "llem/tiny-llama",
                        "config.precision": precision,
                        "config.pytorch.batch_size": batch,
                        TPS: batch * 10.0 + (cycle - 1),
                        "environment.packages.torch": "2.13.0+cpu",
                        "environment.packages.transformers": "5.23.0",
                        "environment.cpu": "AMD EPYC",
                        "environment.launch": "warm-start",
                        "environment.llem_version": "0.1.0",
                        "started_at": "2026-11-23T06:00:00+00:00",
                        "gpu": None,
                    }
                )
    return rows


def test_second_dimension_becomes_series() -> None:
    rows = sweep_rows()
    dims = ["config.precision", "config.pytorch.batch_size"]
    stats = by_config(rows, dims)
    series = dimension_series(stats, rows, "config.pytorch.batch_size", ["config.precision"], TPS)
    assert list(series) == ["precision=fp16", "precision=fp32"]
    fp16 = series["precision=fp16"]
    assert [p.x for p in fp16] == [2, 8]
    assert [p.cycles for p in fp16] == [[20.0, 21.0], [80.0, 81.0]]
    assert [p.summary.mean for p in fp16] == [20.5, 80.5]


def test_header_says_where_the_numbers_come_from() -> None:
    manifest = {"executor": "local"}
    assert header(sweep_rows(), manifest) == [
        ("Model(s)", "llem/tiny-llama"),
        ("Backend(s)", "pytorch (torch 2.13.0+cpu, transformers 5.23.0)"),
        ("Hardware", "CPU only: AMD EPYC (no GPU)"),
        ("Executor", "local; warm-start launch"),
        ("Measured", "2026-11-23"),
        ("llem", "0.1.0"),
    ]
    gpu_rows = [r | {"gpu": "NVIDIA H100 80GB HBM3"} for r in sweep_rows()]
    assert dict(header(gpu_rows, None))["Hardware"] == "GPU: NVIDIA H100 80GB HBM3"
    assert dict(header(gpu_rows, None))["Executor"] == "unknown (no manifest.json); warm-start launch"


def test_every_ranked_metric_has_a_human_name_with_unit() -> None:
    for metric in METRICS:
        assert label(metric) != metric
        assert label(metric).endswith(("(J)", "(s)", "(ms)", "(tokens/s)", "(requests/s)", "(gCO2e)"))


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
