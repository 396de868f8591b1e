"""A self-contained HTML report: tables and PNG plots embedded as data URIs, one file to share."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from llenergymeasure.atomic import write_atomic
from llenergymeasure.config.dotted import varying_keys
from llenergymeasure.errors import MissingDependencyError
from llenergymeasure.results.pareto import pareto_axes, pareto_front
from llenergymeasure.results.stats import (
    ENERGY_METRIC,
    FALLBACK_METRIC,
    SERVING_METRICS,
    ConfigStats,
    Ranking,
    Summary,
    by_config,
    rank,
    ranking_metric,
)
from llenergymeasure.results.table import ResultsTable
from llenergymeasure.results.timeseries import read_timeseries

JPT = ENERGY_METRIC
TPS = FALLBACK_METRIC


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("the report needs matplotlib: pip install 'llenergymeasure[report]'") from None
    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    fig.clf()
    return base64.b64encode(buf.getvalue()).decode()


def plot_energy_vs_throughput(rows: list[dict[str, Any]]) -> str | None:
    """Scatter of J/token against tokens/s, one colour per backend."""
    pts = [r for r in rows if r.get(JPT) is not None]
    if not pts:
        return None
    plt = _pyplot()
    fig = plt.figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for backend in sorted({r["config.backend"] for r in pts}):
        sel = [r for r in pts if r["config.backend"] == backend]
        ax.scatter([r[TPS] for r in sel], [r[JPT] for r in sel], label=backend, alpha=0.8)
    ax.set_xlabel("output tokens / s")
    ax.set_ylabel("J / output token")
    ax.set_title("Energy vs throughput")
    ax.legend()
    return _png(fig)


def error_bars(summaries: list[Summary]) -> list[list[float]]:
    """Lengths below and above each mean to its interval's ends, for ``errorbar(yerr=...)``.

    Asymmetric: a log-t interval is not centred on the arithmetic mean, and with skewed cycles the
    mean can even lie above it (it is an interval for the geometric mean); clipped at 0, never drawn
    backwards. No interval (one cycle): no bar.
    """
    below = [max(s.mean - s.ci_low, 0.0) if s.ci_low is not None else 0.0 for s in summaries]
    above = [max(s.ci_high - s.mean, 0.0) if s.ci_high is not None else 0.0 for s in summaries]
    return [below, above]


def plot_by_dimension(stats: list[ConfigStats], dimension: str, metric: str, ylabel: str) -> str | None:
    """Mean and CI of ``metric`` for each value of one swept dimension."""
    pts = [(s.label.get(dimension), s.metrics[metric]) for s in stats if metric in s.metrics]
    if not pts:
        return None
    plt = _pyplot()
    pts.sort(key=lambda p: str(p[0]))
    fig = plt.figure(figsize=(6, 4))
    ax = fig.add_subplot()
    xs = [str(x) for x, _ in pts]
    means = [s.mean for _, s in pts]
    ax.errorbar(range(len(xs)), means, yerr=error_bars([s for _, s in pts]), fmt="o", capsize=4)
    ax.set_xticks(range(len(xs)), xs, rotation=30, ha="right")
    ax.set_xlabel(dimension.removeprefix("config."))
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel} by {dimension.removeprefix('config.')} (mean, 95% CI)")
    return _png(fig)


def plot_pareto(
    stats: list[ConfigStats], dims: list[str], backend_of: dict[str, str] | None = None
) -> tuple[str, str | None]:
    """Energy per token (or throughput) against p90 TPOT per config, CIs as bars, the Pareto frontier marked.

    One point per config (mean over cycles), coloured by backend, labelled with its swept values;
    the frontier is computed over all configs of every backend and drawn as a line through them.
    ``backend_of`` maps config hash to backend (the labels hold only the swept fields).
    """
    axes = pareto_axes([set(s.metrics) for s in stats])
    if axes is None:
        return "Pareto", None
    title = f"Pareto: {axes.y_label} vs p90 TPOT"
    pts = [s for s in stats if axes.x in s.metrics and axes.y in s.metrics]
    plt = _pyplot()
    fig = plt.figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot()
    backend_of = backend_of or {}

    def backend(s: ConfigStats) -> str:
        return str(s.label.get("config.backend") or backend_of.get(s.config_hash, "?"))

    backends = sorted({backend(s) for s in pts})
    shown = [d for d in dims if d != "config.backend"]
    for name in backends:
        sel = [s for s in pts if backend(s) == name]
        xs = [s.metrics[axes.x] for s in sel]
        ys = [s.metrics[axes.y] for s in sel]
        ax.errorbar(
            [m.mean for m in xs],
            [m.mean for m in ys],
            xerr=error_bars(xs),
            yerr=error_bars(ys),
            fmt="o",
            capsize=3,
            label=name,
            alpha=0.85,
        )
        for s, x, y in zip(sel, xs, ys, strict=True):
            text = ", ".join(f"{d.removeprefix('config.').split('.')[-1]}={s.label.get(d)}" for d in shown)
            ax.annotate(
                text or s.config_hash[:8], (x.mean, y.mean), textcoords="offset points", xytext=(5, 5), fontsize=7
            )
    coords = [(s.metrics[axes.x].mean, s.metrics[axes.y].mean) for s in pts]
    front = pareto_front(coords, lower_x=True, lower_y=axes.lower_y)
    ax.plot([coords[i][0] for i in front], [coords[i][1] for i in front], "k--", lw=1, label="Pareto frontier")
    ax.scatter(
        [coords[i][0] for i in front], [coords[i][1] for i in front], s=140, facecolors="none", edgecolors="k", zorder=3
    )
    # With 2 cycles a log-t interval can span decades; the view follows the means, bars are clipped.
    ax.set_xlim(*_view([c[0] for c in coords]))
    ax.set_ylim(*_view([c[1] for c in coords]))
    ax.set_xlabel("p90 TPOT (ms)")
    ax.set_ylabel(axes.y_label)
    ax.set_title(title + " (mean, 95% CI; bars clipped to the view)", fontsize=9)
    ax.legend(fontsize=8)
    return title, _png(fig)


def _view(values: list[float]) -> tuple[float, float]:
    """Axis limits around the points with a margin, from 0 up (error bars beyond them are clipped)."""
    hi = max(values)
    return 0.0, hi * 1.4 if hi > 0 else 1.0


def serving_table_html(stats: list[ConfigStats], dims: list[str]) -> str:
    """Serving metrics per config: mean and CI across cycles."""
    rows = [s for s in stats if any(m in s.metrics for m in SERVING_METRICS)]
    if not rows:
        return ""
    metrics = [m for m in SERVING_METRICS if any(m in s.metrics for s in rows)]
    head = "".join(f"<th>{html.escape(d.removeprefix('config.'))}</th>" for d in dims)
    head += "".join(f"<th>{html.escape(m.removeprefix('serving.'))}</th>" for m in metrics)
    lines = ["<h2>Serving (mean [95% CI] across cycles)</h2>", f"<table><tr><th>config</th>{head}</tr>"]
    for s in rows:
        cells = "".join(f"<td>{html.escape(str(s.label.get(d)))}</td>" for d in dims)
        cells += "".join(f"<td>{html.escape(format_summary(s.metrics.get(m)))}</td>" for m in metrics)
        lines.append(f"<tr><td>{s.config_hash[:8]}</td>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def format_summary(m: Summary | None) -> str:
    """``mean [low–high]``, or the mean alone without an interval, or a dash."""
    if m is None:
        return "–"
    if m.ci_low is None or m.ci_high is None:
        return f"{m.mean:.4g}"
    return f"{m.mean:.4g} [{m.ci_low:.3g}–{m.ci_high:.3g}]"


def plot_power(campaign_dir: Path, row: dict[str, Any]) -> str | None:
    """Power over time of one unit, per GPU, from its parquet timeseries."""
    name = row.get("energy.timeseries_file")
    if not name or not (campaign_dir / name).is_file():
        return None
    plt = _pyplot()
    table = read_timeseries(campaign_dir / name).to_pydict()
    fig = plt.figure(figsize=(6, 3))
    ax = fig.add_subplot()
    for gpu in sorted(set(table["gpu"])):
        idx = [i for i, g in enumerate(table["gpu"]) if g == gpu]
        ax.plot([table["t_s"][i] for i in idx], [table["power_w"][i] for i in idx], label=f"GPU {gpu}")
    ax.set_xlabel("s since window start")
    ax.set_ylabel("W")
    ax.set_title(f"Power: {row['file']}")
    ax.legend()
    return _png(fig)


def render_report(campaign_dir: Path, table: ResultsTable, unit: str | None = None) -> Path:
    """Write ``report.html`` into ``campaign_dir`` and return its path."""
    rows = table.rows
    dims = varying_keys(rows, "config.")
    stats = by_config(rows, dims)
    ranking = ranking_metric(stats)
    label = "J / output token" if ranking.metric == JPT else "tokens / s"
    backend_of = {str(r["config_hash"]): str(r.get("config.backend")) for r in rows}
    plots: list[tuple[str, str | None]] = [plot_pareto(stats, dims, backend_of)]
    plots.append(("Energy vs throughput", plot_energy_vs_throughput(rows)))
    for dim in dims:
        plots.append((f"{label} by {dim}", plot_by_dimension(stats, dim, ranking.metric, label)))
    chosen = next((r for r in rows if r["file"] == unit), None) if unit else None
    chosen = chosen or next((r for r in rows if r.get("energy.timeseries_file")), None)
    if chosen is not None:
        plots.append(("Power timeseries", plot_power(campaign_dir, chosen)))

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>llem report: {html.escape(campaign_dir.name)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}figure{display:inline-block;margin:1em}"
        ".note{color:#a60}</style></head><body>",
        f"<h1>{html.escape(campaign_dir.name)}</h1>",
        f"<p>{len(rows)} results from {len(stats)} configs.</p>",
    ]
    if not any(r.get("energy.available") for r in rows):
        parts.append("<p class='note'>No energy data: these runs were measured without NVML (no NVIDIA GPU).</p>")
    for problem in table.problems:
        parts.append(f"<p class='note'>skipped: {html.escape(problem)}</p>")
    parts.append(_ranking_table(stats, dims, ranking))
    parts.append(serving_table_html(stats, dims))
    for title, png in plots:
        if png:
            parts.append(
                f"<figure><img class='plot' alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
                f"<figcaption>{html.escape(title)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    out = campaign_dir / "report.html"
    write_atomic(out, "\n".join(parts).encode())
    return out


def _ranking_table(stats: list[ConfigStats], dims: list[str], ranking: Ranking) -> str:
    metric = ranking.metric
    head = "".join(f"<th>{html.escape(d.removeprefix('config.'))}</th>" for d in dims)
    lines = []
    if ranking.note:
        lines.append(f"<p class='note'>{html.escape(ranking.note)}</p>")
    lines.append(
        f"<table><tr><th>#</th>{head}<th>{metric}</th><th>95% CI</th><th>CI method</th><th>n</th><th>CV</th></tr>"
    )
    for i, (s, overlap) in enumerate(rank(stats, metric), start=1):
        m = s.metrics[metric]
        ci = f"{m.ci_low:.4g} – {m.ci_high:.4g}" if m.ci_low is not None and m.ci_high is not None else "–"
        cells = "".join(f"<td>{html.escape(str(s.label.get(d)))}</td>" for d in dims)
        cv = f"{m.cv:.1%}" if m.cv is not None else "–"
        mark = " ≈" if overlap else ""
        lines.append(
            f"<tr><td>{i}{mark}</td>{cells}<td>{m.mean:.4g}</td><td>{ci}</td><td>{m.ci_method or '–'}</td>"
            f"<td>{m.n}</td><td>{cv}</td></tr>"
        )
    lines.append(
        "</table><p>≈: confidence interval overlaps the config ranked above. CI method log-t: a t-interval of"
        " log values (geometric mean), used for quantities that cannot be negative; t: the plain t-interval.</p>"
    )
    return "\n".join(lines)
