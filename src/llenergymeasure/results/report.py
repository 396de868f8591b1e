"""A self-contained HTML report: tables and PNG plots embedded as data URIs, one file to share."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llenergymeasure.atomic import write_atomic
from llenergymeasure.config.dotted import varying_keys
from llenergymeasure.errors import MissingDependencyError
from llenergymeasure.results.drift import baseline_drift, drift_line
from llenergymeasure.results.pareto import pareto_axes, pareto_front
from llenergymeasure.results.stats import (
    ADJUSTED_METRIC,
    ENERGY_METRIC,
    FALLBACK_METRIC,
    SERVING_METRICS,
    ConfigStats,
    RankBy,
    Ranking,
    Summary,
    by_config,
    comparison_note,
    range_note,
    rank,
    ranked_order,
    ranking_metric,
    spread,
)
from llenergymeasure.results.table import ResultsTable
from llenergymeasure.results.timeseries import read_timeseries

JPT = ENERGY_METRIC
ADJUSTED = ADJUSTED_METRIC
TPS = FALLBACK_METRIC
LATENCY = "metrics.latency_s.mean"

# Human names, with units, for every metric the report shows.
LABELS: dict[str, str] = {
    "energy.energy_per_output_token_j": "Energy per output token (J)",
    "energy.adjusted_energy_per_output_token_j": "Energy per output token above idle (J)",
    "energy.energy_per_request_j": "Energy per request (J)",
    "metrics.output_tokens_per_s": "Output throughput (tokens/s)",
    "metrics.latency_s.mean": "Mean request latency (s)",
    "metrics.ttft_s.mean": "Mean time to first token (s)",
    "metrics.itl_s.mean": "Mean inter-token latency (s)",
    "energy.energy_per_decode_token_j": "Energy per decode token (J)",
    "energy.co2e_g_per_1k_tokens": "Carbon per 1000 output tokens (gCO2e)",
    "metrics.decode_tokens_per_s": "Decode throughput (tokens/s)",
    # Server mode (scenario.kind: server).
    "serving.ttft_ms.p50": "p50 time to first token (ms)",
    "serving.ttft_ms.p90": "p90 time to first token (ms)",
    "serving.ttft_ms.p99": "p99 time to first token (ms)",
    "serving.itl_ms.p50": "p50 inter-token latency (ms)",
    "serving.itl_ms.p90": "p90 inter-token latency (ms)",
    "serving.itl_ms.p99": "p99 inter-token latency (ms)",
    "serving.tpot_ms.p50": "p50 time per output token (ms)",
    "serving.tpot_ms.p90": "p90 time per output token (ms)",
    "serving.e2e_ms.p90": "p90 end-to-end latency (ms)",
    "serving.whole_run.requests_per_s": "Served requests (requests/s)",
    "serving.whole_run.output_tokens_per_s": "Served output throughput (tokens/s)",
    "serving.goodput_output_tokens_per_s": "Goodput (tokens/s)",
    "serving.request_goodput_per_s": "Request goodput (requests/s)",
    "serving.whole_run.energy_per_output_token_j": "Energy per output token, whole load (J)",
    "serving.steady_state.energy_per_output_token_j": "Energy per output token, steady state (J)",
    "serving.steady_state.energy_per_request_j": "Energy per request, steady state (J)",
    "serving.energy_per_goodput_token_j": "Energy per goodput token (J)",
    "serving.steady_state.energy_per_goodput_token_j": "Energy per goodput token, steady state (J)",
    "serving.send_lateness_ms.p50": "p50 send lateness (ms)",
    "serving.send_lateness_ms.p99": "p99 send lateness (ms)",
}


def label(metric: str) -> str:
    """The human name of ``metric`` with its unit; the column name when there is none."""
    return LABELS.get(metric, metric)


def _distinct(values: Any) -> list[str]:
    return sorted({str(v) for v in values if v not in (None, "", "None")})


def header(rows: list[dict[str, Any]], manifest: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Where the numbers come from: models, engines and versions, hardware, executor, dates, llem. Pure."""
    backends = _distinct(r.get("config.backend") for r in rows)
    engines = []
    for backend in backends:
        mine = [r for r in rows if r.get("config.backend") == backend]
        names = sorted(
            {
                k
                for r in mine
                for k, v in r.items()
                if k.startswith("environment.packages.") and v not in (None, "", "None")
            }
        )
        versions = ", ".join(
            f"{n.removeprefix('environment.packages.')} {'/'.join(_distinct(r.get(n) for r in mine))}" for n in names
        )
        engines.append(f"{backend} ({versions})" if versions else backend)
    gpus = _distinct(r.get("gpu") for r in rows)
    cpus = _distinct(r.get("environment.cpu") for r in rows)
    hardware = f"GPU: {'; '.join(gpus)}" if gpus else f"CPU only: {'; '.join(cpus) or 'unknown'} (no GPU)"
    launch = _distinct(r.get("environment.launch") for r in rows)
    executor = (manifest or {}).get("executor") or "unknown (no manifest.json)"
    images = _distinct(r.get("environment.container_image") for r in rows)
    if images:
        executor += f"; images {', '.join(images)}"
    if launch:
        executor += f"; {'/'.join(launch)} launch"
    days = _distinct(str(r.get("started_at") or "")[:10] for r in rows)
    date = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}" if days else "unknown"
    return [
        ("Model(s)", ", ".join(_distinct(r.get("config.model") for r in rows))),
        ("Backend(s)", "; ".join(engines)),
        ("Hardware", hardware),
        ("Executor", executor),
        ("Measured", date),
        ("llem", ", ".join(_distinct(r.get("environment.llem_version") for r in rows)) or "unknown"),
    ]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        # Every text drawn holds user strings (swept values, model names) and none is mathtext:
        # drawn as written, since '$\frac{$' as mathtext would raise and lose the whole report.
        matplotlib.rcParams["text.parse_math"] = False
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("the report needs matplotlib: pip install 'llenergymeasure[report]'") from None
    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    fig.clf()
    return base64.b64encode(buf.getvalue()).decode()


