"""``llem campaign up``: run a campaign from its file."""

from __future__ import annotations

from pathlib import Path

import click

from llenergymeasure.cli.slurm_options import slurm_options, with_overrides


@click.command()
@click.argument("campaign_file", type=click.Path(path_type=Path))
@click.option(
    "--results-dir",
    type=click.Path(path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Folder under which the campaign directory is created.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final manifest as JSON instead of tables.")
@click.option(
    "--executor",
    type=click.Choice(["auto", "local", "docker", "slurm"]),
    default="auto",
    show_default=True,
    help="auto: docker when the engine and images are there, else local subprocesses; "
    "slurm: one sbatch job per unit (options under execution.slurm).",
)
@click.option(
    "--gpus",
    default=None,
    metavar="all|0,1,...",
    help="Run units concurrently, one per free slot of these GPUs (NVML indices or UUIDs); "
    "default: one unit at a time.",
)
@click.option(
    "--no-preflight",
    is_flag=True,
    help="Skip the checks made before anything starts (each model resolvable, each backend's image or engine there).",
)
@click.option(
    "--again",
    is_flag=True,
    help="Measure anew, in a new campaign folder, a design that already completed under --results-dir.",
)
@slurm_options
def up(
    campaign_file: Path,
    results_dir: Path,
    as_json: bool,
    executor: str,
    gpus: str | None,
    no_preflight: bool,
    again: bool,
    slurm_partition: str | None,
    slurm_account: str | None,
    slurm_args: tuple[str, ...],
) -> None:
    """Run every experiment and cycle of CAMPAIGN_FILE, checkpointing each one.

    A design (same experiments, whatever the file's order or style) that already completed under
    --results-dir is not run again without --again.
    """
    from llenergymeasure.campaign.api import check_slots, plan_campaign, preflight, refuse, repeat_notes
    from llenergymeasure.campaign.api import up as run_up
    from llenergymeasure.campaign.eta import Countdown, Gaps, Step, lanes
    from llenergymeasure.campaign.slots import gpus_per_unit
    from llenergymeasure.cli.progress import progress_events
    from llenergymeasure.cli.render import console, counts_line, manifest_table, next_steps
    from llenergymeasure.dispatch.gpus import host_gpus
    from llenergymeasure.dispatch.select import make_executor

    loaded, plan = plan_campaign(campaign_file)  # fail fast on bad input, before anything is created
    for w in [*loaded.warnings, *plan.notes]:
        click.echo(f"warning: {w}", err=True)
    for note in repeat_notes(campaign_file, plan, results_dir, again):
        click.echo(f"note: {note}", err=True)
    slots = host_gpus(gpus) if gpus else ()  # before anything is created: a bad --gpus starts nothing
    check_slots(plan, campaign_file, slots)
    slurm = with_overrides(plan.config.execution.slurm, slurm_partition, slurm_account, slurm_args)
    runner = make_executor(executor, {u.service for u in plan.units}, slurm)
    if not no_preflight:
        refuse(preflight(plan, runner), f"{campaign_file}: not started")
    ex = plan.config.execution
    countdown = Countdown(
        [Step(u.key, u.experiment.exp_id, u.cycle) for u in plan.units],
        Gaps(ex.config_gap_seconds, ex.cycle_gap_seconds),
        lanes(len(slots), (gpus_per_unit(e.config) for e in plan.experiments)),
    )
    with progress_events(countdown) as sink:
        run = run_up(plan, campaign_file, results_dir, runner, sink, gpus=slots, gpus_spec=gpus)
    if as_json:
        click.echo(run.store.render().decode())
        raise SystemExit(1 if run.store.manifest.counters().failed else 0)
    out = console()
    out.print(manifest_table(run.store.manifest))
    out.print(f"{counts_line(run.store.manifest)}; campaign directory: {run.layout.root}")
    for line in next_steps(run.layout.root, run.store.manifest.counters().failed):
        out.print(line)
    if run.store.manifest.counters().failed:
        raise SystemExit(1)
