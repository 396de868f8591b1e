"""Filing a window's engine telemetry: the scraper chosen per backend, the parquet and the summaries."""

from __future__ import annotations

from pathlib import Path

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.experiment.telemetry import offline_telemetry, server_scraper, telemetry_record
from llenergymeasure.results.engine_timeseries import read_engine_timeseries
from llenergymeasure.serving.scraper import MetricsScraper
from llenergymeasure.serving.telemetry import VLLM_METRICS, TelemetrySample


def test_the_scraper_per_backend() -> None:
    vllm = server_scraper(ExperimentConfig(model="m", backend="vllm"), "http://127.0.0.1:8000")
    assert isinstance(vllm, MetricsScraper)
    assert (vllm.source, vllm.interval_s, vllm.table) == ("http://127.0.0.1:8000/metrics", 1.0, VLLM_METRICS)
    assert vllm._thread is None  # built, not started
    off = ExperimentConfig(model="m", backend="vllm", telemetry={"enabled": False})
    assert server_scraper(off, "http://x") is None
    assert server_scraper(ExperimentConfig(model="m", backend="trtllm"), "http://x") == (
        "no engine telemetry: the trtllm server as llem starts it exposes no Prometheus metrics"
    )


def test_a_record_writes_the_samples_from_the_window_start_and_summarises_both_windows(tmp_path: Path) -> None:
    scraper = MetricsScraper(lambda: "", VLLM_METRICS, interval_s=1.0)
    samples = [TelemetrySample(t_s=100.0 + k, running=float(k), generation_tokens_total=10.0 * k) for k in range(5)]
    record = telemetry_record(tmp_path, "u", scraper, samples, (100.5, 103.5), (101.0, 102.0))
    assert record.timeseries == "u.engine.parquet"
    assert read_engine_timeseries(tmp_path / "u.engine.parquet").column("t_s").to_pylist() == [
        -0.5,
        0.5,
        1.5,
        2.5,
        3.5,
    ]
    assert record.whole_run is not None
    assert (record.whole_run.n_samples, record.whole_run.mean_running, record.whole_run.generation_tokens) == (
        3,
        2.0,
        40.0,
    )
    assert record.steady_state is not None
    assert (record.steady_state.n_samples, record.steady_state.generation_tokens) == (2, 10.0)
    assert (record.source, record.note) == ("in-process", None)


def test_a_record_without_samples_says_so(tmp_path: Path) -> None:
    scraper = MetricsScraper("http://127.0.0.1:1/metrics", VLLM_METRICS)
    scraper.n_failed, scraper.last_error = 3, "URLError: refused"
    record = telemetry_record(tmp_path, "u", scraper, [], (0.0, 1.0), None)
    assert (record.timeseries, record.whole_run, record.n_failed_scrapes) == (None, None, 3)
    assert record.note == (
        "no engine telemetry samples; 3 of 3 metrics scrapes of http://127.0.0.1:1/metrics failed "
        "(last: URLError: refused)"
    )
    assert not (tmp_path / "u.engine.parquet").exists()


def test_offline_only_for_runners_that_read_their_engine() -> None:
    class NoTelemetry:
        pass

    assert offline_telemetry(Path("."), "u", NoTelemetry(), None) is None  # type: ignore[arg-type]
