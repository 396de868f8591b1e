"""``llem report``: a self-contained HTML report with plots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from llenergymeasure.cli.campaign_dir import campaign_dir_options, rank_by_option
from llenergymeasure.cli.results import intervals_at_2_option

if TYPE_CHECKING:
    from llenergymeasure.results.stats import RankBy


@click.command()
@campaign_dir_options
@click.option("--unit", default=None, help="Result file whose power timeseries is plotted (default: the first).")
@rank_by_option
@intervals_at_2_option
def report(
    campaign_dir: Path | None, results_dir: Path, unit: str | None, rank_by: RankBy, intervals_at_2: bool
) -> None:
    """Write CAMPAIGN_DIR/report.html: ranking, energy vs throughput, J/token by dimension, power."""
    from llenergymeasure.cli.campaign_dir import read_results, resolve_campaign_dir
    from llenergymeasure.results.report import render_report

    directory = resolve_campaign_dir(campaign_dir, results_dir)
    table = read_results(directory)
    click.echo(str(render_report(directory, table, unit, rank_by, intervals_at_2)))
