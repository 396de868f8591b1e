"""Engine telemetry around a measured window: start the scraper, then file its samples and summaries.

The scraper (``serving.scraper``) starts right before the window opens and stops right after it
closes; the samples go beside the power timeseries (``{stem}.engine.parquet``, same time origin)
and are summarised over the whole window and the steady state (``serving.telemetry.summarise``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from llenergymeasure.backends.registry import metrics_path
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.experiment.measure import WindowMeasurement
from llenergymeasure.results.schema import EngineTelemetryRecord, Serving
from llenergymeasure.serving.scraper import MetricsScraper
from llenergymeasure.serving.telemetry import METRIC_TABLES, TelemetrySample, summarise


def server_scraper(
    config: ExperimentConfig, base_url: str, clock: Callable[[], float] = time.monotonic
) -> MetricsScraper | str | None:
    """The (unstarted) scraper of the server's metrics endpoint; a note where the backend has none; None when off."""
    if not config.telemetry.enabled:
        return None
    path, table = metrics_path(config.backend), METRIC_TABLES.get(config.backend)
    if path is None or table is None:
        return f"no engine telemetry: the {config.backend} server as llem starts it exposes no Prometheus metrics"
    return MetricsScraper(base_url + path, table, config.telemetry.interval_s, clock)


def telemetry_record(
    out_dir: Path,
    stem: str,
    scraper: MetricsScraper,
    samples: list[TelemetrySample],
    window_s: tuple[float, float],
    steady_s: tuple[float, float] | None,
) -> EngineTelemetryRecord:
    """Write the samples beside the result and summarise them over the window (and the steady state).

    ``window_s`` and ``steady_s``: (start, end) on the samples' clock; times in the file run from
    ``window_s[0]``, like the power timeseries.
    """
    from llenergymeasure.results.engine_timeseries import engine_timeseries_name, write_engine_timeseries

    name = None
    notes = [n for n in (scraper.note(),) if n]
    if samples:
        name = engine_timeseries_name(stem)
        write_engine_timeseries(out_dir / name, samples, window_s[0])
    else:
        notes.insert(0, "no engine telemetry samples")
    return EngineTelemetryRecord(
        source=scraper.source,
        interval_s=scraper.interval_s,
        timeseries=name,
        n_failed_scrapes=scraper.n_failed,
        whole_run=summarise(samples, *window_s) if samples else None,
        steady_state=summarise(samples, *steady_s) if samples and steady_s is not None else None,
        note="; ".join(notes) or None,
    )


def server_telemetry(
    out_dir: Path,
    stem: str,
    config: ExperimentConfig,
    scraper: MetricsScraper | str | None,
    samples: list[TelemetrySample],
    window: WindowMeasurement,
    serving: Serving,
) -> EngineTelemetryRecord | None:
    """A server run's telemetry (``server_scraper``'s outcome): over the energy window and the steady state."""
    if scraper is None:
        return None
    if isinstance(scraper, str):
        return EngineTelemetryRecord(source=config.backend, interval_s=config.telemetry.interval_s, note=scraper)
    ss = serving.steady_state
    steady = None
    if ss is not None and ss.start_monotonic_s is not None and ss.end_monotonic_s is not None:
        steady = (ss.start_monotonic_s, ss.end_monotonic_s)
    whole = (window.start_s, window.start_s + window.duration_s)
    return telemetry_record(out_dir, stem, scraper, samples, whole, steady)


def offline_telemetry(
    out_dir: Path, stem: str, runner: object, window: WindowMeasurement
) -> EngineTelemetryRecord | None:
    """An offline run's telemetry, where the runner reads its engine's metrics in-process (vLLM); None elsewhere.

    Stops the runner's scraper: call it after the last window, before ``teardown``.
    """
    scraper = getattr(runner, "telemetry", None)  # only runners whose engine records metrics have one
    if not isinstance(scraper, MetricsScraper):
        return None
    samples = scraper.stop()
    return telemetry_record(out_dir, stem, scraper, samples, (window.start_s, window.start_s + window.duration_s), None)