def plot_energy_vs_throughput(rows: list[dict[str, Any]], stats: list[ConfigStats]) -> str | None:
    """J/token against tokens/s: each cycle a faint point, each config's centre a solid one; colour per backend."""
    pts = [r for r in rows if r.get(JPT) is not None and r.get(TPS) is not None]
    if not pts:
        return None
    plt = _pyplot()
    fig = plt.figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for i, backend in enumerate(sorted({r["config.backend"] for r in pts})):
        colour = f"C{i}"
        sel = [r for r in pts if r["config.backend"] == backend]
        ax.scatter([r[TPS] for r in sel], [r[JPT] for r in sel], color=colour, alpha=0.3, s=14)
        hashes = {r["config_hash"] for r in sel}
        means = [s for s in stats if s.config_hash in hashes and JPT in s.metrics and TPS in s.metrics]
        ax.scatter(
            [s.metrics[TPS].value for s in means],
            [s.metrics[JPT].value for s in means],
            color=colour,
            s=50,
            label=f"{backend} (config centre; faint: cycles)",
        )
    ax.set_xlabel(label(TPS))
    ax.set_ylabel(label(JPT))
    ax.set_title("Energy vs throughput")
    ax.legend(fontsize="small")
    return _png(fig)


def error_bars(summaries: list[Summary], intervals_at_2: bool = False) -> list[list[float]]:
    """Lengths below and above each centre to what ``spread`` shows, for ``errorbar(yerr=...)``.

    The interval, asymmetric for log-t; with 2 cycles their range (unless ``intervals_at_2``), as
    the tables show it, never the 10^-2..10^7 a log-t interval reaches from 2 values; clipped at 0,
    never drawn backwards. One cycle: no bar.
    """
    spreads = [spread(s, intervals_at_2) for s in summaries]
    below = [
        max(s.value - sp.low, 0.0) if sp.low is not None else 0.0 for s, sp in zip(summaries, spreads, strict=True)
    ]
    above = [
        max(sp.high - s.value, 0.0) if sp.high is not None else 0.0 for s, sp in zip(summaries, spreads, strict=True)
    ]
    return [below, above]


