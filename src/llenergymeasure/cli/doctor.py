"""``llem doctor``: is this machine ready to run campaigns, and if not, what to do."""

from __future__ import annotations

import click


@click.command()
def doctor() -> None:
    """Check Docker, images, NVIDIA runtime, GPUs and NVML; print a fix for each failure."""
    from llenergymeasure.cli.render import console
    from llenergymeasure.dispatch.doctor import run_checks

    out = console()
    checks = run_checks()
    for c in checks:
        mark = "[green]ok[/]  " if c.ok else "[red]FAIL[/]"
        out.print(f"{mark} {c.name}: {c.detail}" + (f"\n      fix: {c.fix}" if not c.ok and c.fix else ""))
    if not all(c.ok for c in checks):
        raise SystemExit(1)
