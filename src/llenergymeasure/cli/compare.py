"""``llem results A B ...``: configs of several campaigns side by side, each later one against the first."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from llenergymeasure.cli.campaign_dir import read_campaign
from llenergymeasure.results.compare import CampaignStats, MatchError, match_fields
from llenergymeasure.results.compare_view import ComparisonView, build_comparison
from llenergymeasure.results.view import Fact


def campaign_names(directories: list[Path]) -> list[str]:
    """Each campaign's folder name (unique under one results folder); the whole path where two share one."""
    names = [d.name for d in directories]
    return [str(d) if names.count(d.name) > 1 else d.name for d in directories]


def load_campaigns(directories: list[Path]) -> tuple[list[CampaignStats], list[list[Fact]]]:
    """Each campaign's rows and per-config stats (labelled by the axes varying across all), and its header facts."""
    from llenergymeasure.config.dotted import varying_keys
    from llenergymeasure.results.stats import by_config
    from llenergymeasure.results.view import header_facts

    data = [read_campaign(d) for d in directories]
    dims = varying_keys([r for d in data for r in d.table.rows], "config.")
    campaigns = [
        CampaignStats(name, d.table.rows, by_config(d.table.rows, dims))
        for name, d in zip(campaign_names(directories), data, strict=True)
    ]
    facts = [header_facts(d.table.rows, d.manifest, d.snapshot, varying_keys(d.table.rows, "config.")) for d in data]
    return campaigns, facts


def comparison_view(
    directories: list[Path], fields: str | None, confidence: float
) -> tuple[list[CampaignStats], ComparisonView]:
    """The campaigns and their comparison, or the one-line error a --match that cannot pair configs gets."""
    campaigns, facts = load_campaigns(directories)
    try:
        chosen = match_fields(fields.split(",")) if fields else None
        return campaigns, build_comparison(campaigns, chosen, confidence, facts)
    except MatchError as exc:
        raise click.UsageError(str(exc)) from None


def one_campaign_only(ctx: click.Context, names: tuple[str, ...], n_dirs: int) -> None:
    """Refuse options that shape one campaign's ranking when several are compared, and --match with one."""
    from click.core import ParameterSource

    given = [n for n in names if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]
    if n_dirs > 1 and given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise click.UsageError(f"{flags}: applies to one campaign; comparing {n_dirs} campaigns ranks nothing")
    if n_dirs == 1 and ctx.get_parameter_source("match_fields") == ParameterSource.COMMANDLINE:
        raise click.UsageError("--match: pairs configs across campaigns; name two or more campaign folders")


def print_comparison(directories: list[Path], fields: str | None, confidence: float, fmt: str) -> None:
    """The comparison in the asked format: terminal table, csv, md, latex or json."""
    from llenergymeasure.cli.render import console, table
    from llenergymeasure.results.export import csv_text, latex_text, markdown_text

    _, view = comparison_view(directories, fields, confidence)
    footer = [view.method_line, *view.notes]
    if fmt == "json":
        click.echo(json.dumps(comparison_json(view), indent=2))
    elif fmt == "csv":
        click.echo(csv_text(view.columns, view.rows), nl=False)
    elif fmt == "md":
        click.echo(markdown_text(view.columns, view.rows, view.text_columns, footer), nl=False)
    elif fmt == "latex":
        source = "llem results A B --format latex"
        click.echo(latex_text(view.columns, view.rows, view.text_columns, footer, source), nl=False)
    else:
        out = console()
        for name, values in view.facts:
            if len(set(values)) > 1:
                out.print(
                    f"{name}: " + " | ".join(f"{c}: {v}" for c, v in zip(view.campaigns, values, strict=True)),
                    markup=False,
                )
        if view.differences:
            out.print("environments differ:", markup=False)
            for name, values in view.differences:
                pairs = " | ".join(f"{c}: {v}" for c, v in zip(view.campaigns, values, strict=True))
                out.print(f"  {name}: {pairs}", markup=False)
        else:
            out.print("same environment in every campaign (GPU, CPU, engine versions, images, llem)", markup=False)
        t = table(f"{len(view.campaigns)} campaigns, matched configs", view.columns)
        for row in view.rows:
            t.add_row(*(Text(c) for c in row))
        out.print(t)
        for line in footer:
            out.print(line, markup=False)


def comparison_json(view: ComparisonView) -> dict[str, Any]:
    """The comparison as plain data: each campaign's facts, then per config and metric the centres and changes."""
    centres = {
        (c.config.key, c.metric): [
            s.metrics[c.metric].value if s is not None and c.metric in s.metrics else None for s in c.config.configs
        ]
        for c in view.comparisons
    }
    return {
        "campaigns": view.campaigns,
        "facts": {name: values for name, values in view.facts},
        "environment": {name: values for name, values in view.environment},
        "differences": [name for name, _ in view.differences],
        "method": view.method_line,
        "comparisons": [
            {
                "config": c.config.label,
                "key": list(c.config.key),
                "metric": c.metric,
                "centres": centres[(c.config.key, c.metric)],
                "changes": [asdict(ch) for ch in c.changes],
            }
            for c in view.comparisons
        ],
        "notes": view.notes,
    }