def bars_caption(summaries: list[Summary], confidence: float = 0.95, intervals_at_2: bool = False) -> str:
    """What a plot's bars are: the interval, and where configs have 2 cycles, their range instead."""
    kinds = {spread(s, intervals_at_2).kind for s in summaries}
    if "range" in kinds and "interval" not in kinds:
        return "centre and range of the 2 cycles"
    text = f"centre and {confidence:.0%} CI"
    return f"{text}; 2 cycles: their range" if "range" in kinds else text


def clipped(centres: list[float], bars: list[list[float]], view: tuple[float, float]) -> bool:
    """Whether some bar reaches beyond the axis limits ``view`` (the plot then says so)."""
    below, above = bars
    return any(c - b < view[0] or c + a > view[1] for c, b, a in zip(centres, below, above, strict=True))


def _order(value: Any) -> tuple[int, Any]:
    """Numbers in numeric order, then anything else by its text."""
    return (0, value) if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, str(value))


@dataclass(frozen=True)
class SeriesPoint:
    """One config on a by-dimension plot: its x value, mean and CI, and every cycle's value."""

    x: Any
    summary: Summary
    cycles: list[float]


def dimension_series(
    stats: list[ConfigStats], rows: list[dict[str, Any]], dimension: str, others: list[str], metric: str
) -> dict[str, list[SeriesPoint]]:
    """Points of ``metric`` against ``dimension``, one series per combination of the ``others``. Pure.

    A 2-D sweep (batch size x precision) becomes one line per precision over batch size, instead of
    every config stacked at each batch size. Series and points keep a stable, numeric-aware order.
    """
    series: dict[str, list[SeriesPoint]] = {}
    keyed = sorted(
        (s for s in stats if metric in s.metrics), key=lambda s: [_order(s.label.get(d)) for d in [*others, dimension]]
    )
    for s in keyed:
        name = ", ".join(f"{d.removeprefix('config.')}={s.label.get(d)}" for d in others)
        cycles = [float(r[metric]) for r in rows if r["config_hash"] == s.config_hash and r.get(metric) is not None]
        series.setdefault(name, []).append(SeriesPoint(s.label.get(dimension), s.metrics[metric], cycles))
    for points in series.values():
        points.sort(key=lambda p: _order(p.x))
    return series


