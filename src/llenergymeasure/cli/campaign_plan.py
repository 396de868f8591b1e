"""``llem campaign plan``: show what a campaign would run. No side effects."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("campaign_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plan(campaign_file: Path, as_json: bool) -> None:
    """Expand CAMPAIGN_FILE and show experiments, skipped configs, counts and design hash."""
    from llenergymeasure.campaign.api import plan_campaign
    from llenergymeasure.cli.render import console, plan_table

    loaded, p = plan_campaign(campaign_file)
    cfg = p.config
    if as_json:
        click.echo(
            json.dumps(
                {
                    "name": cfg.name,
                    "design_hash": cfg.campaign_design_hash,
                    "experiments": [
                        {"exp_id": e.exp_id, "config_hash": e.config_hash, **e.summary} for e in p.experiments
                    ],
                    "units": [u.key for u in p.units],
                    "skipped": [s.model_dump() for s in cfg.skipped_configs],
                    "warnings": loaded.warnings,
                },
                indent=2,
            )
        )
        return
    out = console()
    out.print(plan_table(p))
    for s in cfg.skipped_configs:
        out.print(f"skipped {s.overrides}: {s.reason}")
    for w in loaded.warnings:
        out.print(f"[yellow]warning:[/] {w}")
    ex = cfg.execution
    out.print(
        f"{len(p.experiments)} experiments x {ex.n_cycles} cycles = {len(p.units)} units "
        f"({ex.cycle_order}); {len(cfg.skipped_configs)} skipped; design hash {cfg.campaign_design_hash}"
    )
