"""``llem report``: a self-contained HTML report with plots."""

from __future__ import annotations

from pathlib import Path

import click

from llenergymeasure.cli.campaign_dir import campaign_dir_options


@click.command()
@campaign_dir_options
@click.option("--unit", default=None, help="Result file whose power timeseries is plotted (default: the first).")
def report(campaign_dir: Path | None, results_dir: Path, unit: str | None) -> None:
    """Write CAMPAIGN_DIR/report.html: ranking, energy vs throughput, J/token by dimension, power."""
    from llenergymeasure.cli.campaign_dir import read_results, resolve_campaign_dir
    from llenergymeasure.results.report import render_report

    directory = resolve_campaign_dir(campaign_dir, results_dir)
    table = read_results(directory)
    click.echo(str(render_report(directory, table, unit)))
