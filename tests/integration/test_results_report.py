"""Results table, statistics and report on real result files from the real tiny model."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.config.identity import config_hash
from llenergymeasure.experiment.runner import run_experiment
from llenergymeasure.results.naming import result_stem
from tests.fakes.nvml import FakeNvml
from tests.integration.conftest import FAST, chromium, headless, llem

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# One worker under pytest-xdist: the tests read one campaign, made once per worker that runs them.
pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 configs x 3 cycles measured with a fake GPU, plus one corrupt and one partial result file."""
    d = tmp_path_factory.mktemp("campaign")
    for batch in (1, 2):
        data = yaml.safe_load(FAST) | {
            "pytorch": {"batch_size": batch},
            "n_prompts": 4,
            "energy": {"sample_interval_ms": 10},
        }
        cfg = ExperimentConfig.model_validate(data)
        h = config_hash(cfg)
        for cycle in (1, 2, 3):
            fake = FakeNvml(base_w=(100.0 + 50 * batch,))
            run_experiment(cfg, d, result_stem(cfg, h, cycle), h, cycle, nvml_loader=lambda f=fake: f)  # type: ignore[misc]
    (d / "broken_pytorch_fp32_deadbeef_c1.json").write_text('{"schema_version": "1", "metr')
    (d / "partial_pytorch_fp32_deadbeef_c2.json").write_text(json.dumps({"schema_version": "1", "cycle": 2}))
    return d


def test_results_table_stats_and_ranking(campaign_dir: Path) -> None:
    proc = llem("results", str(campaign_dir), cwd=campaign_dir)
    assert "skipped broken_pytorch_fp32_deadbeef_c1.json: unreadable or not JSON" in proc.stderr
    assert "skipped partial_pytorch_fp32_deadbeef_c2.json: invalid at" in proc.stderr
    assert re.search(r"6 results, 2 configs -> .*results.parquet", proc.stdout)
    assert proc.stdout.splitlines()[0].startswith("Ranked by energy per output token (J), lower is better.")
    table = pq.read_table(campaign_dir / "results.parquet")
    assert table.num_rows == 6
    assert {
        "config.pytorch.batch_size",
        "energy.energy_per_output_token_j",
        "metrics.output_tokens_per_s",
        "cycle",
    } <= set(table.column_names)

    stats = json.loads(llem("results", str(campaign_dir), "--json", cwd=campaign_dir).stdout)["configs"]
    assert len(stats) == 2
    for s in stats:
        m = s["metrics"]["energy.energy_per_output_token_j"]
        assert m["n"] == 3
        assert m["ci_method"] == "log-t"
        assert 0 < m["ci_low"] < m["mean"] < m["ci_high"]


def test_table_loads_in_pandas_and_polars(campaign_dir: Path) -> None:
    import pandas as pd
    import polars as pl

    llem("results", str(campaign_dir), cwd=campaign_dir)
    df = pd.read_parquet(campaign_dir / "results.parquet")
    assert len(df) == 6
    assert df["energy.energy_per_output_token_j"].notna().all()
    assert pl.read_parquet(campaign_dir / "results.parquet").height == 6


def test_report_is_self_contained_and_shows_its_plots(campaign_dir: Path, tmp_path: Path) -> None:
    out = Path(llem("report", str(campaign_dir), cwd=campaign_dir).stdout.strip())
    text = out.read_text()
    # energy vs throughput, J/token and tokens/s by batch size, power
    alts = re.findall(r"<img class='plot' alt='([^']*)'", text)
    assert alts[:3] == [
        "Energy per output token vs output throughput",
        "Energy per output token by pytorch.batch_size",
        "Output throughput by pytorch.batch_size",
    ]
    assert re.fullmatch(r"Power draw of llem--tiny-llama_pytorch_fp32_[0-9a-f]{8}_c1\.json", alts[3])
    assert len(alts) == 4
    assert "<dt>Model(s)</dt><dd>llem/tiny-llama</dd>" in text
    assert re.search(r"<dt>Engines</dt><dd>pytorch \(torch [^,]+, transformers [^)]+\)</dd>", text)
    assert "<dt>Hardware</dt><dd>GPU: Fake H100; CPU: " in text
    assert "<dt>llem</dt><dd>" in text
    assert "<th>Energy per output token (J)</th>" in text
    assert "http" not in text.replace("http-equiv", "")  # nothing loaded from elsewhere
    browser = chromium()
    probe = tmp_path / "probe.html"
    probe.write_text(
        text.replace(
            "</body>",
            "<script>window.addEventListener('load',()=>{document.title='loaded:'+"
            "[...document.images].filter(i=>i.complete&&i.naturalWidth>100).length})</script></body>",
        )
    )
    dom = headless(browser, tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    assert "<title>loaded:4</title>" in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "report.png"
    headless(browser, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,2000", out.as_uri())
    assert shot.stat().st_size > 20_000  # a rendered page with plots, not a blank one


def test_cpu_only_campaign_report_says_energy_unavailable(tmp_path: Path) -> None:
    cfg = ExperimentConfig.model_validate(yaml.safe_load(FAST))
    h = config_hash(cfg)
    from llenergymeasure.errors import EnergyUnavailableError

    def no_nvml() -> object:
        raise EnergyUnavailableError("no NVML (test)")

    for cycle in (1, 2):
        run_experiment(cfg, tmp_path, result_stem(cfg, h, cycle), h, cycle, nvml_loader=no_nvml)  # type: ignore[arg-type]
    out = Path(llem("report", str(tmp_path), cwd=tmp_path).stdout.strip())
    text = out.read_text()
    assert text.count("No energy data") == 1
    assert text.count("energy unavailable") == 0
    assert (
        "No energy data: these runs were measured without NVML (no NVIDIA GPU), so configs are ranked by "
        "output throughput (tokens/s); throughput and latency are shown below." in text
    )
    assert "<dt>Hardware</dt><dd>no GPU; CPU: " in text
    stdout = llem("results", str(tmp_path), cwd=tmp_path).stdout
    assert stdout.splitlines()[0].startswith("Ranked by output throughput (tokens/s), higher is better.")
    assert (
        "energy unavailable in every result (no NVML), so ranked by output throughput (tokens/s) instead of"
        " energy per output token (J)" in stdout
    )
    assert "geometric mean" not in stdout.split("n = 2")[0].split("CV")[1]  # 2 cycles: ranges, not intervals
    # Two cycles: their range stands in for the interval, and a note says why; asked for, the log-t interval.
    assert "range of 2 cycles" in stdout
    assert "n = 2: the range of the two cycles is shown instead of a 95% interval" in stdout
    assert "log-t" in llem("results", str(tmp_path), "--intervals-at-2", cwd=tmp_path).stdout
