"""All result files of a campaign as one flat table (``results.parquet``), loadable anywhere.

One row per experiment+cycle; nested config/metrics/energy become dotted columns
(``config.pytorch.batch_size``, ``energy.energy_per_output_token_j``); per-GPU figures keyed by
CUDA ordinal (``energy.baseline_per_gpu_power_w.0``) come with that ordinal's GPU UUID
(``environment.gpu_uuid.0``). Damaged files are reported and skipped, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from llenergymeasure.atomic import write_atomic
from llenergymeasure.config.dotted import flatten
from llenergymeasure.results.reader import InvalidResultError, read_result

RESULT_FILE = re.compile(r".+_c\d+\.json$")
TABLE_NAME = "results.parquet"
# What of a result's environment becomes columns: what a report header and a reader need to say
# where the numbers came from (engine versions, device, launch), not the whole host description.
ENVIRONMENT_COLUMNS = ("llem_version", "device", "cpu", "packages", "container_image", "container_image_id", "launch")


@dataclass
class ResultsTable:
    """Rows of valid results plus a note for every file that was skipped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table (columns are the union over rows; missing values are null).

        ``from_pylist`` alone takes its columns from the first row and would drop the rest (another
        backend's section, a GPU ordinal the first unit did not have), so every row gets every key.
        """
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        return pa.Table.from_pylist([{k: row.get(k) for k in keys} for row in self.rows])


def collect(campaign_dir: Path) -> ResultsTable:
    """Read every ``*_c{cycle}.json`` result in ``campaign_dir``."""
    table = ResultsTable()
    for path in sorted(Path(campaign_dir).glob("*.json")):
        if not RESULT_FILE.match(path.name):
            continue
        try:
            result = read_result(path)
        except InvalidResultError as exc:
            table.problems.append(str(exc))
            continue
        row: dict[str, Any] = {"file": path.name, "config_hash": result.config_hash, "cycle": result.cycle}
        row["started_at"] = result.started_at
        row["finished_at"] = result.finished_at
        row.update(flatten(result.config, "config.", join_lists=True))
        # One row per unit: the per-request samples stay in the result file (their distributions are columns).
        row.update(flatten(result.metrics.model_dump(mode="json", exclude={"requests"}), "metrics.", join_lists=True))
        energy = result.energy.model_dump(mode="json")
        energy.pop("per_gpu_energy_j")
        energy.pop("per_gpu_energy_uncertainty_j")
        row.update(flatten(energy, "energy.", join_lists=True))
        row.update(flatten(result.cpu_energy.model_dump(mode="json"), "cpu_energy.", join_lists=True))
        if result.serving is not None:
            # The saturation curve's phases stay in the result file too (the report reads them there).
            exclude: dict[str, Any] = {"failures": True, "requests": True, "saturation": {"points"}}
            serving = result.serving.model_dump(mode="json", exclude=exclude)
            row.update(flatten(serving, "serving.", join_lists=True))
        if result.workload is not None:
            row.update(flatten(result.workload.model_dump(mode="json"), "workload.", join_lists=True))
        if result.engine_telemetry is not None:
            row.update(flatten(result.engine_telemetry.model_dump(mode="json"), "engine_telemetry.", join_lists=True))
        gpus = result.environment.get("gpus", [])
        row["gpu"] = ",".join(g.get("name", "?") for g in gpus) or None
        # CUDA ordinal -> UUID, the key that matches per-GPU figures (baseline drift) across units.
        row.update({f"environment.gpu_uuid.{g.get('index')}": g.get("uuid") for g in gpus})
        env = {k: result.environment.get(k) for k in ENVIRONMENT_COLUMNS}
        row.update(flatten(env, "environment.", join_lists=True))
        table.rows.append(row)
    return table


def write_table(campaign_dir: Path, table: ResultsTable) -> Path:
    """Write ``results.parquet`` atomically into the campaign directory."""
    out = Path(campaign_dir) / TABLE_NAME
    arrow = table.to_arrow()
    write_atomic(out, lambda tmp: pq.write_table(arrow, tmp))
    return out
