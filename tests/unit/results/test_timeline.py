"""The report's timeline: power and the engine's running requests of one unit, on one time axis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from llenergymeasure.results.engine_timeseries import read_engine_timeseries, write_engine_timeseries
from llenergymeasure.results.plots import _timeline, timeline_figure
from llenergymeasure.serving.telemetry import TelemetrySample


def _unit(tmp_path: Path, stem: str, running: list[float]) -> dict[str, Any]:
    pq.write_table(
        pa.table({"t_s": [0.0, 0.5, 0.0, 0.5], "gpu": [0, 0, 1, 1], "power_w": [100.0, 150.0, 90.0, 95.0]}),
        tmp_path / f"{stem}.parquet",
    )
    samples = [TelemetrySample(t_s=10.0 + 0.5 * k, running=r) for k, r in enumerate(running)]
    write_engine_timeseries(tmp_path / f"{stem}.engine.parquet", samples, 10.0)
    return {
        "file": f"{stem}.json",
        "config_hash": f"{stem}abcdef",
        "energy.timeseries_file": f"{stem}.parquet",
        "engine_telemetry.timeseries": f"{stem}.engine.parquet",
        "energy.duration_s": 0.75,
    }


def test_engine_timeseries_round_trips_from_the_window_start(tmp_path: Path) -> None:
    samples = [TelemetrySample(t_s=10.25, running=2.0, kv_cache_usage=0.5), TelemetrySample(t_s=11.25)]
    write_engine_timeseries(tmp_path / "u.engine.parquet", samples, 10.0)
    cols = read_engine_timeseries(tmp_path / "u.engine.parquet").to_pydict()
    assert (cols["t_s"], cols["running"], cols["kv_cache_usage"], cols["waiting"]) == (
        [0.25, 1.25],
        [2.0, None],
        [0.5, None],
        [None, None],
    )


def test_the_first_unit_with_telemetry_by_default_and_the_chosen_one_by_id(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"file": "none.json"},
        _unit(tmp_path, "a", [1.0, 4.0]),
        _unit(tmp_path, "b", [2.0, 8.0, 0.0]),
    ]
    first = _timeline(rows, tmp_path, None)
    assert first is not None
    assert first.name == "timeline-a"
    assert first.title == "Power and running requests of a.json"
    power_ax, running_ax = first.fig.axes
    # Power summed over the GPUs at each time; running requests from the window start.
    assert [list(line.get_ydata()) for line in power_ax.get_lines()] == [[190.0, 245.0]]
    assert [list(line.get_xdata()) for line in running_ax.get_lines()] == [[0.0, 0.5]]
    assert [list(line.get_ydata()) for line in running_ax.get_lines()] == [[1.0, 4.0]]
    assert (power_ax.get_ylabel(), running_ax.get_ylabel()) == ("Power (W)", "Running requests")
    assert first.caption == (
        "power summed over GPUs as sampled by NVML (left); requests in the engine's running batch as its metrics "
        "reported them (right), on the same clock; shaded: the energy window."
    )
    assert [p.get_x() for p in power_ax.patches] == [0.0]
    assert [p.get_width() for p in power_ax.patches] == [0.75]
    for chosen in ("b", "b.json", "babc"):
        fig = _timeline(rows, tmp_path, chosen)
        assert fig is not None
        assert fig.name == "timeline-b", chosen
    assert _timeline(rows, tmp_path, "nope") is None
    assert _timeline(rows, tmp_path / "elsewhere", None) is None


def test_a_timeline_without_power_still_draws_the_requests() -> None:
    fig = timeline_figure({}, {"t_s": [0.0, 1.0], "running": [3.0, None]}, "run.json")
    assert [list(line.get_ydata()) for line in fig.fig.axes[1].get_lines()] == [[3.0]]
