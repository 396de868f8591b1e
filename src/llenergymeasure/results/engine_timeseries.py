"""The engine telemetry timeseries beside each result, as parquet: ``{stem}.engine.parquet`` beside ``{stem}.parquet``.

Times are seconds from the energy window's start, like the power timeseries (``results.timeseries``),
so the two share one axis; a metric the engine did not expose is null.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from llenergymeasure.results.timeseries import read_timeseries, write_samples

if TYPE_CHECKING:
    from llenergymeasure.serving.telemetry import TelemetrySample

SCHEMA = pa.schema(
    [
        ("t_s", pa.float64()),
        ("running", pa.float64()),
        ("waiting", pa.float64()),
        ("kv_cache_usage", pa.float64()),
        ("preemptions_total", pa.float64()),
        ("prefix_cache_hits_total", pa.float64()),
        ("prefix_cache_queries_total", pa.float64()),
        ("prompt_tokens_total", pa.float64()),
        ("generation_tokens_total", pa.float64()),
    ]
)


def engine_timeseries_name(stem: str) -> str:
    """The file name of a unit's engine timeseries, relative to the result folder."""
    return f"{stem}.engine.parquet"


def write_engine_timeseries(path: Path, samples: list[TelemetrySample], t0_s: float) -> None:
    """Write the samples with time relative to the window start ``t0_s``, atomically."""
    write_samples(path, samples, t0_s, SCHEMA)


read_engine_timeseries = read_timeseries  # the same parquet reader as the power timeseries
