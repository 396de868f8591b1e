"""``llem campaign plan``: show what a campaign would run. No side effects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from llenergymeasure.campaign.manifest import ManifestEntry


@click.command()
@click.argument("campaign_file", type=click.Path(path_type=Path))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Machine-readable output: everything that decides the run (order, seed, gaps, skips, duplicates, hash).",
)
@click.option(
    "--executor",
    type=click.Choice(["auto", "local", "docker", "slurm"]),
    default="auto",
    show_default=True,
    help="Executor whose images or engines are checked, as `up` would choose it.",
)
@click.option(
    "--results-dir",
    type=click.Path(path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Where earlier campaigns are read for unit times, to estimate the duration.",
)
def plan(campaign_file: Path, as_json: bool, executor: str, results_dir: Path) -> None:
    """Expand CAMPAIGN_FILE and show experiments, skipped configs, counts and design hash.

    Also warns (on stderr) about what `up` would refuse: models that cannot be resolved and backends
    without an image or engine; and estimates the duration from the gaps and the unit times of
    earlier campaigns under --results-dir that ran these configs (same design hash or same config hashes).
    """
    from llenergymeasure.campaign.api import plan_campaign, preflight
    from llenergymeasure.campaign.eta import Gaps, Step, by_config, plan_estimate, plan_line
    from llenergymeasure.cli.render import console, counted, plan_table
    from llenergymeasure.dispatch.select import make_executor
    from llenergymeasure.errors import ExecutorError

    loaded, p = plan_campaign(campaign_file)
    try:
        problems = preflight(p, make_executor(executor, {u.service for u in p.units}, p.config.execution.slurm))
    except ExecutorError as exc:
        problems = [*preflight(p, None), str(exc)]
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    cfg = p.config
    if as_json:
        click.echo(json.dumps({**p.describe(), "warnings": loaded.warnings}, indent=2))
        return
    out = console()
    out.print(plan_table(p))
    for s in cfg.skipped_configs:
        out.print(f"skipped {s.overrides}: {s.reason}")
    ids = [e.exp_id for e in p.experiments]
    for d in cfg.duplicate_configs:
        out.print(f"duplicate {d.source}: same as {ids[d.same_as]} ({d.same_as_source}); runs once")
    for w in [*loaded.warnings, *p.notes]:
        out.print(f"[yellow]warning:[/] {w}")
    ex = cfg.execution
    seed = f", seed {p.shuffle_seed}" if ex.cycle_order == "shuffled" else ""
    out.print(
        f"{counted(len(p.experiments), 'experiment')} x {counted(ex.n_cycles, 'cycle')} = "
        f"{counted(len(p.units), 'unit')} ({ex.cycle_order}{seed}); {len(cfg.skipped_configs)} skipped; "
        f"{counted(len(cfg.duplicate_configs), 'duplicate')} merged; design hash {cfg.campaign_design_hash}"
    )
    order = [Step(u.key, u.experiment.exp_id, u.cycle) for u in p.units]
    known = by_config(earlier_entries(results_dir))
    hashes = [u.experiment.config_hash for u in p.units]
    out.print(plan_line(plan_estimate(order, hashes, known, Gaps(ex.config_gap_seconds, ex.cycle_gap_seconds))))


def earlier_entries(results_dir: Path) -> list[ManifestEntry]:
    """Every unit of the campaigns under ``results_dir``; unreadable manifests are passed over (an estimate only)."""
    from llenergymeasure.campaign.layout import MANIFEST_NAME
    from llenergymeasure.campaign.store import ManifestStore
    from llenergymeasure.errors import ManifestError

    entries: list[ManifestEntry] = []
    for path in sorted(results_dir.glob(f"*/{MANIFEST_NAME}")):
        try:
            entries += ManifestStore.load(path).manifest.entries
        except ManifestError:
            continue
    return entries
