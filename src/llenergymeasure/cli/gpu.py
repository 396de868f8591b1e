"""``llem gpu restore [DIR]``: put back GPU settings a campaign changed (power limit, locked clocks) by hand."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def gpu() -> None:
    """GPU settings campaigns change (gpu.power_limit_w, gpu.sm_clock_mhz, gpu.memory_clock_mhz)."""


@click.command()
@click.argument("campaign_dir", type=click.Path(path_type=Path), required=False)
def restore(campaign_dir: Path | None) -> None:
    """Put back the GPUs CAMPAIGN_DIR's journal has open; without DIR, those of every campaign that died.

    `llem campaign resume` and the next `llem campaign up` do this first on their own; this is for a
    machine that will run no further campaign, or a GPU to hand back now. A campaign that still runs
    keeps its GPUs (its lock is held) and is named instead.
    """
    from llenergymeasure.campaign import gpu_guard
    from llenergymeasure.campaign.lock import CampaignLock

    if campaign_dir is None:
        done = gpu_guard.restore_crashed()
        for folder, record in done:
            click.echo(f"put back GPU {record.uuid} (changed by {record.unit} of {folder})")
        click.echo(f"{len(done)} GPU(s) put back" if done else "no campaign left a GPU changed on this machine")
        return
    with CampaignLock.acquire(campaign_dir):
        records, elsewhere = gpu_guard.host_restore(campaign_dir)
    for record in records:
        click.echo(f"put back GPU {record.uuid} (changed by {record.unit})")
    for record in elsewhere:
        click.echo(f"GPU {record.uuid} is on {record.host}: run this there to put it back")
    click.echo(f"{len(records)} GPU(s) put back" if records else f"{campaign_dir}: no GPU of this host left changed")
