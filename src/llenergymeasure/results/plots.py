"""The report's figures, drawn with matplotlib and written as PNG, SVG and PDF.

What each plot shows is chosen in ``plotdata`` (pure); this module draws it and writes the files.
Every figure follows the same rules, so a reader learns them once: ``o`` a config's centre, ``x``
each cycle beside it, bars as the caption says, a bar cut at the view's edge marked there with a
triangle, categories never joined by lines, the legend outside the data, human names throughout.
Figures are built without pyplot (``matplotlib.figure.Figure``): no global registry to leak into,
so nothing is left open once the files are written.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llenergymeasure.atomic import write_atomic
from llenergymeasure.errors import MissingDependencyError
from llenergymeasure.results.axes import axis_name, value_text
from llenergymeasure.results.metrics import label, spec
from llenergymeasure.results.pareto import pareto_axes, pareto_front
from llenergymeasure.results.plotdata import (
    CLIP_NOTE,
    Pair,
    View,
    backend,
    bar_in_view,
    bars_caption,
    cycle_offsets,
    dimension_series,
    pairs,
    series_offsets,
    swept_text,
    view_of,
)
from llenergymeasure.results.stats import ADJUSTED_METRIC, ENERGY_METRIC, FALLBACK_METRIC, ConfigStats, spread

FORMATS = ("png", "svg", "pdf")
PNG_DPI = 150
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "h")  # one per series: told apart in black and white too
CYCLE_MARKER = "x"
CYCLES_NOTE = "x: each cycle, beside its centre"


@dataclass(frozen=True)
class Figure:
    """One plot: ``name`` is its file stem (a unique slug), ``caption`` says how to read it."""

    name: str
    title: str
    caption: str
    fig: Any  # matplotlib.figure.Figure


@dataclass(frozen=True)
class WrittenFigure:
    """A figure on disk: the HTML embeds ``png_base64`` and links the SVG and PDF."""

    name: str
    title: str
    caption: str
    png: Path
    svg: Path
    pdf: Path
    png_base64: str


def _matplotlib() -> Any:
    """The matplotlib module, set up for drawing user strings; MissingDependencyError without it."""
    try:
        import matplotlib
        import matplotlib.figure
        import matplotlib.ticker
    except ImportError:
        raise MissingDependencyError("the report needs matplotlib: pip install 'llenergymeasure[report]'") from None
    # Texts hold user strings (swept values, file names), none is mathtext: '$\frac{$' would raise.
    matplotlib.rcParams["text.parse_math"] = False
    matplotlib.rcParams["svg.hashsalt"] = "llem"  # stable SVG ids: the same figure gives the same file
    return matplotlib


def _axes(size: tuple[float, float] = (6.4, 4.0)) -> tuple[Any, Any]:
    mpl = _matplotlib()
    fig = mpl.figure.Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, which="major", alpha=0.3, linewidth=0.6)
    return fig, ax


def _legend_outside(ax: Any, title: str | None = None) -> None:
    """A legend right of the data area, where it hides no point."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small", title=title)


def _apply_view(ax: Any, which: str, view: View) -> None:
    """Scale and limits of one axis; log ticks as plain numbers (no mathtext, see ``_matplotlib``)."""
    ticker = _matplotlib().ticker
    axis = ax.yaxis if which == "y" else ax.xaxis
    if view.log:
        (ax.set_yscale if which == "y" else ax.set_xscale)("log")
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
        axis.set_minor_formatter(ticker.NullFormatter())
    (ax.set_ylim if which == "y" else ax.set_xlim)(view.low, view.high)


