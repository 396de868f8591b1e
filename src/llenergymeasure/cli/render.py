"""Terminal rendering shared by commands: plan tables, manifest tables, summaries."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from llenergymeasure.campaign.manifest import CampaignManifest
from llenergymeasure.campaign.plan import CampaignPlan

STATUS_STYLE = {"completed": "green", "failed": "red", "running": "yellow", "pending": "dim", "skipped": "dim"}


# Width of output that goes to a file or a pipe: wide enough that no row is ever cut or wrapped.
PIPE_WIDTH = 100_000


def console() -> Console:
    """Stdout console; plain text when not a terminal, so output stays script-friendly.

    Rich assumes 80 columns when stdout is not a terminal, which would squeeze and wrap tables
    piped into ``less`` or a file; there rows keep their natural width instead ($COLUMNS still rules).
    """
    out = Console(highlight=False, soft_wrap=True)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH
    return out


def table(title: str, columns: tuple[str, ...] | list[str]) -> Table:
    """A table whose cells wrap (``fold``) when the terminal is narrow: names and errors are never cut."""
    t = Table(title=title)
    for col in columns:
        t.add_column(col, overflow="fold")
    return t


def _fmt(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def plan_table(plan: CampaignPlan) -> Table:
    """One row per unique experiment, one column per swept dimension."""
    cols = ["exp", "backend", *(p for p in plan.varying if p != "backend"), "hash"]
    out = table(f"campaign {plan.config.name}", cols)
    for exp in plan.experiments:
        row = [exp.exp_id, exp.config.backend]
        row += [_fmt(exp.summary.get(p, "-")) for p in plan.varying if p != "backend"]
        out.add_row(*row, exp.config_hash[: exp.hash_len])
    return out


def manifest_table(manifest: CampaignManifest, job_states: dict[str, str] | None = None) -> Table:
    """One row per unit: status, start and end (UTC), duration, error; the GPU slot and Slurm job where there are."""
    from llenergymeasure.campaign.eta import clock_text, duration_s, duration_text

    slots = any(e.slot for e in manifest.entries)
    jobs = any(e.job_id for e in manifest.entries)
    cols = ["unit", "backend", "cycle", "status", "retries", "start (UTC)", "end (UTC)", "duration"]
    cols += ["slot"] * slots + ["job"] * jobs + ["summary", "error"]
    out = table(f"{manifest.campaign} ({manifest.design_hash})", cols)
    states = job_states or {}
    for e in manifest.entries:
        style = STATUS_STYLE.get(e.status, "")
        summary = ", ".join(f"{k}={_fmt(v)}" for k, v in e.config_summary.items())
        error = f"{e.error_type}: {e.error_message}" if e.error_type else ""
        where = [e.slot or ""] * slots
        if jobs:
            state = states.get(e.job_id or "")
            where.append(f"{e.job_id} ({state})" if e.job_id and state else e.job_id or "")
        took = duration_s(e)
        times = [clock_text(e.started_at), clock_text(e.completed_at, e.started_at)]
        times.append(duration_text(took) if took is not None else "")
        row = [e.key, e.backend, str(e.cycle), f"[{style}]{e.status}[/]", str(e.retry_count)]
        out.add_row(*row, *times, *where, summary, error)
    return out


def counts_line(manifest: CampaignManifest) -> str:
    """``12 units: 10 completed, 1 failed, 1 pending``, then the wall and summed unit time once a unit ended."""
    from llenergymeasure.campaign.eta import totals_text

    c = manifest.counters()
    parts = [f"{n} {k}" for k, n in c.model_dump().items() if k != "total" and n]
    totals = totals_text(manifest.entries)
    return f"{c.total} units: " + ", ".join(parts) + (f"; {totals}" if totals else "")


def counted(n: int, noun: str) -> str:
    """``1 experiment``, ``2 experiments``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def resume_command(root: Path) -> str:
    """``llem campaign resume DIR``: the folder named, so it works whatever --results-dir was."""
    return f"llem campaign resume {shlex.quote(str(root))}"


def next_steps(root: Path, failed: int) -> list[str]:
    """What to run after a campaign, with its real directory, so the first result is one paste away."""
    where = shlex.quote(str(root))
    lines = ["next:", f"  llem campaign status {where}", f"  llem results {where}", f"  llem report {where}"]
    if failed:
        lines.insert(1, f"  {resume_command(root)}   # retries the {failed} failed")
    return lines
