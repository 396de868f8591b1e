"""The power/telemetry timeseries beside each result, as parquet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from llenergymeasure.atomic import write_atomic
from llenergymeasure.energy.sampler import Sample

SCHEMA = pa.schema(
    [
        ("t_s", pa.float64()),
        ("gpu", pa.int32()),
        ("power_w", pa.float64()),
        ("energy_mj", pa.uint64()),
        ("temperature_c", pa.float64()),
        ("utilization_pct", pa.float64()),
        ("memory_used_bytes", pa.int64()),
        ("throttle_reasons", pa.uint64()),
        ("sm_clock_mhz", pa.int32()),
        ("mem_clock_mhz", pa.int32()),
    ]
)


def write_timeseries(path: Path, samples: list[Sample], t0_s: float) -> None:
    """Write samples with time relative to the window start, atomically.

    Samples past the window's end (``t_s`` > the result's ``energy.duration_s``) are the tail the
    meter reads after the window: a 1 s-averaged power reading still holds the window's last second.
    """
    write_samples(path, samples, t0_s, SCHEMA)


def write_samples(path: Path, samples: Sequence[Any], t0_s: float, schema: pa.Schema) -> None:
    """Samples (a ``t_s`` and one attribute per other column) as parquet, time from ``t0_s``, atomically."""
    cols = {name: [getattr(s, name) for s in samples] for name in schema.names}
    cols["t_s"] = [s.t_s - t0_s for s in samples]
    table = pa.table(cols, schema=schema)
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def read_timeseries(path: Path) -> pa.Table:
    """Read a timeseries file back (power, or the engine's telemetry)."""
    return pq.read_table(path)