def _bars(ax: Any, at: list[float], bars: list[Any], view: View, colour: str, vertical: bool) -> bool:
    """Bars at positions ``at`` (None: none) along the value axis, y when ``vertical`` else x; True if any was cut.

    Caps mark whole ends; an end cut by the view gets a triangle at the view's edge instead
    (▲ / ▼ on y, ▶ / ◀ on x).
    """
    drawn = [(pos, b) for pos, b in zip(at, bars, strict=True) if b is not None]
    if not drawn:
        return False

    def xy(positions: list[float], values: list[float]) -> tuple[list[float], list[float]]:
        return (positions, values) if vertical else (values, positions)

    lines = ax.vlines if vertical else ax.hlines
    lines([pos for pos, _ in drawn], [b.low for _, b in drawn], [b.high for _, b in drawn], colors=colour, lw=1.2)
    caps = [(pos, v) for pos, b in drawn for v, cut in ((b.low, b.cut_low), (b.high, b.cut_high)) if not cut]
    if caps:
        cap = "_" if vertical else "|"
        ax.plot(
            *xy([c[0] for c in caps], [c[1] for c in caps]), ls="none", marker=cap, ms=8, color=colour, label="_caps"
        )
    up, down = ("^", "v") if vertical else (">", "<")
    for edge, marker, name in ((view.high, up, "_cut_high"), (view.low, down, "_cut_low")):
        cut = [pos for pos, b in drawn if (b.cut_high if marker == up else b.cut_low)]
        if cut:
            ax.plot(
                *xy(cut, [edge] * len(cut)), ls="none", marker=marker, ms=6, color=colour, clip_on=False, label=name
            )
    return any(b.cut_low or b.cut_high for _, b in drawn)


def _caption(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p) + "."


def dimension_figure(
    stats: Sequence[ConfigStats],
    dimension: str,
    dims: Sequence[str],
    metric: str,
    backend_of: Mapping[str, str],
    confidence: float = 0.95,
    intervals_at_2: bool = False,
) -> Figure | None:
    """``metric`` for each value of one swept field: centres with bars, each cycle beside; None without data.

    One series per combination of the other swept fields (colour and marker), joined by a line only
    on a numeric axis. A backend-scoped axis holds only its backend's configs, and the caption says so.
    """
    data = dimension_series(stats, dimension, dims, metric, backend_of)
    if data is None:
        return None
    fig, ax = _axes()
    where = {x: i for i, x in enumerate(data.xs)}
    points = [p for pts in data.series.values() for p in pts]
    view = view_of([v for p in points for v in (p.summary.value, *p.cycles)])
    step = min(0.08, 0.6 / len(data.series) / 4)
    cut = False
    for k, (shift, (name, pts)) in enumerate(zip(series_offsets(len(data.series)), data.series.items(), strict=True)):
        colour, marker = f"C{k % 10}", MARKERS[k % len(MARKERS)]
        xs = [where[value_text(p.x)] + shift for p in pts]
        ax.plot(
            xs,
            [p.summary.value for p in pts],
            ls="-" if data.numeric and len(pts) > 1 else "none",
            marker=marker,
            ms=6,
            color=colour,
            zorder=3,
            label=name or "_centre",
        )
        bars = [bar_in_view(spread(p.summary, intervals_at_2), view) for p in pts]
        cut |= _bars(ax, xs, bars, view, colour, vertical=True)
        cx = [x + d for x, p in zip(xs, pts, strict=True) for d in cycle_offsets(len(p.cycles), step)]
        cy = [v for p in pts for v in p.cycles]
        ax.scatter(
            cx, cy, marker=CYCLE_MARKER, s=24, linewidths=1.0, alpha=0.8, color=colour, zorder=4, label="_cycles"
        )
    _apply_view(ax, "y", view)
    ax.set_xlim(-0.5, len(data.xs) - 0.5)
    ax.set_xticks(range(len(data.xs)), data.xs)
    ax.set_xlabel(axis_name(dimension))
    ax.set_ylabel(label(metric))
    title = f"{spec(metric).name} by {axis_name(dimension)}"
    ax.set_title(title)
    if len(data.series) > 1:
        _legend_outside(ax)
    caption = _caption(
        bars_caption([p.summary for p in points], confidence, intervals_at_2),
        CYCLES_NOTE,
        f"{data.scope} configs only ({axis_name(dimension)} applies to {data.scope} alone)" if data.left_out else None,
        "log scale" if view.log else None,
        CLIP_NOTE if cut else None,
    )
    return Figure(f"{_slug(spec(metric).name)}-by-{_slug(axis_name(dimension))}", title, caption, fig)


