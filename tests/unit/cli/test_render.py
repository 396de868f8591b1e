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
    assert column(text, 9).replace(" ", "") == f"LaunchError: {ERROR}".replace(" ", "")
    assert column(text, 8).replace(" ", "") == "model=meta-llama/Llama-3.2-1B-Instruct-with-a-long-fine-tune-name"


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
    from llenergymeasure.cli.results_render import ranked_table
    from llenergymeasure.results.view import build_view

    view = build_view(ranked_rows() if rows is None else rows, rank_by=rank_by, intervals_at_2=intervals_at_2)  # type: ignore[arg-type]
    buf = io.StringIO()
    console = Console(file=buf, width=300, highlight=False, color_system=None)
    console.print(ranked_table(view))
    cells = [[c.strip() for c in line.split(line[0])[1:-1]] for line in buf.getvalue().splitlines() if line[:1] in "┃│"]
    return [[view.method_line], *cells, *([n] for n in view.notes)]


PAIRED = (
    "≈: not distinguishable from the config ranked above at 95% (paired t-test over the cycles both ran: on log"
    " ratios for positive metrics, on differences otherwise)"
)
RANGE = (
    "n = 2: the range of the two cycles is shown instead of a 95% interval, which from 2 cycles spans +-12.7"
    " standard errors; run more cycles (--intervals-at-2 shows it)"
)


LOG_T = "Centres: geometric means with 95% log-t intervals across cycles (quantities that cannot be negative)"
RANGES = "2 cycles: their range, not an interval."
HEAD = ["rank", "exp", "config", "x"]
SPREAD = ["low", "high", "spread", "method", "n", "CV"]


def test_results_rank_by_total_by_default_with_above_idle_beside() -> None:
    assert ranking_text("total") == [
        [f"Ranked by energy per output token (J), lower is better. {RANGES}"],
        [*HEAD, "J/tok", *SPREAD, "J/tok above idle", "tok/s"],
        # Positive metrics are centred on their geometric mean, the centre of a log-t interval:
        # sqrt(0.10 x 0.11) = 0.1049; with 2 cycles the table shows their range, not that interval.
        [
            "1",
            "-",
            "cccccccc",
            "c",
            "0.1049",
            "0.1000",
            "0.1100",
            "range",
            "range of 2 cycles",
            "2",
            "6.7%",
            "0.02000",
            "20.49",
        ],
        [
            "2",
            "-",
            "bbbbbbbb",
            "b",
            "0.4050",
            "0.4000",
            "0.4100",
            "range",
            "range of 2 cycles",
            "2",
            "1.7%",
            "0.3550",
            "30.50",
        ],
        # a's cycles are b's x 1.25 and x 1.27: paired, distinguishable though the intervals overlap.
        [
            "3",
            "-",
            "aaaaaaaa",
            "a",
            "0.5099",
            "0.5000",
            "0.5200",
            "range",
            "range of 2 cycles",
            "2",
            "2.8%",
            "0.3050",
            "10.49",
        ],
        [PAIRED],
        [RANGE],
    ]


def test_results_at_2_cycles_print_the_interval_when_asked() -> None:
    text = ranking_text("total", intervals_at_2=True)
    assert text[0] == [f"Ranked by energy per output token (J), lower is better. {LOG_T}."]
    assert text[2:] == [
        [
            "1",
            "-",
            "cccccccc",
            "c",
            "0.1049",
            "0.05724",
            "0.1922",
            "95% CI",
            "geometric mean, log-t",
            "2",
            "6.7%",
            "0.02000",
            "20.49",
        ],
        [
            "2",
            "-",
            "bbbbbbbb",
            "b",
            "0.4050",
            "0.3462",
            "0.4738",
            "95% CI",
            "geometric mean, log-t",
            "2",
            "1.7%",
            "0.3550",
            "30.50",
        ],
        [
            "3",
            "-",
            "aaaaaaaa",
            "a",
            "0.5099",
            "0.3974",
            "0.6542",
            "95% CI",
            "geometric mean, log-t",
            "2",
            "2.8%",
            "0.3050",
            "10.49",
        ],
        [PAIRED],
    ]


