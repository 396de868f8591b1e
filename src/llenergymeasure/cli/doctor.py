"""``llem doctor``: what this machine can run, and for each failed check what to do."""

from __future__ import annotations

import click


@click.command()
def doctor() -> None:
    """Check what each executor needs here; print a fix for each failure, then one line of what can run.

    Checked: LLEM_VERSION, Docker and its images (the selected and the CPU ones), the NVIDIA runtime,
    GPUs and NVML, Slurm, RAPL and each backend's interpreter.

    Exits 0 when something can run (a local backend, a usable image or a Slurm partition), else 1.
    """
    from llenergymeasure.cli.render import console
    from llenergymeasure.dispatch.doctor import can_run, checks, probe, summary

    out = console()
    found = probe()
    for c in checks(found):
        mark = "--  " if c.info else "[green]ok[/]  " if c.ok else "[red]FAIL[/]"
        out.print(f"{mark} {c.name}: {c.detail}" + (f"\n      fix: {c.fix}" if not c.ok and c.fix else ""))
    runs = can_run(found)
    out.print(("can run here: " if runs else "nothing can run here: ") + summary(found))
    if not runs:
        raise SystemExit(1)