def scatter_figure(
    stats: Sequence[ConfigStats],
    x: str,
    y: str,
    backend_of: Mapping[str, str],
    confidence: float = 0.95,
    intervals_at_2: bool = False,
    frontier: bool = False,
    lower_y: bool = True,
    dims: Sequence[str] = (),
) -> tuple[Any, str] | None:
    """``y`` against ``x`` per config, bars both ways, cycles as ``x`` marks; the matplotlib figure and caption.

    One colour and marker per backend; points labelled by their swept fields (``dims``). With
    ``frontier``, the configs no other beats on both axes (lower x; ``lower_y``) are joined and circled.
    None when no config has both metrics.
    """
    data = pairs(stats, x, y)
    if not data:
        return None
    fig, ax = _axes((6.8, 4.4))
    xview = view_of([v for p in data for v in (p.x.value, *(c[0] for c in p.cycles))])
    yview = view_of([v for p in data for v in (p.y.value, *(c[1] for c in p.cycles))])
    shown = [d for d in dims if d != "config.backend"]
    cut = False
    for k, name in enumerate(sorted({backend(p.stats, backend_of) for p in data})):
        colour, marker = f"C{k % 10}", MARKERS[k % len(MARKERS)]
        sel = [p for p in data if backend(p.stats, backend_of) == name]
        cut |= _pair_bars(ax, sel, xview, yview, colour, intervals_at_2)
        ax.scatter(
            [c[0] for p in sel for c in p.cycles],
            [c[1] for p in sel for c in p.cycles],
            marker=CYCLE_MARKER,
            s=20,
            linewidths=1.0,
            alpha=0.7,
            color=colour,
            zorder=2,
            label="_cycles",
        )
        ax.plot(
            [p.x.value for p in sel], [p.y.value for p in sel], ls="none", marker=marker, ms=7, color=colour, label=name
        )
        for p in sel:
            text = swept_text(p.stats, shown, backend_of) or p.stats.hash_label
            ax.annotate(text, (p.x.value, p.y.value), textcoords="offset points", xytext=(5, 4), fontsize=7)
    notes = []
    if frontier:
        coords = [(p.x.value, p.y.value) for p in data]
        front = pareto_front(coords, lower_x=True, lower_y=lower_y)
        fx, fy = [coords[i][0] for i in front], [coords[i][1] for i in front]
        ax.plot(fx, fy, "k--", lw=1, label="Pareto frontier")
        ax.scatter(fx, fy, s=150, facecolors="none", edgecolors="k", zorder=3, label="_frontier")
        notes.append("circled and joined: the Pareto frontier (no config better on both axes)")
    _apply_view(ax, "x", xview)
    _apply_view(ax, "y", yview)
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    _legend_outside(ax)
    summaries = [s for p in data for s in (p.x, p.y)]
    logs = [n for n, v in (("x", xview), ("y", yview)) if v.log]
    caption = _caption(
        bars_caption(summaries, confidence, intervals_at_2) + " on both axes",
        CYCLES_NOTE.replace(", beside its centre", ""),
        *notes,
        f"log scale on {' and '.join(logs)}" if logs else None,
        CLIP_NOTE.replace("▲ / ▼", "by triangles") if cut else None,
    )
    return fig, caption


def _pair_bars(ax: Any, sel: list[Pair], xview: View, yview: View, colour: str, intervals_at_2: bool) -> bool:
    """Bars of ``sel`` along both axes, each at the other axis's centre; True if any was cut."""
    xs, ys = [p.x.value for p in sel], [p.y.value for p in sel]
    ybars = [bar_in_view(spread(p.y, intervals_at_2), yview) for p in sel]
    xbars = [bar_in_view(spread(p.x, intervals_at_2), xview) for p in sel]
    # A centre outside the other axis's view has no bar drawn along it (it would lie beyond the frame).
    ycut = _bars(ax, xs, ybars, yview, colour, vertical=True)
    xcut = _bars(ax, ys, xbars, xview, colour, vertical=False)
    return ycut or xcut


def pareto_figure(
    stats: Sequence[ConfigStats],
    dims: Sequence[str],
    backend_of: Mapping[str, str],
    confidence: float = 0.95,
    intervals_at_2: bool = False,
) -> Figure | None:
    """Energy per token (throughput without energy) against p90 TPOT, the frontier marked; None without serving."""
    axes = pareto_axes([set(s.metrics) for s in stats])
    if axes is None:
        return None
    drawn = scatter_figure(stats, axes.x, axes.y, backend_of, confidence, intervals_at_2, True, axes.lower_y, dims)
    if drawn is None:
        return None
    fig, caption = drawn
    title = f"Pareto frontier: {spec(axes.y).name} vs {spec(axes.x).name}"
    fig.axes[0].set_title(title)
    return Figure("pareto", title, caption, fig)


