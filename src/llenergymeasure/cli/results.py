"""``llem results``: one table of a campaign's results, statistics across cycles, a ranking."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from llenergymeasure.cli.campaign_dir import campaign_dir_options, rank_by_option

if TYPE_CHECKING:
    from llenergymeasure.results.stats import RankBy

F = TypeVar("F", bound=Callable[..., Any])


def intervals_at_2_option(fn: F) -> F:
    """``--intervals-at-2`` of ``llem results`` and ``llem report``: a 2-cycle config's interval, not its range."""
    return click.option(
        "--intervals-at-2",
        is_flag=True,
        help=(
            "With 2 cycles, print the confidence interval (+-12.7 standard errors at 95%) instead of the two"
            " cycles' range (`llem results --json` carries the interval at any n >= 2)."
        ),
    )(fn)


@click.command()
@campaign_dir_options
@click.option(
    "--cv-threshold",
    type=float,
    default=0.05,
    show_default=True,
    help="Flag configs whose coefficient of variation across cycles exceeds this.",
)
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@rank_by_option
@intervals_at_2_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print per-config statistics as JSON, in ranked order: rank, centre, interval, method, paired comparison.",
)
def results(
    campaign_dir: Path | None,
    results_dir: Path,
    cv_threshold: float,
    confidence: float,
    rank_by: RankBy,
    intervals_at_2: bool,
    as_json: bool,
) -> None:
    """Collect CAMPAIGN_DIR's results into results.parquet and rank configs by J/token (tokens/s without energy)."""
    from llenergymeasure.cli.campaign_dir import read_results, resolve_campaign_dir
    from llenergymeasure.cli.render import console, ranking_line, serving_table, stats_notes, stats_table
    from llenergymeasure.config.dotted import varying_keys
    from llenergymeasure.results.drift import baseline_drift, drift_line
    from llenergymeasure.results.stats import by_config, ranked_item, ranked_order, ranking_metric
    from llenergymeasure.results.table import write_table

    directory = resolve_campaign_dir(campaign_dir, results_dir)
    table = read_results(directory)
    path = write_table(directory, table)
    dims = varying_keys(table.rows, "config.")
    stats = by_config(table.rows, dims, cv_threshold, confidence)
    ranking = ranking_metric(stats, rank_by)
    if as_json:
        ordered = ranked_order(stats, ranking.metric, confidence)
        click.echo(json.dumps([ranked_item(r, ranking.metric, confidence) for r in ordered], indent=2))
        return
    out = console()
    out.print(ranking_line(ranking))
    out.print(stats_table(stats, dims, ranking, confidence, intervals_at_2))
    served = serving_table(stats, dims, confidence, intervals_at_2)
    if served is not None:
        out.print(served)
    for note in stats_notes(stats, ranking, confidence, intervals_at_2):
        out.print(note, markup=False)
    for s in stats:
        if s.high_cv:
            out.print(f"[yellow]high variation[/] {s.hash_label}: {', '.join(s.high_cv)} CV > {cv_threshold:.0%}")
    for drift in baseline_drift(table.rows):
        if drift.flagged:
            out.print(drift_line(drift), style="yellow", markup=False)
    out.print(f"{len(table.rows)} results, {len(stats)} configs -> {path}")
