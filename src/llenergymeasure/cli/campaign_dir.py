"""How commands that act on an existing campaign find its directory, read its results and rank them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from llenergymeasure.results.table import ResultsTable

F = TypeVar("F", bound=Callable[..., Any])


def campaign_dir_options(fn: F) -> F:
    """``[CAMPAIGN_DIR]`` plus ``--results-dir``, where the latest campaign is looked up when DIR is omitted."""
    fn = click.option(
        "--results-dir",
        type=click.Path(path_type=Path),
        default=Path("results"),
        show_default=True,
        help="Where to look for the latest campaign when DIR is omitted.",
    )(fn)
    return click.argument("campaign_dir", type=click.Path(path_type=Path), required=False)(fn)


def rank_by_option(fn: F) -> F:
    """``--rank-by total|above-idle|throughput``: what ``llem results`` and ``llem report`` rank configs by."""
    from llenergymeasure.results.stats import RANK_BY

    return click.option(
        "--rank-by",
        type=click.Choice(RANK_BY),
        default=RANK_BY[0],
        show_default=True,
        help=(
            "Rank configs by total J/token (above-idle J/token beside it), by J/token above the idle baseline"
            " (total beside it), or by output tokens/s. Without energy data, tokens/s."
        ),
    )(fn)


def resolve_campaign_dir(campaign_dir: Path | None, results_dir: Path, verb: str = "reading") -> Path:
    """The given campaign directory, or the most recently active campaign, said on stderr when chosen.

    Without DIR the latest campaign under ``results_dir`` is used; a DIR that is itself a folder of
    campaigns (``results/``, say) means its latest one. Either way the user is told which one.
    """
    from llenergymeasure.campaign.layout import MANIFEST_NAME, latest_campaign_dir

    if campaign_dir is not None and (campaign_dir / MANIFEST_NAME).is_file():
        return campaign_dir
    root = results_dir if campaign_dir is None else campaign_dir
    if campaign_dir is not None and not any(campaign_dir.glob(f"*/{MANIFEST_NAME}")):
        return campaign_dir  # not a campaign, nor a folder of them: the command says what is wrong
    chosen = latest_campaign_dir(root)
    n = len(list(root.glob(f"*/{MANIFEST_NAME}")))
    click.echo(f"{verb} {chosen} (the most recent of {n} campaign(s) in {root}; pass its DIR for another)", err=True)
    return chosen


def read_results(directory: Path) -> ResultsTable:
    """The campaign's valid results; skipped files are warned about, none at all is an error."""
    from llenergymeasure.results.table import collect

    table = collect(directory)
    for problem in table.problems:
        click.echo(f"warning: skipped {problem}", err=True)
    if not table.rows:
        raise click.ClickException(f"{directory}: no valid result files")
    return table
