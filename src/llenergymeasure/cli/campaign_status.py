"""``llem campaign status``: counts and per-unit table from a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from llenergymeasure.cli.campaign_dir import campaign_dir_options


@click.command()
@campaign_dir_options
@click.option("--json", "as_json", is_flag=True, help="Print the manifest counters and entries as JSON.")
def status(campaign_dir: Path | None, results_dir: Path, as_json: bool) -> None:
    """Show the state of CAMPAIGN_DIR (default: the most recently active campaign)."""
    from llenergymeasure.campaign.layout import CampaignLayout
    from llenergymeasure.campaign.rebuild import load_manifest
    from llenergymeasure.cli.campaign_dir import resolve_campaign_dir
    from llenergymeasure.cli.render import console, counts_line, manifest_table, resume_command

    directory = resolve_campaign_dir(campaign_dir, results_dir)
    store, rebuilt = load_manifest(CampaignLayout(directory))
    if rebuilt:
        click.echo(f"note: {rebuilt} (shown, not written: `{resume_command(directory)}` writes it)", err=True)
    if as_json:
        click.echo(store.render().decode())
        return
    states: dict[str, str] = {}
    if store.manifest.executor == "slurm":
        from llenergymeasure.dispatch.slurm import job_states

        states = job_states([e.job_id for e in store.manifest.entries if e.job_id])
    out = console()
    out.print(manifest_table(store.manifest, states))
    out.print(f"{counts_line(store.manifest)}; campaign directory: {directory}")
