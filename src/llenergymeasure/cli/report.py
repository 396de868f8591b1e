"""``llem report``: a self-contained HTML report with its figures; several campaigns: a comparison report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from llenergymeasure.cli.campaign_dir import campaign_dirs_options, rank_by_option
from llenergymeasure.cli.results import intervals_at_2_option, match_option

if TYPE_CHECKING:
    from llenergymeasure.results.stats import RankBy


@click.command()
@campaign_dirs_options
@click.option("--unit", default=None, help="Result file whose power timeseries is plotted (default: the first).")
@click.option(
    "--timeline",
    "timeline",
    metavar="EXP_ID",
    default=None,
    help="Unit whose power and running requests are plotted: a result file, its stem or a config hash "
    "(default: the first with engine telemetry).",
)
@rank_by_option
@intervals_at_2_option
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@match_option
def report(
    campaign_dirs: tuple[Path, ...],
    results_dir: Path,
    unit: str | None,
    timeline: str | None,
    rank_by: RankBy,
    intervals_at_2: bool,
    confidence: float,
    match_fields: str | None,
) -> None:
    """Write CAMPAIGN_DIR/report.html and its figures (PNG, SVG, PDF under figures/).

    Several CAMPAIGN_DIRs: FIRST/compare-with-OTHERS.html, the same configs side by side per campaign.
    """
    from llenergymeasure import __version__
    from llenergymeasure.cli.campaign_dir import builtin_prompts_digest, read_campaign, resolve_campaign_dirs
    from llenergymeasure.cli.compare import one_campaign_only

    directories = resolve_campaign_dirs(campaign_dirs, results_dir)
    one_campaign_only(click.get_current_context(), ("rank_by", "unit", "timeline"), len(directories))
    if len(directories) > 1:
        from llenergymeasure.cli.compare import campaign_names, comparison_view
        from llenergymeasure.results.report import render_comparison_report

        campaigns, view = comparison_view(directories, match_fields, confidence)
        stem = "compare-with-" + "-".join(campaign_names(directories)[1:]).replace("/", "_")
        out = render_comparison_report(directories[0], stem, campaigns, view, confidence, intervals_at_2)
        click.echo(str(out))
        return
    from llenergymeasure.results.report import render_report

    data = read_campaign(directories[0])
    out = render_report(
        data.directory,
        data.table,
        data.manifest,
        data.snapshot,
        unit=unit,
        timeline=timeline,
        rank_by=rank_by,
        intervals_at_2=intervals_at_2,
        confidence=confidence,
        builtin_digest=builtin_prompts_digest(),
        builtin_llem=__version__,
    )
    click.echo(str(out))
