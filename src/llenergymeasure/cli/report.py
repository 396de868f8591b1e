"""``llem report``: a self-contained HTML report with plots."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("campaign_dir", type=click.Path(path_type=Path), required=False)
@click.option(
    "--results-dir",
    type=click.Path(path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Where to look for the latest campaign when DIR is omitted.",
)
@click.option("--unit", default=None, help="Result file whose power timeseries is plotted (default: the first).")
def report(campaign_dir: Path | None, results_dir: Path, unit: str | None) -> None:
    """Write CAMPAIGN_DIR/report.html: ranking, energy vs throughput, J/token by dimension, power."""
    from llenergymeasure.campaign.layout import latest_campaign_dir
    from llenergymeasure.results.report import render_report
    from llenergymeasure.results.table import collect

    directory = campaign_dir or latest_campaign_dir(results_dir)
    table = collect(directory)
    for problem in table.problems:
        click.echo(f"warning: skipped {problem}", err=True)
    if not table.rows:
        raise click.ClickException(f"{directory}: no valid result files")
    click.echo(str(render_report(directory, table, unit)))
