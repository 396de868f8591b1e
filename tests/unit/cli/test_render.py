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


def ranking_text(
    rank_by: str, rows: list[dict[str, object]] | None = None, intervals_at_2: bool = False
) -> list[list[str]]:
    """``llem results``' first line, then the table's header and body rows as lists of cells, then its notes."""
    from llenergymeasure.cli.render import ranking_line, stats_notes, stats_table
    from llenergymeasure.results.stats import by_config, ranking_metric

    stats = by_config(ranked_rows() if rows is None else rows, ["config.x"])
    ranking = ranking_metric(stats, rank_by)  # type: ignore[arg-type]
    buf = io.StringIO()
    console = Console(file=buf, width=300, highlight=False, color_system=None)
    console.print(stats_table(stats, ["config.x"], ranking, 0.95, intervals_at_2))
    cells = [[c.strip() for c in line.split(line[0])[1:-1]] for line in buf.getvalue().splitlines() if line[:1] in "┃│"]
    notes = [[n] for n in stats_notes(stats, ranking, 0.95, intervals_at_2)]
    return [[ranking_line(ranking)], *cells, *notes]


PAIRED = (
    "≈: not distinguishable from the config ranked above at 95% (paired t-test over the cycles both ran: on log"
    " ratios for positive metrics, on differences otherwise)"
)
RANGE = (
    "n = 2: the range of the two cycles is shown instead of a 95% interval, which from 2 cycles spans +-12.7"
    " standard errors; run more cycles (--intervals-at-2 shows it)"
)


def test_results_rank_by_total_by_default_with_above_idle_beside() -> None:
    assert ranking_text("total") == [
        ["ranked by energy.energy_per_output_token_j (lower is better)"],
        # Positive metrics are centred on their geometric mean, the centre of a log-t interval:
        # sqrt(0.10 x 0.11) = 0.1049; with 2 cycles the table shows their range, not that interval.
        ["#", "config", "x", "centre", "CI", "CI method", "n", "CV", "J/tok above idle", "tok/s"],
        ["1", "cccccccc", "c", "0.1049", "0.1–0.11", "range of 2 cycles", "2", "6.7%", "0.02", "20.5"],
        ["2", "bbbbbbbb", "b", "0.405", "0.4–0.41", "range of 2 cycles", "2", "1.7%", "0.355", "30.5"],
        # a's cycles are b's x 1.25 and x 1.27: paired, distinguishable though the intervals overlap.
        ["3", "aaaaaaaa", "a", "0.5099", "0.5–0.52", "range of 2 cycles", "2", "2.8%", "0.305", "10.5"],
        [PAIRED],
        [RANGE],
    ]


def test_results_at_2_cycles_print_the_interval_when_asked() -> None:
    assert ranking_text("total", intervals_at_2=True)[2:5] == [
        ["1", "cccccccc", "c", "0.1049", "0.05724–0.1922", "log-t", "2", "6.7%", "0.02", "20.5"],
        ["2", "bbbbbbbb", "b", "0.405", "0.3462–0.4738", "log-t", "2", "1.7%", "0.355", "30.5"],
        ["3", "aaaaaaaa", "a", "0.5099", "0.3974–0.6542", "log-t", "2", "2.8%", "0.305", "10.5"],
    ]
    assert ranking_text("total", intervals_at_2=True)[5:] == [[PAIRED]]


def test_results_mark_neighbours_the_cycles_do_not_tell_apart_and_say_one_cycle_has_no_interval() -> None:
    rows: list[dict[str, object]] = [
        {"config_hash": h * 16, "config.x": h, "cycle": c, "energy.energy_per_output_token_j": v}
        for h, values in {"a": (1.0, 1.2, 0.9), "b": (1.1, 1.0, 1.05), "c": (2.0,)}.items()
        for c, v in enumerate(values, start=1)
    ]
    assert ranking_text("total", rows) == [
        ["ranked by energy.energy_per_output_token_j (lower is better)"],
        ["#", "config", "x", "centre", "CI", "CI method", "n", "CV", "tok/s"],
        # scipy: exp of t.interval(0.95, 2) of the logs; ttest_rel of b's logs on a's: p = 0.849.
        ["1", "aaaaaaaa", "a", "1.026", "0.7147–1.473", "log-t", "3", "14.8%", "-"],
        ["2 ≈", "bbbbbbbb", "b", "1.049", "0.9321–1.181", "log-t", "3", "4.8%", "-"],
        ["3 ?", "cccccccc", "c", "2", "one cycle: no interval", "-", "1", "-", "-"],
        [f"{PAIRED}; ?: not compared (fewer than 2 cycles in common)"],
    ]


def test_results_rank_by_above_idle_with_the_total_beside_and_a_negative_config_unranked() -> None:
    reason = "energy above idle negative in some cycle (below the idle baseline): not ranked"
    assert ranking_text("above-idle") == [
        ["ranked by energy.adjusted_energy_per_output_token_j (lower is better)"],
        ["#", "config", "x", "centre", "CI", "CI method", "n", "CV", "total J/tok", "tok/s"],
        ["1", "aaaaaaaa", "a", "0.305", "0.3–0.31", "range of 2 cycles", "2", "2.3%", "0.5099", "10.5"],
        ["2", "bbbbbbbb", "b", "0.355", "0.35–0.36", "range of 2 cycles", "2", "2.0%", "0.405", "30.5"],
        ["-", "cccccccc", "c", "0.02", reason, "-", "2", "-", "0.1049", "20.5"],
        [PAIRED],
        [RANGE],
    ]


def test_results_rank_by_throughput_higher_first_with_the_total_beside() -> None:
    assert ranking_text("throughput") == [
        ["ranked by metrics.output_tokens_per_s (higher is better)"],
        ["#", "config", "x", "centre", "CI", "CI method", "n", "CV", "total J/tok"],
        ["1", "bbbbbbbb", "b", "30.5", "30–31", "range of 2 cycles", "2", "2.3%", "0.405"],
        ["2", "cccccccc", "c", "20.49", "20–21", "range of 2 cycles", "2", "3.4%", "0.1049"],
        ["3", "aaaaaaaa", "a", "10.49", "10–11", "range of 2 cycles", "2", "6.7%", "0.5099"],
        [PAIRED],
        [RANGE],
    ]


def test_serving_cells_mark_a_two_cycle_range_and_a_single_cycle() -> None:
    from llenergymeasure.cli.render import spread_text
    from llenergymeasure.results.stats import summarize

    two, three, one = summarize([8.0, 9.0], positive=True), summarize([8.0, 9.0, 10.0]), summarize([8.0])
    assert two is not None
    assert three is not None
    assert one is not None
    assert spread_text(two) == "8–9 (range)"
    assert spread_text(two, intervals_at_2=True) == "4.015–17.93"  # exp(2.1383 +- 12.706 x 0.0589)
    assert spread_text(three) == "6.516–11.48"
    assert spread_text(one) == "one cycle"
