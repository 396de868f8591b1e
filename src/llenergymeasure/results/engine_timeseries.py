"""The engine telemetry timeseries beside each result, as parquet: ``{stem}.engine.parquet`` beside ``{stem}.parquet``.

Times are seconds from the energy window's start, like the power timeseries (``results.timeseries``),
so the two share one axis; a metric the engine did not expose is null.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from llenergymeasure.atomic import write_atomic

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
    cols = {name: [getattr(s, name) for s in samples] for name in SCHEMA.names}
    cols["t_s"] = [s.t_s - t0_s for s in samples]
    table = pa.table(cols, schema=SCHEMA)
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def read_engine_timeseries(path: Path) -> pa.Table:
    """Read an engine timeseries file back."""
    return pq.read_table(path)
