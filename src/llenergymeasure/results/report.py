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
from llenergymeasure.results.stats import (
    ADJUSTED_METRIC,
    ENERGY_METRIC,
    FALLBACK_METRIC,
    ConfigStats,
    Ranking,
    Summary,
    by_config,
    rank,
    ranking_metric,
    unranked,
)
from llenergymeasure.results.table import ResultsTable
from llenergymeasure.results.timeseries import read_timeseries

JPT = ENERGY_METRIC
ADJUSTED = ADJUSTED_METRIC
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
    label = {JPT: "J / output token", ADJUSTED: "J / output token above idle"}.get(ranking.metric, "tokens / s")
    plots: list[tuple[str, str | None]] = [("Energy vs throughput", plot_energy_vs_throughput(rows))]
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
    for s, reason in unranked(stats, metric):
        cells = "".join(f"<td>{html.escape(str(s.label.get(d)))}</td>" for d in dims)
        got = s.metrics.get(metric)
        value = f"{got.mean:.4g}" if got else "–"
        lines.append(
            f"<tr class='unranked'><td>–</td>{cells}<td>{value}</td><td colspan='4'>{html.escape(reason)}</td></tr>"
        )
    lines.append(
        "</table><p>≈: confidence interval overlaps the config ranked above. CI method log-t: a t-interval of"
        " log values (geometric mean), used for quantities that cannot be negative; t: the plain t-interval.</p>"
    )
    return "\n".join(lines)
