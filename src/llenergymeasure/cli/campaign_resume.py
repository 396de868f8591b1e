"""``llem campaign resume``: finish exactly what a crashed or interrupted campaign left."""

from __future__ import annotations

from pathlib import Path

import click

from llenergymeasure.cli.campaign_dir import campaign_dir_options
from llenergymeasure.cli.slurm_options import slurm_options, with_overrides


@click.command()
@campaign_dir_options
@click.option("--json", "as_json", is_flag=True, help="Print the final manifest as JSON instead of tables.")
@click.option(
    "--executor",
    type=click.Choice(["auto", "local", "docker", "slurm"]),
    default=None,
    help="Default: the executor the campaign was started with.",
)
@click.option("--force", is_flag=True, help="Resume even if the campaign file's design hash changed.")
@click.option("--gpus", default=None, metavar="all|0,1,...", help="Default: the GPUs the campaign was started with.")
@click.option(
    "--allow-image-change",
    is_flag=True,
    help="Resume under other images than the ones recorded at `up` (docker executor); results record each.",
)
@click.option("--no-preflight", is_flag=True, help="Skip the check that each backend's image or engine is there.")
@click.option(
    "--break-lock",
    is_flag=True,
    help="Break a lock a dead host still holds (NFSv3 after a crash); names the holder first. Never one alive here.",
)
@slurm_options
def resume(
    campaign_dir: Path | None,
    results_dir: Path,
    as_json: bool,
    executor: str | None,
    force: bool,
    gpus: str | None,
    allow_image_change: bool,
    no_preflight: bool,
    break_lock: bool,
    slurm_partition: str | None,
    slurm_account: str | None,
    slurm_args: tuple[str, ...],
) -> None:
    """Resume CAMPAIGN_DIR (default: the most recently active campaign under --results-dir)."""
    from llenergymeasure.campaign.api import refuse, resume_execution, resume_preflight, status
    from llenergymeasure.campaign.api import resume as run_resume
    from llenergymeasure.campaign.eta import Countdown, Gaps, lanes
    from llenergymeasure.campaign.layout import CampaignLayout
    from llenergymeasure.cli.campaign_dir import resolve_campaign_dir
    from llenergymeasure.cli.progress import progress_events
    from llenergymeasure.cli.render import console, counts_line, manifest_table, next_steps
    from llenergymeasure.dispatch.gpus import host_gpus
    from llenergymeasure.dispatch.select import make_executor

    directory = resolve_campaign_dir(campaign_dir, results_dir, verb="resuming")
    if break_lock:
        from llenergymeasure.campaign.lock import break_lock as break_campaign_lock

        break_campaign_lock(directory, lambda line: click.echo(line, err=True))
    store = status(directory, executor)  # a torn manifest is rebuilt with the executor and GPUs `up` recorded
    manifest = store.manifest
    spec = gpus or manifest.gpus
    slots = host_gpus(spec) if spec else ()
    execution, _ = resume_execution(CampaignLayout(directory), store, force)  # edited settings taken
    slurm = with_overrides(execution.slurm, slurm_partition, slurm_account, slurm_args)
    runner = make_executor(executor or manifest.executor, {e.service for e in manifest.entries}, slurm)
    if not no_preflight:
        refuse(resume_preflight(directory, runner), f"{directory}: not resumed")
    gaps = Gaps(execution.config_gap_seconds, execution.cycle_gap_seconds)
    countdown = Countdown.from_entries(manifest.entries, gaps, lanes(len(slots), (e.n_gpus for e in manifest.entries)))
    with progress_events(countdown, root=directory) as sink:
        run = run_resume(
            directory, runner, force=force, on_event=sink, gpus=slots, allow_image_change=allow_image_change
        )
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
