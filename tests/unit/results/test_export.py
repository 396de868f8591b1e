"""``llem results --format csv|md|latex|json`` on a fixed campaign (tests/data/campaigns/two-backend-a).

The campaign is a real one: the tiny model on pytorch (batch sizes 1, 2) and vllm (max_num_seqs 2, 4)
on the CPU, 3 interleaved cycles, no energy (ranked by tokens/s). The expected files were read and
checked by hand; any change to a digit, column or order shows here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from llenergymeasure.cli.main import cli
from llenergymeasure.results.metrics import sig

DATA = Path(__file__).resolve().parents[2] / "data" / "campaigns"


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    """A copy: ``llem results`` writes results.parquet into the campaign folder."""
    return Path(shutil.copytree(DATA / "two-backend-a", tmp_path / "two-backend-a"))


@pytest.mark.parametrize("fmt", ["csv", "md", "latex"])
def test_exports_match_the_checked_files_exactly(campaign: Path, fmt: str) -> None:
    result = CliRunner().invoke(cli, ["results", str(campaign), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.stdout == (DATA / "expected" / f"two-backend-a.{fmt}").read_text()


def test_json_is_ranked_with_exp_ids_intervals_and_the_campaigns_facts(campaign: Path) -> None:
    result = CliRunner().invoke(cli, ["results", str(campaign), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [(c["rank"], c["exp_id"], c["backend"], c["fields"]) for c in doc["configs"]] == [
        (1, "exp002", "pytorch", {"backend": "pytorch", "pytorch.batch_size": "2", "vllm.max_num_seqs": "-"}),
        (2, "exp004", "vllm", {"backend": "vllm", "pytorch.batch_size": "-", "vllm.max_num_seqs": "4"}),
        (3, "exp001", "pytorch", {"backend": "pytorch", "pytorch.batch_size": "1", "vllm.max_num_seqs": "-"}),
        (4, "exp003", "vllm", {"backend": "vllm", "pytorch.batch_size": "-", "vllm.max_num_seqs": "2"}),
    ]
    first = doc["configs"][0]
    assert (first["ranking_metric"], first["ci_method"], first["n"], first["centre_kind"]) == (
        "metrics.output_tokens_per_s",
        "log-t",
        3,
        "geometric_mean",
    )
    assert first["ci_low"] < first["centre"] < first["ci_high"]
    assert [sig(first[k]) for k in ("centre", "ci_low", "ci_high")] == ["1506", "1409", "1610"]
    assert doc["ranking"]["metric"] == "metrics.output_tokens_per_s"
    assert doc["ranking"]["lower_better"] is False
    meta = doc["campaign"]
    assert (meta["name"], meta["design_hash"], meta["campaign_file"]) == (
        "two-backend",
        "437d8d5867be8546",
        "tests/data/campaigns/two-backend.yaml",
    )
    assert meta["cycles"] == {"n_cycles": 3, "cycle_order": "interleaved"}
    # The campaign's span as `llem campaign status` shows it: its units' first start and last end.
    assert (meta["started"], meta["ended"]) == ("2026-12-01T00:47:06+00:00", "2026-12-01T00:49:30+00:00")


def test_json_flag_is_the_json_format(campaign: Path) -> None:
    a = CliRunner().invoke(cli, ["results", str(campaign), "--json"]).stdout
    b = CliRunner().invoke(cli, ["results", str(campaign), "--format", "json"]).stdout
    assert a == b


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (464.0, "464.0"),
        (69.4321, "69.43"),
        (613.27, "613.3"),
        (0.001174, "0.001174"),
        (3.417e8, "3.417e+08"),
        (999.96, "1000"),
        (0.0, "0.000"),
        (-2.5, "-2.500"),
        (None, "-"),
    ],
)
def test_every_number_has_four_significant_figures(value: float | None, text: str) -> None:
    assert sig(value) == text


@pytest.fixture
def two_campaigns(tmp_path: Path) -> list[Path]:
    """The fixed campaign and a rerun of it on the same machine while other jobs loaded its two cores."""
    return [Path(shutil.copytree(DATA / name, tmp_path / name)) for name in ("two-backend-a", "two-backend-b")]


def test_results_of_two_campaigns_print_matched_rows_and_their_ratios(two_campaigns: list[Path]) -> None:
    result = CliRunner().invoke(cli, ["results", *map(str, two_campaigns), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (DATA / "expected" / "compare-a-b.md").read_text()
    table = CliRunner().invoke(cli, ["results", *map(str, two_campaigns)], env={"COLUMNS": "300"}).stdout
    lines = table.splitlines()
    assert lines[:3] == [
        "Started: two-backend-a: 2026-12-01 00:47:06 UTC | two-backend-b: 2026-12-01 00:50:06 UTC",
        "Ended: two-backend-a: 2026-12-01 00:49:30 UTC | two-backend-b: 2026-12-01 00:52:50 UTC",
        "same environment in every campaign (GPU, CPU, engine versions, images, llem)",
    ]
    row = next(line for line in lines if "3fffaef5" in line and "tok/s" in line)
    assert [c.strip() for c in row.split("│")[1:-1]] == [
        "3fffaef5 (backend=vllm, max_num_seqs=4)",
        "tok/s",
        "1335",
        "748.7",
        "0.5610x",
        "0.3651–0.8620",
        "yes",
    ]


def test_match_by_fields_and_its_one_line_error(two_campaigns: list[Path]) -> None:
    argv = ["results", *map(str, two_campaigns), "--format", "csv"]
    fields = CliRunner().invoke(cli, [*argv, "--match", "backend,pytorch.batch_size,vllm.max_num_seqs"])
    assert fields.exit_code == 0, fields.output
    assert fields.stdout.splitlines()[1] == (
        '"backend=pytorch, pytorch.batch_size=1",tok/s,898.6,122.0,0.1357x,0.001914–9.623,no'
    )
    clash = CliRunner().invoke(cli, [*argv, "--match", "backend"])
    assert clash.exit_code == 2
    assert clash.output.splitlines()[-1] == (
        "Error: campaign 'two-backend-a': configs a85d1ae6 and c3b5af8e share the --match key backend=pytorch;"
        " add fields to --match, e.g. --match backend,pytorch.batch_size"
    )


def test_report_of_two_campaigns_shows_their_environments_and_the_same_configs_side_by_side(
    two_campaigns: list[Path],
) -> None:
    result = CliRunner().invoke(cli, ["report", *map(str, two_campaigns)])
    assert result.exit_code == 0, result.output
    page = Path(result.stdout.strip()).read_text()
    assert Path(result.stdout.strip()) == two_campaigns[0] / "compare-with-two-backend-b.html"
    assert "<h1>two-backend-a vs two-backend-b</h1>" in page
    assert "<tr><th class='t'>llem</th><td class='t'>0.1.0</td><td class='t'>0.1.0</td></tr>" in page
    assert "<tr class=differs><th class='t'>Started</th>" in page
    assert "<tr><th class='t'>Design hash</th><td class='t'>437d8d5867be8546</td>" in page
    figures = sorted(p.name for p in (two_campaigns[0] / "compare-with-two-backend-b-figures").iterdir())
    assert figures == [
        f"compare-metrics-{m}.{ext}"
        for m in ("latency_s-mean", "output_tokens_per_s", "ttft_s-mean")
        for ext in ("pdf", "png", "svg")
    ]
