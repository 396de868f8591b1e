"""``llem campaign resume``: finish exactly what a crashed or interrupted campaign left."""

from __future__ import annotations

from pathlib import Path

import click

from llenergymeasure.cli.campaign_dir import campaign_dir_options


@click.command()
@campaign_dir_options
@click.option("--json", "as_json", is_flag=True, help="Print the final manifest as JSON instead of tables.")
@click.option(
    "--executor",
    type=click.Choice(["auto", "local", "docker"]),
    default=None,
    help="Default: the executor the campaign was started with.",
)
@click.option("--force", is_flag=True, help="Resume even if the campaign file's design hash changed.")
@click.option("--no-preflight", is_flag=True, help="Skip the check that each backend's image or engine is there.")
def resume(
    campaign_dir: Path | None, results_dir: Path, as_json: bool, executor: str | None, force: bool, no_preflight: bool
) -> None:
    """Resume CAMPAIGN_DIR (default: the most recently active campaign under --results-dir)."""
    from llenergymeasure.campaign.api import refuse, resume_preflight, status
    from llenergymeasure.campaign.api import resume as run_resume
    from llenergymeasure.cli.campaign_dir import resolve_campaign_dir
    from llenergymeasure.cli.progress import progress_events
    from llenergymeasure.cli.render import console, counts_line, manifest_table, next_steps
    from llenergymeasure.dispatch.select import make_executor

    directory = resolve_campaign_dir(campaign_dir, results_dir, verb="resuming")
    manifest = status(directory).manifest
    runner = make_executor(executor or manifest.executor, {e.service for e in manifest.entries})
    if not no_preflight:
        refuse(resume_preflight(directory, runner), f"{directory}: not resumed")
    c = manifest.counters()
    with progress_events(total=c.total, done=c.completed) as sink:
        run = run_resume(directory, runner, force=force, on_event=sink)
    final = run.store.manifest.counters()
    if as_json:
        click.echo(run.store.render().decode())
        raise SystemExit(1 if final.failed else 0)
    if run.to_run == 0 and final.completed == final.total:
        click.echo(f"nothing to do: all {final.total} units completed")
        return
    out = console()
    out.print(manifest_table(run.store.manifest))
    out.print(f"{counts_line(run.store.manifest)}; campaign directory: {run.layout.root}")
    for line in next_steps(run.layout.root, run.store.manifest.counters().failed):
        out.print(line)
    if final.failed:
        raise SystemExit(1)
