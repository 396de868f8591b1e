"""``llem results``: one table of a campaign's results, statistics across cycles, a ranking."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from llenergymeasure.cli.campaign_dir import campaign_dirs_options, rank_by_option

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


def match_option(fn: F) -> F:
    """``--match FIELDS``: how configs of several campaigns are paired (by config hash unless named)."""
    return click.option(
        "--match",
        "match_fields",
        default=None,
        metavar="FIELDS",
        help=(
            "With several campaigns: pair configs by these comma-separated fields (as the campaign file names"
            " them, e.g. model,backend,precision) instead of by config hash."
        ),
    )(fn)


@click.command()
@campaign_dirs_options
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
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "md", "latex", "json"]),
    default="table",
    show_default=True,
    help=(
        "table: for the terminal; csv, md, latex: the ranked table to paste (4 significant figures);"
        " json: ranked, with rank, centre, interval, method, n, exp id and the campaign's metadata."
    ),
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@match_option
def results(
    campaign_dirs: tuple[Path, ...],
    results_dir: Path,
    cv_threshold: float,
    confidence: float,
    rank_by: RankBy,
    intervals_at_2: bool,
    fmt: str,
    as_json: bool,
    match_fields: str | None,
) -> None:
    """Collect CAMPAIGN_DIR's results into results.parquet and rank configs by J/token (tokens/s without energy).

    Several CAMPAIGN_DIRs: their configs side by side, each later campaign against the first.
    """
    from llenergymeasure import __version__
    from llenergymeasure.cli.campaign_dir import builtin_prompts_digest, read_campaign, resolve_campaign_dirs
    from llenergymeasure.cli.compare import one_campaign_only
    from llenergymeasure.cli.render import console
    from llenergymeasure.cli.results_render import print_view
    from llenergymeasure.results.export import render
    from llenergymeasure.results.table import write_table
    from llenergymeasure.results.view import build_view

    fmt = "json" if as_json else fmt
    directories = resolve_campaign_dirs(campaign_dirs, results_dir)
    one_campaign_only(click.get_current_context(), ("rank_by", "cv_threshold", "intervals_at_2"), len(directories))
    if len(directories) > 1:
        from llenergymeasure.cli.compare import print_comparison

        print_comparison(directories, match_fields, confidence, fmt)
        return
    data = read_campaign(directories[0])
    path = write_table(data.directory, data.table)
    view = build_view(
        data.table.rows,
        data.manifest,
        data.snapshot,
        campaign=data.name,
        rank_by=rank_by,
        confidence=confidence,
        cv_threshold=cv_threshold,
        intervals_at_2=intervals_at_2,
        problems=data.table.problems,
        builtin_digest=builtin_prompts_digest(),
        builtin_llem=__version__,
    )
    if fmt != "table":
        click.echo(render(view, fmt), nl=False)  # type: ignore[arg-type]
        return
    out = console()
    print_view(view, out)
    out.print(f"{len(data.table.rows)} results, {len(view.rows)} configs -> {path}")