def plot_by_dimension(
    stats: list[ConfigStats],
    rows: list[dict[str, Any]],
    dimension: str,
    others: list[str],
    metric: str,
    confidence: float = 0.95,
    intervals_at_2: bool = False,
) -> str | None:
    """Centre and CI of ``metric`` for each value of one swept dimension, each cycle drawn faintly behind.

    One series per combination of the other swept dimensions, told apart by colour and a legend.
    The view follows the cycles and centres: a wide interval from few cycles (n = 3 gives t = 4.3)
    is clipped rather than squashing every point into a line, and the title says so.
    """
    series = dimension_series(stats, rows, dimension, others, metric)
    if not series:
        return None
    plt = _pyplot()
    xs = sorted({p.x for pts in series.values() for p in pts}, key=_order)
    where = {str(x): i for i, x in enumerate(xs)}
    fig = plt.figure(figsize=(6, 4))
    ax = fig.add_subplot()
    width = 0.6 / max(len(series), 1)
    summaries = [p.summary for pts in series.values() for p in pts]
    view = view_limits([v for pts in series.values() for p in pts for v in (p.summary.value, *p.cycles)])
    for k, (name, points) in enumerate(series.items()):
        shift = (k - (len(series) - 1) / 2) * width
        pos = [where[str(p.x)] + shift for p in points]
        colour = f"C{k}"
        for x, p in zip(pos, points, strict=True):
            ax.scatter([x] * len(p.cycles), p.cycles, color=colour, alpha=0.3, s=12)
        ax.errorbar(
            pos,
            [p.summary.value for p in points],
            yerr=error_bars([p.summary for p in points], intervals_at_2),
            fmt="o-" if len(points) > 1 else "o",
            capsize=4,
            color=colour,
            label=name or None,
        )
    ax.set_ylim(*view)
    ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=30, ha="right")
    ax.set_xlabel(dimension.removeprefix("config."))
    ax.set_ylabel(label(metric))
    caption = bars_caption(summaries, confidence, intervals_at_2)
    if clipped([m.value for m in summaries], error_bars(summaries, intervals_at_2), view):
        caption += "; bars clipped to the view"
    ax.set_title(f"{label(metric)} by {dimension.removeprefix('config.')}\n({caption}; faint: each cycle)", fontsize=9)
    if any(series):
        ax.legend(title=", ".join(d.removeprefix("config.") for d in others), fontsize="small")
    return _png(fig)


def plot_pareto(
    stats: list[ConfigStats],
    dims: list[str],
    backend_of: dict[str, str] | None = None,
    confidence: float = 0.95,
    intervals_at_2: bool = False,
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
            [m.value for m in xs],
            [m.value for m in ys],
            xerr=error_bars(xs, intervals_at_2),
            yerr=error_bars(ys, intervals_at_2),
            fmt="o",
            capsize=3,
            label=name,
            alpha=0.85,
        )
        for s, x, y in zip(sel, xs, ys, strict=True):
            text = ", ".join(f"{d.removeprefix('config.').split('.')[-1]}={s.label.get(d)}" for d in shown)
            ax.annotate(text or s.hash_label, (x.value, y.value), textcoords="offset points", xytext=(5, 5), fontsize=7)
    coords = [(s.metrics[axes.x].value, s.metrics[axes.y].value) for s in pts]
    front = pareto_front(coords, lower_x=True, lower_y=axes.lower_y)
    ax.plot([coords[i][0] for i in front], [coords[i][1] for i in front], "k--", lw=1, label="Pareto frontier")
    ax.scatter(
        [coords[i][0] for i in front], [coords[i][1] for i in front], s=140, facecolors="none", edgecolors="k", zorder=3
    )
    # A log-t interval from 3 cycles can still span decades; the view follows the centres, bars are clipped.
    ax.set_xlim(*view_limits([c[0] for c in coords]))
    ax.set_ylim(*view_limits([c[1] for c in coords]))
    ax.set_xlabel("p90 TPOT (ms)")
    ax.set_ylabel(axes.y_label)
    drawn = [s.metrics[m] for s in pts for m in (axes.x, axes.y)]
    ax.set_title(f"{title} ({bars_caption(drawn, confidence, intervals_at_2)}; bars clipped to the view)", fontsize=9)
    ax.legend(fontsize=8)
    return title, _png(fig)


def view_limits(values: list[float]) -> tuple[float, float]:
    """Axis limits around the points with a margin (bars beyond them are clipped): from 0 up, or around negatives."""
    lo, hi = min(values), max(values)
    if lo >= 0:
        return 0.0, hi * 1.4 if hi > 0 else 1.0
    margin = 0.2 * ((hi - lo) or -lo)
    return lo - margin, max(hi, 0.0) + margin