def test_results_mark_neighbours_the_cycles_do_not_tell_apart_and_say_one_cycle_has_no_interval() -> None:
    rows: list[dict[str, object]] = [
        {"config_hash": h * 16, "config.x": h, "cycle": c, "energy.energy_per_output_token_j": v}
        for h, values in {"a": (1.0, 1.2, 0.9), "b": (1.1, 1.0, 1.05), "c": (2.0,)}.items()
        for c, v in enumerate(values, start=1)
    ]
    assert ranking_text("total", rows) == [
        [f"Ranked by energy per output token (J), lower is better. {LOG_T}; 1 cycle: no interval."],
        [*HEAD, "J/tok", *SPREAD, "tok/s"],
        # scipy: exp of t.interval(0.95, 2) of the logs; ttest_rel of b's logs on a's: p = 0.849.
        ["1", "-", "aaaaaaaa", "a", "1.026", "0.7147", "1.473", "95% CI", "geometric mean, log-t", "3", "14.8%", "-"],
        ["2 ≈", "-", "bbbbbbbb", "b", "1.049", "0.9321", "1.181", "95% CI", "geometric mean, log-t", "3", "4.8%", "-"],
        ["3 ?", "-", "cccccccc", "c", "2.000", "-", "-", "none", "one cycle: no interval", "1", "-", "-"],
        [f"{PAIRED}; ?: not compared (fewer than 2 cycles in common)"],
    ]


def test_results_rank_by_above_idle_with_the_total_beside_and_a_negative_config_unranked() -> None:
    reason = "energy above idle negative in some cycle (below the idle baseline): not ranked"
    assert ranking_text("above-idle") == [
        [f"Ranked by energy per output token above idle (J), lower is better. {RANGES}"],
        [*HEAD, "J/tok above idle", *SPREAD, "J/tok", "tok/s"],
        [
            "1",
            "-",
            "aaaaaaaa",
            "a",
            "0.3050",
            "0.3000",
            "0.3100",
            "range",
            "range of 2 cycles",
            "2",
            "2.3%",
            "0.5099",
            "10.49",
        ],
        [
            "2",
            "-",
            "bbbbbbbb",
            "b",
            "0.3550",
            "0.3500",
            "0.3600",
            "range",
            "range of 2 cycles",
            "2",
            "2.0%",
            "0.4050",
            "30.50",
        ],
        ["-", "-", "cccccccc", "c", "0.02000", "-", "-", "-", reason, "2", "-", "0.1049", "20.49"],
        [PAIRED],
        [RANGE],
    ]


def test_results_rank_by_throughput_higher_first_with_the_total_beside() -> None:
    assert ranking_text("throughput") == [
        [f"Ranked by output throughput (tokens/s), higher is better. {RANGES}"],
        [*HEAD, "tok/s", *SPREAD, "J/tok"],
        ["1", "-", "bbbbbbbb", "b", "30.50", "30.00", "31.00", "range", "range of 2 cycles", "2", "2.3%", "0.4050"],
        ["2", "-", "cccccccc", "c", "20.49", "20.00", "21.00", "range", "range of 2 cycles", "2", "3.4%", "0.1049"],
        ["3", "-", "aaaaaaaa", "a", "10.49", "10.00", "11.00", "range", "range of 2 cycles", "2", "6.7%", "0.5099"],
        [PAIRED],
        [RANGE],
    ]


def test_serving_cells_mark_a_two_cycle_range_and_a_single_cycle() -> None:
    from llenergymeasure.results.stats import Summary, summarize
    from llenergymeasure.results.view import cell

    def spread_text(s: Summary, intervals_at_2: bool = False) -> str:
        return cell(s, intervals_at_2).spread_text

    two, three, one = summarize([8.0, 9.0], positive=True), summarize([8.0, 9.0, 10.0]), summarize([8.0])
    assert two is not None
    assert three is not None
    assert one is not None
    assert spread_text(two) == "8.000–9.000 (range)"
    assert spread_text(two, intervals_at_2=True) == "4.015–17.93"  # exp(2.1383 +- 12.706 x 0.0589)
    assert spread_text(three) == "6.516–11.48"
    assert spread_text(one) == "one cycle"