def energy_throughput_figure(
    stats: Sequence[ConfigStats],
    energy_metric: str,
    backend_of: Mapping[str, str],
    dims: Sequence[str],
    confidence: float = 0.95,
    intervals_at_2: bool = False,
) -> Figure | None:
    """``energy_metric`` against output throughput per config; None when no config has both."""
    drawn = scatter_figure(stats, FALLBACK_METRIC, energy_metric, backend_of, confidence, intervals_at_2, dims=dims)
    if drawn is None:
        return None
    fig, caption = drawn
    title = f"{spec(energy_metric).name} vs {spec(FALLBACK_METRIC).name.lower()}"
    fig.axes[0].set_title(title)
    return Figure("energy-vs-throughput", title, caption, fig)


def power_figure(columns: Mapping[str, Sequence[Any]], unit_file: str) -> Figure:
    """Power over the measurement window of one unit, a line per GPU, from its timeseries columns."""
    fig, ax = _axes((6.4, 3.2))
    gpus = sorted(set(columns["gpu"]))
    for k, gpu in enumerate(gpus):
        idx = [i for i, g in enumerate(columns["gpu"]) if g == gpu]
        ax.plot(
            [columns["t_s"][i] for i in idx], [columns["power_w"][i] for i in idx], color=f"C{k}", label=f"GPU {gpu}"
        )
    ax.set_xlabel("Time since window start (s)")
    ax.set_ylabel("Power (W)")
    title = f"Power draw of {unit_file}"
    ax.set_title(title)
    if len(gpus) > 1:
        _legend_outside(ax)
    caption = _caption(
        "power per GPU as sampled by NVML",
        "samples after the window's end are the meter's averaging tail",
    )
    return Figure(f"power-{_slug(Path(unit_file).stem)}", title, caption, fig)


def _power(rows: Sequence[Mapping[str, Any]], campaign_dir: Path, unit: str | None) -> Figure | None:
    """The power figure of ``unit`` (a result file name), else of the first unit with a timeseries."""
    chosen = next((r for r in rows if r.get("file") == unit), None) if unit else None
    chosen = chosen or next((r for r in rows if r.get("energy.timeseries_file")), None)
    name = chosen.get("energy.timeseries_file") if chosen else None
    if chosen is None or not name or not (campaign_dir / str(name)).is_file():
        return None
    from llenergymeasure.results.timeseries import read_timeseries

    columns = read_timeseries(campaign_dir / str(name)).to_pydict()
    return power_figure(columns, str(chosen.get("file") or name))


def timeline_figure(
    power: Mapping[str, Sequence[Any]],
    engine: Mapping[str, Sequence[Any]],
    unit_file: str,
    window_s: float | None = None,
) -> Figure:
    """Power (all GPUs summed, left axis) and the engine's running requests (right axis) on one time axis.

    ``window_s``: the energy window's duration, shaded from 0 (the samples may run past it both ways).
    """
    fig, ax = _axes((6.4, 3.2))
    if window_s is not None:
        ax.axvspan(0.0, window_s, color="0.9", zorder=0)
    by_t: dict[float, float] = {}
    for t, w in zip(power.get("t_s", []), power.get("power_w", []), strict=False):
        if w is not None:
            by_t[t] = by_t.get(t, 0.0) + w
    ts = sorted(by_t)
    ax.plot(ts, [by_t[t] for t in ts], color="C0", label="power")
    ax.set_xlabel("Time since window start (s)")
    ax.set_ylabel("Power (W)", color="C0")
    right = ax.twinx()
    pairs = [(t, r) for t, r in zip(engine["t_s"], engine["running"], strict=False) if r is not None]
    right.step([t for t, _ in pairs], [r for _, r in pairs], where="post", color="C1", label="running requests")
    right.set_ylabel("Running requests", color="C1")
    right.set_ylim(bottom=0)
    title = f"Power and running requests of {unit_file}"
    ax.set_title(title)
    caption = _caption(
        "power summed over GPUs as sampled by NVML (left)",
        "requests in the engine's running batch as its metrics reported them (right), on the same clock",
        "shaded: the energy window" if window_s is not None else None,
    )
    return Figure(f"timeline-{_slug(Path(unit_file).stem)}", title, caption, fig)