def serving_table_html(stats: list[ConfigStats], dims: list[str], intervals_at_2: bool = False) -> str:
    """Serving metrics per config: centre and CI across cycles (the range at n = 2, see ``format_summary``)."""
    rows = [s for s in stats if any(m in s.metrics for m in SERVING_METRICS)]
    if not rows:
        return ""
    metrics = [m for m in SERVING_METRICS if any(m in s.metrics for s in rows)]
    head = "".join(f"<th>{html.escape(d.removeprefix('config.'))}</th>" for d in dims)
    head += "".join(f"<th>{html.escape(m.removeprefix('serving.'))}</th>" for m in metrics)
    lines = ["<h2>Serving (centre [95% CI] across cycles)</h2>", f"<table><tr><th>config</th>{head}</tr>"]
    for s in rows:
        cells = "".join(f"<td>{html.escape(str(s.label.get(d)))}</td>" for d in dims)
        cells += "".join(f"<td>{html.escape(format_summary(s.metrics.get(m), intervals_at_2))}</td>" for m in metrics)
        lines.append(f"<tr><td>{s.hash_label}</td>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def format_summary(m: Summary | None, intervals_at_2: bool = False) -> str:
    """``centre [low–high]``; ``centre (range low–high)`` at n = 2; ``centre (one cycle)``; or a dash."""
    if m is None:
        return "–"
    sp = spread(m, intervals_at_2)
    if sp.low is None or sp.high is None:
        return f"{m.value:.4g} (one cycle)"
    if sp.kind == "range":
        return f"{m.value:.4g} (range {sp.low:.3g}–{sp.high:.3g})"
    return f"{m.value:.4g} [{sp.low:.3g}–{sp.high:.3g}]"


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


def render_report(
    campaign_dir: Path,
    table: ResultsTable,
    unit: str | None = None,
    rank_by: RankBy = "total",
    intervals_at_2: bool = False,
    confidence: float = 0.95,
) -> Path:
    """Write ``report.html`` into ``campaign_dir`` and return its path; configs ranked as ``rank_by`` asks.

    With 2 cycles tables and plots show the cycles' range, not the interval, unless ``intervals_at_2``.
    """
    rows = table.rows
    dims = varying_keys(rows, "config.")
    stats = by_config(rows, dims, confidence=confidence)
    ranking = ranking_metric(stats, rank_by)
    has_energy = any(r.get("energy.available") for r in rows)
    backend_of = {str(r["config_hash"]): str(r.get("config.backend")) for r in rows}
    plots: list[tuple[str, str | None]] = [plot_pareto(stats, dims, backend_of, confidence, intervals_at_2)]
    plots.append(("Energy vs throughput", plot_energy_vs_throughput(rows, stats)))
    shown = [ranking.metric, *(m for m in ((JPT, TPS) if has_energy else (TPS, LATENCY)) if m != ranking.metric)]
    for dim in dims:
        others = [d for d in dims if d != dim]
        for metric in shown:
            png = plot_by_dimension(stats, rows, dim, others, metric, confidence, intervals_at_2)
            plots.append((f"{label(metric)} by {dim}", png))
    chosen = next((r for r in rows if r["file"] == unit), None) if unit else None
    chosen = chosen or next((r for r in rows if r.get("energy.timeseries_file")), None)
    if chosen is not None:
        plots.append(("Power timeseries", plot_power(campaign_dir, chosen)))

    n_cycles = max((s.metrics[ranking.metric].n for s in stats if ranking.metric in s.metrics), default=0)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>llem report: {html.escape(campaign_dir.name)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}figure{display:inline-block;margin:1em}"
        ".note{color:#a60}dl.head{display:grid;grid-template-columns:max-content auto;gap:2px 1em}"
        "dl.head dt{font-weight:bold}dl.head dd{margin:0}</style></head><body>",
        f"<h1>{html.escape(campaign_dir.name)}</h1>",
        "<dl class='head'>",
        *(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in header(rows, _manifest(campaign_dir))),
        "</dl>",
        f"<p>{len(rows)} results from {len(stats)} configs, up to {n_cycles} cycles each.</p>",
    ]
    if not has_energy:
        parts.append(
            "<p class='note'>No energy data: these runs were measured without NVML (no NVIDIA GPU), so configs are"
            f" ranked by {html.escape(label(ranking.metric))}; throughput and latency are shown below.</p>"
        )
    for problem in table.problems:
        parts.append(f"<p class='note'>skipped: {html.escape(problem)}</p>")
    for drift in baseline_drift(rows):
        if drift.flagged:
            parts.append(f"<p class='note'>{html.escape(drift_line(drift))}</p>")
    parts.append(_ranking_table(stats, dims, ranking, has_energy, confidence, intervals_at_2))
    parts.append(serving_table_html(stats, dims, intervals_at_2))
    tabled = [m for s in stats for k, m in s.metrics.items() if k == ranking.metric or k in SERVING_METRICS]
    note = range_note(tabled, intervals_at_2, confidence)
    if note:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
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


