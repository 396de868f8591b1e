"""How commands that act on an existing campaign find its directory and read its results."""

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


def resolve_campaign_dir(campaign_dir: Path | None, results_dir: Path) -> Path:
    """The given directory, or the most recently active campaign under ``results_dir``."""
    from llenergymeasure.campaign.layout import latest_campaign_dir

    return campaign_dir or latest_campaign_dir(results_dir)


def read_results(directory: Path) -> ResultsTable:
    """The campaign's valid results; skipped files are warned about, none at all is an error."""
    from llenergymeasure.results.table import collect

    table = collect(directory)
    for problem in table.problems:
        click.echo(f"warning: skipped {problem}", err=True)
    if not table.rows:
        raise click.ClickException(f"{directory}: no valid result files")
    return table