def _timeline(rows: Sequence[Mapping[str, Any]], campaign_dir: Path, chosen_id: str | None) -> Figure | None:
    """The timeline of the unit ``chosen_id`` names, else of the first unit with engine telemetry.

    ``chosen_id``: a result file, its stem, or a config hash's prefix. None without such a unit, or
    when its files are gone.
    """
    key = "engine_telemetry.timeseries"
    with_telemetry = [r for r in rows if r.get(key)]
    if chosen_id:
        with_telemetry = [
            r
            for r in with_telemetry
            if chosen_id in (r.get("file"), Path(str(r.get("file"))).stem)
            or str(r.get("config_hash", "")).startswith(chosen_id)
        ]
    chosen = with_telemetry[0] if with_telemetry else None
    if chosen is None or not (campaign_dir / str(chosen[key])).is_file():
        return None
    from llenergymeasure.results.engine_timeseries import read_engine_timeseries
    from llenergymeasure.results.timeseries import read_timeseries

    power_file = chosen.get("energy.timeseries_file")
    power = read_timeseries(campaign_dir / str(power_file)).to_pydict() if power_file else {}
    engine = read_engine_timeseries(campaign_dir / str(chosen[key])).to_pydict()
    duration = chosen.get("energy.duration_s")
    return timeline_figure(power, engine, str(chosen.get("file")), float(duration) if duration is not None else None)


def figures(
    stats: Sequence[ConfigStats],
    rows: Sequence[Mapping[str, Any]],
    dims: Sequence[str],
    ranked_metric: str,
    shown_metrics: Sequence[str],
    confidence: float,
    intervals_at_2: bool,
    backend_of: Mapping[str, str],
    campaign_dir: Path | None = None,
    unit: str | None = None,
    timeline: str | None = None,
) -> list[Figure]:
    """Every figure of the report, in reading order, names unique.

    The Pareto plot (server runs only), energy against throughput (the energy axis is
    ``ranked_metric`` when configs are ranked by an energy per token, else the total), one plot per
    swept field and metric of ``shown_metrics``, and the power of one unit (``unit``, else the first
    with a timeseries) when ``campaign_dir`` holds its file; power beside the engine's running requests
    for one unit with engine telemetry (``timeline``, else the first).
    """
    energy = ranked_metric if ranked_metric in (ENERGY_METRIC, ADJUSTED_METRIC) else ENERGY_METRIC
    built: list[Figure | None] = [
        pareto_figure(stats, dims, backend_of, confidence, intervals_at_2),
        energy_throughput_figure(stats, energy, backend_of, dims, confidence, intervals_at_2),
    ]
    for dim in dims:
        for metric in dict.fromkeys(shown_metrics):
            built.append(dimension_figure(stats, dim, dims, metric, backend_of, confidence, intervals_at_2))
    if campaign_dir is not None:
        built.append(_power(rows, campaign_dir, unit))
        built.append(_timeline(rows, campaign_dir, timeline))
    return _unique([f for f in built if f is not None])


def _slug(text: str) -> str:
    """A file-safe name: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "figure"


def _unique(figs: list[Figure]) -> list[Figure]:
    """``figs`` with a clashing name suffixed ``-2``, ``-3``: every figure gets files of its own."""
    seen: set[str] = set()
    out = []
    for f in figs:
        name, n = f.name, 1
        while name in seen:
            n += 1
            name = f"{f.name}-{n}"
        seen.add(name)
        out.append(f if name == f.name else Figure(name, f.title, f.caption, f.fig))
    return out


def _render(fig: Any, fmt: str) -> bytes:
    """One figure as ``fmt`` bytes, cropped to what is drawn (the legend outside included)."""
    buf = io.BytesIO()
    metadata = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
    fig.savefig(buf, format=fmt, dpi=PNG_DPI, bbox_inches="tight", metadata=metadata)
    return buf.getvalue()


def write_figures(
    figs: Sequence[Figure], out_dir: Path, write: Callable[[Path, bytes], None] = write_atomic
) -> list[WrittenFigure]:
    """Write every figure as ``NAME.png``, ``.svg`` and ``.pdf`` under ``out_dir``; each file atomically.

    The figure is cleared once written: its drawing (often the largest object of a report) is freed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for f in figs:
        paths = {fmt: out_dir / f"{f.name}.{fmt}" for fmt in FORMATS}
        png = b""
        for fmt, path in paths.items():
            data = _render(f.fig, fmt)
            write(path, data)
            png = data if fmt == "png" else png
        f.fig.clear()
        b64 = base64.b64encode(png).decode()
        written.append(WrittenFigure(f.name, f.title, f.caption, paths["png"], paths["svg"], paths["pdf"], b64))
    return written