def _manifest(campaign_dir: Path) -> dict[str, Any] | None:
    """The campaign's manifest, for the header (a folder of bare result files has none)."""
    try:
        data = json.loads((campaign_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _ranking_table(
    stats: list[ConfigStats],
    dims: list[str],
    ranking: Ranking,
    show_note: bool = True,
    confidence: float = 0.95,
    intervals_at_2: bool = False,
) -> str:
    """Configs in ranked order with centre, CI (range at n = 2), method, n, CV and the figure beside; unranked after.

    The rank cell carries the paired comparison with the row above (≈ not distinguishable, ? not compared).
    """
    metric = ranking.metric
    head = "".join(f"<th>{html.escape(d.removeprefix('config.'))}</th>" for d in dims)
    beside_head = f"<th>{html.escape(label(ranking.beside))}</th>" if ranking.beside else ""
    lines = []
    if ranking.note and show_note:
        lines.append(f"<p class='note'>{html.escape(ranking.note)}</p>")
    lines.append(
        f"<table><tr><th>#</th>{head}<th>{html.escape(label(metric))}</th><th>{confidence:.0%} CI</th>"
        f"<th>CI method</th><th>n</th><th>CV</th>{beside_head}</tr>"
    )

    def beside(s: ConfigStats) -> str:
        if not ranking.beside:
            return ""
        other = s.metrics.get(ranking.beside)
        return f"<td>{other.value:.4g}</td>" if other else "<td>–</td>"

    for r in ranked_order(stats, metric, confidence):
        s = r.stats
        cells = "".join(f"<td>{html.escape(str(s.label.get(d)))}</td>" for d in dims)
        m = s.metrics.get(metric)
        if r.rank is None or m is None:
            value = f"{m.value:.4g}" if m else "–"
            lines.append(
                f"<tr class='unranked'><td>–</td>{cells}<td>{value}</td><td colspan='4'>{html.escape(r.reason or '')}"
                f"</td>{beside(s)}</tr>"
            )
            continue
        sp = spread(m, intervals_at_2)
        ci = f"{sp.low:.4g} – {sp.high:.4g}" if sp.low is not None and sp.high is not None else sp.method
        method = "–" if sp.kind == "none" else sp.method
        cv = f"{m.cv:.1%}" if m.cv is not None else "–"
        mark = f" {r.mark}" if r.mark else ""
        lines.append(
            f"<tr><td>{r.rank}{mark}</td>{cells}<td>{m.value:.4g}</td><td>{html.escape(ci)}</td><td>{method}</td>"
            f"<td>{m.n}</td><td>{cv}</td>{beside(s)}</tr>"
        )
    legend = html.escape(comparison_note(rank(stats, metric, confidence), confidence))
    lines.append(
        f"</table><p>{legend}. CI method log-t: a t-interval of log values, around the geometric mean, used"
        " for quantities that cannot be negative; t: the plain t-interval, around the arithmetic mean.</p>"
    )
    return "\n".join(lines)
