"""Tables never cut a name or an error: cells wrap in a narrow terminal, and piped output keeps rows whole."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from llenergymeasure.campaign.manifest import CampaignManifest, ManifestEntry
from llenergymeasure.cli.render import PIPE_WIDTH, manifest_table

ERROR = "image llenergymeasure/pytorch:0.9 writes result schema '0' but this llem reads '1'; rebuild the image " * 2


def manifest() -> CampaignManifest:
    entry = ManifestEntry(
        key="exp001_c1",
        exp_id="exp001",
        config_hash="a" * 16,
        config_summary={"model": "meta-llama/Llama-3.2-1B-Instruct-with-a-long-fine-tune-name"},
        backend="pytorch",
        service="pytorch",
        cycle=1,
        status="failed",
        config_file="configs/exp001.yaml",
        error_type="LaunchError",
        error_message=ERROR,
    )
    return CampaignManifest(campaign="c", design_hash="d" * 16, llem_version="0", entries=[entry])


def render(width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, highlight=False, color_system=None).print(manifest_table(manifest()))
    return buf.getvalue()


def column(text: str, index: int) -> str:
    """Column ``index`` of the body rows, its wrapped pieces joined: what the cell holds."""
    pieces = [line.split("│")[index + 1].strip() for line in text.splitlines() if line.startswith("│")]
    return " ".join(p for p in pieces if p)


def test_narrow_terminal_wraps_every_cell_and_cuts_none() -> None:
    text = render(60)
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "…" not in text
    assert column(text, 6).replace(" ", "") == f"LaunchError: {ERROR}".replace(" ", "")
    assert column(text, 5).replace(" ", "") == "model=meta-llama/Llama-3.2-1B-Instruct-with-a-long-fine-tune-name"


def test_piped_output_keeps_each_row_on_one_line() -> None:
    code = "from llenergymeasure.cli.render import console; print(console().width)"
    env = {"PATH": "/usr/bin:/bin"}  # no COLUMNS: stdout is a pipe
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(PIPE_WIDTH)
    text = render(PIPE_WIDTH)
    (row,) = [line for line in text.splitlines() if "exp001_c1" in line]
    assert f"LaunchError: {ERROR.strip()}" in row


# --- the ranking table of `llem results` ------------------------------------------------------------------


def ranked_rows() -> list[dict[str, object]]:
    """a: slow, high total but little above idle; b: fast; c: lowest total, one cycle below idle."""
    figures = {
        "a": ((0.50, 0.52), (0.30, 0.31), (10.0, 11.0)),
        "b": ((0.40, 0.41), (0.35, 0.36), (30.0, 31.0)),
        "c": ((0.10, 0.11), (0.05, -0.01), (20.0, 21.0)),
    }
    rows: list[dict[str, object]] = []
    for name, (total, adjusted, tps) in figures.items():
        for i in range(2):
            rows.append(
                {
                    "config_hash": name * 16,
                    "config.x": name,
                    "energy.energy_per_output_token_j": total[i],
                    "energy.adjusted_energy_per_output_token_j": adjusted[i],
                    "energy.adjusted_energy_j": adjusted[i],
                    "metrics.output_tokens_per_s": tps[i],
                }
            )
    return rows


def ranking_text(rank_by: str) -> list[list[str]]:
    """``llem results``' first line, then the table's header and body rows as lists of cells."""
    from llenergymeasure.cli.render import ranking_line, stats_table
    from llenergymeasure.results.stats import by_config, ranking_metric

    stats = by_config(ranked_rows(), ["config.x"])
    ranking = ranking_metric(stats, rank_by)  # type: ignore[arg-type]
    buf = io.StringIO()
    Console(file=buf, width=300, highlight=False, color_system=None).print(stats_table(stats, ["config.x"], ranking))
    cells = [[c.strip() for c in line.split(line[0])[1:-1]] for line in buf.getvalue().splitlines() if line[:1] in "┃│"]
    return [[ranking_line(ranking)], *cells]


def test_results_rank_by_total_by_default_with_above_idle_beside() -> None:
    assert ranking_text("total") == [
        ["ranked by energy.energy_per_output_token_j (lower is better)"],
        # Positive metrics are centred on their geometric mean, the centre of a log-t interval:
        # sqrt(0.10 x 0.11) = 0.1049, inside 0.05724-0.1922; signed ones on the mean, with a t interval.
        ["#", "config", "x", "centre", "CI", "CI method", "n", "CV", "J/tok above idle", "tok/s"],
        ["1", "cccccccc", "c", "0.1049", "0.05724–0.1922", "log-t", "2", "6.7%", "0.02", "20.5"],
        ["2", "bbbbbbbb", "b", "0.405", "0.3462–0.4738", "log-t", "2", "1.7%", "0.355", "30.5"],
        ["3 ≈", "aaaaaaaa", "a", "0.5099", "0.3974–0.6542", "log-t", "2", "2.8%", "0.305", "10.5"],
    ]


def test_results_rank_by_above_idle_with_the_total_beside_and_a_negative_config_unranked() -> None:
    reason = "energy above idle negative in some cycle (below the idle baseline): not ranked"
    assert ranking_text("above-idle") == [
        ["ranked by energy.adjusted_energy_per_output_token_j (lower is better)"],
        ["#", "config", "x", "centre", "CI", "CI method", "n", "CV", "total J/tok", "tok/s"],
        ["1", "aaaaaaaa", "a", "0.305", "0.2415–0.3685", "t", "2", "2.3%", "0.5099", "10.5"],
        ["2 ≈", "bbbbbbbb", "b", "0.355", "0.2915–0.4185", "t", "2", "2.0%", "0.405", "30.5"],
        ["-", "cccccccc", "c", "0.02", reason, "-", "2", "-", "0.1049", "20.5"],
    ]


def test_results_rank_by_throughput_higher_first_with_the_total_beside() -> None:
    assert ranking_text("throughput") == [
        ["ranked by metrics.output_tokens_per_s (higher is better)"],
        ["#", "config", "x", "centre", "CI", "CI method", "n", "CV", "total J/tok"],
        ["1", "bbbbbbbb", "b", "30.5", "24.76–37.56", "log-t", "2", "2.3%", "0.405"],
        ["2 ≈", "cccccccc", "c", "20.49", "15.03–27.94", "log-t", "2", "3.4%", "0.1049"],
        ["3 ≈", "aaaaaaaa", "a", "10.49", "5.724–19.22", "log-t", "2", "6.7%", "0.5099"],
    ]
