"""How commands that act on an existing campaign find its directory, read its results and rank them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from llenergymeasure.results.table import ResultsTable

F = TypeVar("F", bound=Callable[..., Any])


def _results_dir_option(fn: F, help_text: str) -> F:
    return click.option(
        "--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True, help=help_text
    )(fn)


def campaign_dir_options(fn: F) -> F:
    """``[CAMPAIGN_DIR]`` plus ``--results-dir``, where the latest campaign is looked up when DIR is omitted."""
    fn = _results_dir_option(fn, "Where to look for the latest campaign when DIR is omitted.")
    return click.argument("campaign_dir", type=click.Path(path_type=Path), required=False)(fn)


def campaign_dirs_options(fn: F) -> F:
    """``[CAMPAIGN_DIR]...`` plus ``--results-dir``: one campaign (the latest when none is named), or several."""
    fn = _results_dir_option(fn, "Where to look for the latest campaign when no DIR is given.")
    return click.argument("campaign_dirs", type=click.Path(path_type=Path), nargs=-1)(fn)


def resolve_campaign_dirs(campaign_dirs: tuple[Path, ...], results_dir: Path) -> list[Path]:
    """Each named campaign directory (a folder of campaigns means its latest), or the latest one when none is named."""
    if not campaign_dirs:
        return [resolve_campaign_dir(None, results_dir)]
    return [resolve_campaign_dir(d, results_dir) for d in campaign_dirs]


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


@dataclass(frozen=True)
class CampaignData:
    """What the results views of one campaign are built from: its rows and, where present, its manifest and plan."""

    directory: Path
    table: ResultsTable
    manifest: dict[str, Any] | None
    snapshot: dict[str, Any] | None

    @property
    def name(self) -> str:
        """The campaign's own name (its folder's where there is no manifest)."""
        return str((self.manifest or {}).get("campaign") or self.directory.name)


def _json_file(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None when absent or damaged (a folder of bare result files has neither)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_campaign(directory: Path) -> CampaignData:
    """The campaign's results (``read_results``) with its manifest.json and campaign.resolved.json."""
    from llenergymeasure.campaign.layout import CampaignLayout

    layout = CampaignLayout(directory)
    table = read_results(directory)
    manifest = _json_file(layout.manifest)
    return CampaignData(
        directory, table, _valid_manifest(manifest, layout.manifest), _json_file(layout.campaign_snapshot)
    )


def _valid_manifest(raw: dict[str, Any] | None, path: Path) -> dict[str, Any] | None:
    """The manifest as the manifest model reads it (each entry with its config hash), or None, said on stderr.

    A damaged manifest costs the header its design hash and exp ids, never the results.
    """
    from pydantic import ValidationError

    from llenergymeasure.campaign.manifest import CampaignManifest
    from llenergymeasure.campaign.store import joined_document

    if raw is None:
        return None
    try:
        return CampaignManifest.model_validate(joined_document(raw)).model_dump(mode="json")
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        first = str(exc).splitlines()[0]
        click.echo(
            f"warning: {path}: not a valid manifest ({first}); its design hash and exp ids are left out", err=True
        )
        return None


def builtin_prompts_digest() -> str:
    """sha256 of the prompt set this llem ships (what ``dataset: builtin`` measured, for this llem version)."""
    from importlib import resources

    data = resources.files("llenergymeasure.experiment").joinpath("data/prompts.jsonl").read_bytes()
    return hashlib.sha256(data).hexdigest()
