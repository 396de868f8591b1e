"""``llem results`` on hand-made rows (the result files' reading is tested in integration): ranking, JSON, drift."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llenergymeasure.cli.main import cli
from llenergymeasure.results.table import ResultsTable
from tests.unit.cli.test_render import ranked_rows

DRIFT = (
    "idle baseline drift on GPU-aaaa: 61.0 W -> 71.0 W over 6 units (range 61.0-71.0 W, spread 15%,"
    " beyond the baselines' uncertainty of 1.0 W); above-idle figures compare units at different idle states"
)


@pytest.fixture
def rows(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Six units on one GPU whose idle baseline rises by 2 W a unit, 61 to 71 W (median 66, spread 15 %)."""
    out = ranked_rows()
    for i, row in enumerate(out):
        row |= {
            "file": f"unit{i}_c1.json",
            "started_at": f"2026-11-23T06:{i:02d}:00+00:00",
            "energy.baseline_power_w": 61.0 + 2 * i,
            "energy.baseline_power_uncertainty_w": 0.5,
            "environment.gpu_uuid.0": "GPU-aaaa",
            "config.backend": "pytorch",
        }
    monkeypatch.setattr("llenergymeasure.cli.campaign_dir.read_results", lambda _d: ResultsTable(rows=out))
    return out


def test_results_ranks_by_total_and_names_the_drifting_gpu(rows: list[dict[str, object]], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Ranked by energy per output token (J), lower is better. 2 cycles: their range, not an interval."
    assert lines[-2:] == [DRIFT, f"6 results, 3 configs -> {tmp_path / 'results.parquet'}"]


def test_results_json_is_in_ranked_order_with_each_rank(rows: list[dict[str, object]], tmp_path: Path) -> None:
    items = json.loads(CliRunner().invoke(cli, ["results", str(tmp_path), "--json"]).output)["configs"]
    assert [(i["config_hash"][:1], i["rank"], i["ranking_metric"]) for i in items] == [
        ("c", 1, "energy.energy_per_output_token_j"),
        ("b", 2, "energy.energy_per_output_token_j"),
        ("a", 3, "energy.energy_per_output_token_j"),
    ]
    argv = ["results", str(tmp_path), "--json", "--rank-by", "above-idle"]
    items = json.loads(CliRunner().invoke(cli, argv).output)["configs"]
    assert [(i["config_hash"][:1], i["rank"], i["ranking_metric"]) for i in items] == [
        ("a", 1, "energy.adjusted_energy_per_output_token_j"),
        ("b", 2, "energy.adjusted_energy_per_output_token_j"),
        ("c", None, "energy.adjusted_energy_per_output_token_j"),
    ]
    assert items[0]["metrics"]["energy.adjusted_energy_per_output_token_j"]["mean"] == pytest.approx(0.305)
    # The ranked metric's centre, interval (at n = 2 too: only tables show the range) and method, and the
    # paired comparison with the config above: b's cycles are a's + 0.05 each, a constant difference.
    a, b, c = items
    assert (a["centre"], a["centre_kind"], a["ci_method"], a["n"], a["confidence"]) == (
        pytest.approx(0.305),
        "mean",
        "t",
        2,
        0.95,
    )
    assert (a["ci_low"], a["ci_high"]) == (pytest.approx(0.2415, abs=1e-4), pytest.approx(0.3685, abs=1e-4))
    assert a["vs_above"] is None
    assert (b["vs_above"]["method"], b["vs_above"]["pairs"], b["vs_above"]["estimate"]) == (
        "paired t",
        2,
        pytest.approx(0.05),
    )
    assert b["vs_above"]["distinguishable"] is True
    assert (c["rank"], c["vs_above"], c["unranked_reason"]) == (
        None,
        None,
        "energy above idle negative in some cycle (below the idle baseline): not ranked",
    )
    assert c["cycles"]["energy.adjusted_energy_per_output_token_j"] == {"1": 0.05, "2": -0.01}


def test_rank_by_rejects_other_names_with_the_valid_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["results", str(tmp_path), "--rank-by", "speed"])
    assert result.exit_code == 2
    assert "Invalid value for '--rank-by': 'speed' is not one of 'total', 'above-idle', 'throughput'." in result.output


def test_report_ranks_as_asked_and_notes_the_drift(rows: list[dict[str, object]], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(tmp_path), "--rank-by", "above-idle"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.html").read_text()
    assert f"<p class='note'>{html.escape(DRIFT)}</p>" in text
    head = (
        "<tr><th>rank</th><th class='t'>exp</th><th class='t'>config</th><th class='t'>x</th>"
        "<th>Energy per output token above idle (J)</th><th>low</th><th>high</th><th class='t'>spread</th>"
        "<th class='t'>method</th><th>n</th><th>CV</th><th>Energy per output token (J)</th>"
        "<th>Output throughput (tokens/s)</th></tr>"
    )
    assert head in text
    # Two cycles: their range, not the t interval 0.2415-0.3685, unless --intervals-at-2.
    row = (
        "<tr><td>1</td><td class='t'>-</td><td class='t'>aaaaaaaa</td><td class='t'>a</td><td>0.3050</td>"
        "<td>0.3000</td><td>0.3100</td><td class='t'>range</td><td class='t'>range of 2 cycles</td><td>2</td>"
    )
    assert row in text
    assert (
        "<p>n = 2: the range of the two cycles is shown instead of a 95% interval, which from 2 cycles"
        " spans +-12.7 standard errors; run more cycles (--intervals-at-2 shows it)</p>"
    ) in text
    result = CliRunner().invoke(cli, ["report", str(tmp_path), "--rank-by", "above-idle", "--intervals-at-2"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.html").read_text()
    row = (
        "<tr><td>1</td><td class='t'>-</td><td class='t'>aaaaaaaa</td><td class='t'>a</td><td>0.3050</td>"
        "<td>0.2415</td><td>0.3685</td><td class='t'>95% CI</td><td class='t'>mean, t</td><td>2</td>"
    )
    assert row in text
    assert "n = 2: the range" not in text
