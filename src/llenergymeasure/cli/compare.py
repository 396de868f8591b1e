"""``llem results A B ...``: configs of several campaigns side by side, each later one against the first."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from llenergymeasure.cli.campaign_dir import read_campaign
from llenergymeasure.results.compare import CampaignStats, MatchError, match_fields
from llenergymeasure.results.compare_view import ComparisonView, build_comparison


def campaign_names(directories: list[Path]) -> list[str]:
    """Each campaign's folder name (unique under one results folder); the whole path where two share one."""
    names = [d.name for d in directories]
    return [str(d) if names.count(d.name) > 1 else d.name for d in directories]


def load_campaigns(directories: list[Path]) -> list[CampaignStats]:
    """Each campaign's rows and per-config stats, labelled by the axes varying across all of them."""
    from llenergymeasure.config.dotted import varying_keys
    from llenergymeasure.results.stats import by_config

    tables = [read_campaign(d).table for d in directories]
    dims = varying_keys([r for t in tables for r in t.rows], "config.")
    return [
        CampaignStats(name, t.rows, by_config(t.rows, dims))
        for name, t in zip(campaign_names(directories), tables, strict=True)
    ]


def comparison_view(directories: list[Path], fields: str | None, confidence: float) -> ComparisonView:
    """The comparison, or the one-line error a --match that cannot pair configs gets."""
    campaigns = load_campaigns(directories)
    try:
        return build_comparison(campaigns, match_fields(fields.split(",")) if fields else None, confidence)
    except MatchError as exc:
        raise click.UsageError(str(exc)) from None


def print_comparison(directories: list[Path], fields: str | None, confidence: float, fmt: str) -> None:
    """The comparison in the asked format: terminal table, csv, md, latex or json."""
    from llenergymeasure.cli.render import console, table
    from llenergymeasure.results.export import csv_text, latex_text, markdown_text

    view = comparison_view(directories, fields, confidence)
    if fmt == "json":
        doc = {
            "campaigns": view.campaigns,
            "environment": {name: values for name, values in view.environment},
            "differences": [name for name, _ in view.differences],
            "method": view.method_line,
            "comparisons": [
                {
                    "config": c.config.label,
                    "key": list(c.config.key),
                    "metric": c.metric,
                    "changes": [asdict(ch) for ch in c.changes],
                }
                for c in view.comparisons
            ],
            "notes": view.notes,
        }
        click.echo(json.dumps(doc, indent=2))
        return
    if fmt == "csv":
        click.echo(csv_text(view.columns, view.rows), nl=False)
        return
    if fmt == "md":
        click.echo(markdown_text(view.columns, view.rows, view.text_columns, view.method_line), nl=False)
        return
    if fmt == "latex":
        click.echo(
            latex_text(view.columns, view.rows, view.text_columns, view.method_line, "llem results A B --format latex"),
            nl=False,
        )
        return
    out = console()
    if view.differences:
        out.print("environments differ:", markup=False)
        for name, values in view.differences:
            out.print(
                f"  {name}: " + " | ".join(f"{c}: {v}" for c, v in zip(view.campaigns, values, strict=True)),
                markup=False,
            )
    else:
        out.print("same environment in every campaign (GPU, CPU, engine versions, images, llem)", markup=False)
    t = table(f"{len(view.campaigns)} campaigns, matched configs", view.columns)
    for row in view.rows:
        t.add_row(*row)
    out.print(t)
    out.print(view.method_line, markup=False)
    for note in view.notes:
        out.print(note, style="yellow", markup=False)
