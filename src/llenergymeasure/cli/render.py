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
from llenergymeasure.results.stats import (
    ADJUSTED_METRIC,
    ENERGY_METRIC,
    FALLBACK_METRIC,
    ConfigStats,
    Ranking,
    Summary,
    comparison_note,
    range_note,
    rank,
    ranked_order,
    spread,
)

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
    """One row per unit with status and error; the GPU slot and the Slurm job (and its state) where there are some."""
    slots = any(e.slot for e in manifest.entries)
    jobs = any(e.job_id for e in manifest.entries)
    cols = ["unit", "backend", "cycle", "status", "retries"]
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
        out.add_row(
            e.key, e.backend, str(e.cycle), f"[{style}]{e.status}[/]", str(e.retry_count), *where, summary, error
        )
    return out


def counts_line(manifest: CampaignManifest) -> str:
    """``12 units: 10 completed, 1 failed, 1 pending``."""
    c = manifest.counters()
    parts = [f"{n} {k}" for k, n in c.model_dump().items() if k != "total" and n]
    return f"{c.total} units: " + ", ".join(parts)


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


def ranking_line(ranking: Ranking) -> str:
    """``ranked by METRIC (lower is better)``, plus why when energy is missing."""
    better = "lower" if ranking.lower_better else "higher"
    line = f"ranked by {ranking.metric} ({better} is better)"
    return f"{line}; {ranking.note}" if ranking.note else line


# Header of the column beside the ranked metric.
BESIDE_HEADERS = {ENERGY_METRIC: "total J/tok", ADJUSTED_METRIC: "J/tok above idle"}


def stats_table(
    stats: list[ConfigStats], dims: list[str], ranking: Ranking, confidence: float = 0.95, intervals_at_2: bool = False
) -> Table:
    """Configs ranked by ``ranking.metric``: centre (geometric mean with log-t, else mean), CI, n, CV.

    ``#`` carries the paired comparison with the row above (≈ not distinguishable, ? not compared);
    the CI column holds the 2 cycles' range at n = 2 unless ``intervals_at_2``, and says so at n = 1.
    ``ranking.beside`` (the other J/token figure) gets a column, then tok/s unless that is what is ranked.
    """
    beside = (BESIDE_HEADERS.get(ranking.beside, ranking.beside),) if ranking.beside else ()
    tps_column = ranking.metric != FALLBACK_METRIC
    cols = ("#", "config", *(d.removeprefix("config.") for d in dims), "centre", "CI", "CI method", "n", "CV", *beside)
    out = table(f"{ranking.metric} per config ({confidence:.0%} CI)", (*cols, "tok/s") if tps_column else cols)

    def extra(s: ConfigStats) -> list[str]:
        cells = []
        if ranking.beside:
            other = s.metrics.get(ranking.beside)
            cells.append(f"{other.value:.4g}" if other else "-")
        if tps_column:
            tps = s.metrics.get(FALLBACK_METRIC)
            cells.append(f"{tps.value:.1f}" if tps else "-")
        return cells

    for r in ranked_order(stats, ranking.metric, confidence):
        s = r.stats
        ident = [s.hash_label, *(_fmt(s.label.get(d)) for d in dims)]
        got = s.metrics.get(ranking.metric)
        if r.rank is None:
            cells = [f"{got.value:.4g}" if got else "-", r.reason or "", "-", str(got.n) if got else "-", "-"]
            out.add_row("-", *ident, *cells, *extra(s))
            continue
        assert got is not None  # ranked configs have the metric
        sp = spread(got, intervals_at_2)
        ci = f"{sp.low:.4g}–{sp.high:.4g}" if sp.low is not None and sp.high is not None else sp.method
        method = "-" if sp.kind == "none" else sp.method
        cv = f"{got.cv:.1%}" if got.cv is not None else "-"
        number = f"{r.rank} {r.mark}" if r.mark else str(r.rank)
        out.add_row(number, *ident, f"{got.value:.4g}", ci, method, str(got.n), cv, *extra(s))
    return out


def stats_notes(
    stats: list[ConfigStats], ranking: Ranking, confidence: float = 0.95, intervals_at_2: bool = False
) -> list[str]:
    """The lines under the ranking and serving tables: what ≈ and ? mean, and why a range stands for an interval."""
    shown: list[Summary] = [s.metrics[ranking.metric] for s in stats if ranking.metric in s.metrics]
    shown += [s.metrics[m] for s in stats for m, _ in SERVING_COLUMNS if m in s.metrics]
    notes = [comparison_note(rank(stats, ranking.metric, confidence), confidence)]
    note = range_note(shown, intervals_at_2, confidence)
    return [*notes, note] if note else notes


# Server-mode columns of `llem results`: (summarised metric, header).
SERVING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("serving.ttft_ms.p50", "p50 TTFT ms"),
    ("serving.ttft_ms.p90", "p90 TTFT ms"),
    ("serving.itl_ms.p90", "p90 ITL ms"),
    ("serving.tpot_ms.p90", "p90 TPOT ms"),
    ("serving.e2e_ms.p90", "p90 E2E ms"),
    ("serving.whole_run.output_tokens_per_s", "output tokens/s"),
    ("serving.request_goodput_per_s", "request goodput/s"),
    ("serving.goodput_output_tokens_per_s", "goodput tokens/s"),
    ("serving.send_lateness_ms.p99", "p99 send lateness ms"),
    ("serving.steady_state.energy_per_output_token_j", "steady-state J/token"),
    ("serving.whole_run.energy_per_output_token_j", "whole-run J/token"),
    ("serving.energy_per_goodput_token_j", "J/goodput token"),
    ("serving.steady_state.energy_per_goodput_token_j", "steady-state J/goodput token"),
)


def serving_table(
    stats: list[ConfigStats], dims: list[str], confidence: float = 0.95, intervals_at_2: bool = False
) -> Table | None:
    """Server-mode configs, one row per config and metric (narrow at any count): centre, CI, n.

    At n = 2 the CI column holds the range of the two cycles, marked ``(range)``, unless ``intervals_at_2``.
    """
    rows = [s for s in stats if any(m in s.metrics for m, _ in SERVING_COLUMNS)]
    if not rows:
        return None
    out = table(
        f"serving metrics per config ({confidence:.0%} CI across cycles; each row says its centre and interval)",
        ["config", *(d.removeprefix("config.") for d in dims), "metric", "centre", "CI", "method", "n"],
    )
    for s in rows:
        for i, (metric, header) in enumerate((m, h) for m, h in SERVING_COLUMNS if m in s.metrics):
            m = s.metrics[metric]
            ident = [s.hash_label, *(_fmt(s.label.get(d)) for d in dims)] if i == 0 else [""] * (1 + len(dims))
            method = f"{m.centre_kind}, {m.ci_method}" if m.ci_method else m.centre_kind
            out.add_row(*ident, header, f"{m.value:.4g}", spread_text(m, intervals_at_2), method, str(m.n))
    return out


def spread_text(m: Summary, intervals_at_2: bool = False) -> str:
    """``low–high`` for an interval, ``low–high (range)`` for 2 cycles' range, ``one cycle`` for none."""
    sp = spread(m, intervals_at_2)
    if sp.low is None or sp.high is None:
        return "one cycle"
    return f"{sp.low:.4g}–{sp.high:.4g}{' (range)' if sp.kind == 'range' else ''}"
