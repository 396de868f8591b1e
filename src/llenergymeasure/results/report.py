"""``llem report``: one campaign's view, its figures (PNG, SVG, PDF) and the HTML page, written to its folder.

The parts are built elsewhere: the view model (results/view.py), the figures (results/plots.py),
the page (results/html.py). This module only joins them and writes the files; it is handed the
manifest and the campaign plan, never reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llenergymeasure.atomic import write_atomic
from llenergymeasure.results.compare import CampaignStats
from llenergymeasure.results.compare_plot import plot_compare
from llenergymeasure.results.compare_view import ComparisonView
from llenergymeasure.results.html import render_comparison_html, render_html
from llenergymeasure.results.metrics import spec
from llenergymeasure.results.plots import Figure, figures, scatter_figure, write_figures
from llenergymeasure.results.saturation_plot import curves, saturation_figure
from llenergymeasure.results.stats import FALLBACK_METRIC, RankBy
from llenergymeasure.results.table import ResultsTable
from llenergymeasure.results.view import ResultsView, build_view

ENERGY = "energy.energy_per_output_token_j"
LATENCY = "metrics.latency_s.mean"
FIGURES_DIR = "figures"


def render_report(
    campaign_dir: Path,
    table: ResultsTable,
    manifest: dict[str, Any] | None,
    snapshot: dict[str, Any] | None,
    *,
    unit: str | None = None,
    timeline: str | None = None,
    rank_by: RankBy = "total",
    intervals_at_2: bool = False,
    confidence: float = 0.95,
    builtin_digest: str | None = None,
    builtin_llem: str | None = None,
) -> Path:
    """Write ``report.html`` and ``figures/*.{png,svg,pdf}`` into ``campaign_dir``; return the page's path."""
    rows = table.rows
    view = build_view(
        rows,
        manifest,
        snapshot,
        campaign=str((manifest or {}).get("campaign") or campaign_dir.name),
        rank_by=rank_by,
        confidence=confidence,
        intervals_at_2=intervals_at_2,
        problems=table.problems,
        builtin_digest=builtin_digest,
        builtin_llem=builtin_llem,
    )
    figs = report_figures(view, rows, campaign_dir, unit, timeline)
    written = write_figures(figs, campaign_dir / FIGURES_DIR)
    out = campaign_dir / "report.html"
    write_atomic(out, render_html(view, written, campaign_dir).encode())
    return out


def report_figures(
    view: ResultsView,
    rows: list[dict[str, Any]],
    campaign_dir: Path | None = None,
    unit: str | None = None,
    timeline: str | None = None,
) -> list[Figure]:
    """The report's figures: the ranked metric and its companions by each swept axis, scatter plots, power."""
    has_energy = any(r.get("energy.available") for r in rows)
    ranked = view.ranking.metric
    companions: tuple[str, ...] = (ENERGY, FALLBACK_METRIC) if has_energy else (FALLBACK_METRIC, LATENCY)
    if any(d.startswith("config.gpu.") for d in view.dims):  # a power or clock study: what a cap costs in latency
        companions = (*companions, LATENCY)
    shown = [ranked, *(m for m in companions if m != ranked)]
    backend_of = {r.config_hash: r.backend for r in view.rows}
    figs = figures(
        view.stats,
        rows,
        view.dims,
        ranked,
        shown,
        view.confidence,
        view.intervals_at_2,
        backend_of,
        campaign_dir,
        unit,
        timeline,
    )
    if campaign_dir is not None and (curve := saturation_figure(curves(rows, campaign_dir))) is not None:
        figs.append(curve)  # a saturation sweep: load offered against throughput and energy per token
    if has_energy and any(d.startswith("config.gpu.") for d in view.dims):
        # A power-limit or clock study: which caps give the least energy for the latency they cost.
        drawn = scatter_figure(
            view.stats, LATENCY, ENERGY, backend_of, view.confidence, view.intervals_at_2, True, True, view.dims
        )
        if drawn is not None:
            fig, caption = drawn
            title = f"{spec(ENERGY).name} vs {spec(LATENCY).name.lower()} across GPU settings"
            figs.insert(0, Figure("energy-latency-frontier", title, caption, fig))
    return figs


def render_comparison_report(
    out_dir: Path,
    stem: str,
    campaigns: list[CampaignStats],
    view: ComparisonView,
    confidence: float,
    intervals_at_2: bool,
) -> Path:
    """Write ``STEM.html`` and ``STEM-figures/``: one figure per headline metric, the same configs side by side."""
    figs = []
    for metric in dict.fromkeys(c.metric for c in view.comparisons):
        fig = plot_compare(campaigns, view.matched, metric, confidence, intervals_at_2)
        if fig is not None:
            s = spec(metric)
            caption = f"each config's centre in each campaign, in {s.unit}; the table above gives the ratios"
            figs.append(Figure(f"compare-{metric.replace('.', '-')}", f"{s.name} across campaigns", caption, fig))
    written = write_figures(figs, out_dir / f"{stem}-figures")
    out = out_dir / f"{stem}.html"
    write_atomic(out, render_comparison_html(view, written, out_dir).encode())
    return out
