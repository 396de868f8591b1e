"""The HTML report of a ``ResultsView``: header, tables and figures in one self-contained page. Pure.

Figures arrive already written (results/plots.py: PNG embedded as a data URI, SVG and PDF beside the
report, linked by relative path). Every table is narrow enough for a 1280 px page: the serving
figures are one row per config and metric, not one column per metric, and long cells wrap.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from llenergymeasure.results.compare_view import ComparisonView
from llenergymeasure.results.export import ranked_cells, ranked_columns, serving_cells, serving_columns
from llenergymeasure.results.plots import WrittenFigure
from llenergymeasure.results.view import ResultsView

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:0.9em;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right;overflow-wrap:break-word}"
    "th{background:#f4f4f4}td.t,th.t{text-align:left}"
    "figure{display:inline-block;margin:1em 1em 1em 0;max-width:100%;vertical-align:top}"
    "figure img{max-width:100%;height:auto}figcaption{font-size:0.85em;max-width:40em}"
    ".note{color:#a60}.method{font-style:italic}"
    "dl.head{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 1em}"
    "dl.head dt{font-weight:bold}dl.head dd{margin:0;overflow-wrap:anywhere}"
)
TEXT_COLUMNS = ("exp", "config", "spread", "method", "metric", "CI")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _row(cells: Sequence[str], text: Sequence[bool], tag: str = "td") -> str:
    """One table row; text cells align left, numbers right."""
    return (
        "<tr>"
        + "".join(
            f"<{tag} class='t'>{_e(c)}</{tag}>" if t else f"<{tag}>{_e(c)}</{tag}>"
            for c, t in zip(cells, text, strict=True)
        )
        + "</tr>"
    )


def _text(columns: Sequence[str], view: ResultsView) -> list[bool]:
    return [c in TEXT_COLUMNS or c in view.axes for c in columns]


def header_html(view: ResultsView) -> str:
    """The header facts as a definition list."""
    items = "".join(f"<dt>{_e(f.name)}</dt><dd>{_e(f.text)}</dd>" for f in view.facts)
    return f"<dl class='head'>{items}</dl>"


def ranked_table_html(view: ResultsView) -> str:
    """The ranked table with human headers: the ranked metric's name and unit over its centre column."""
    cols = ranked_columns(view)
    human = {view.ranked_spec.short: view.ranked_spec.label}
    for s in (view.beside_spec, view.throughput_spec):
        if s is not None:
            human[s.short] = s.label
    shown = [human.get(c, c) for c in cols]
    text = _text(cols, view)
    lines = ["<table class='ranked'>", _row(shown, text, "th")]
    lines += [_row(ranked_cells(view, r), text) for r in view.rows]
    lines.append("</table>")
    return "\n".join(lines)


def serving_table_html(view: ResultsView) -> str:
    """Server-mode figures, one row per config and metric (human name with unit): narrow at any count."""
    if not view.serving_rows:
        return ""
    cols = serving_columns(view)
    text = _text(cols, view)
    lines = [
        f"<h2>Serving (centre and {view.confidence:.0%} CI across cycles)</h2>",
        "<table class='serving'>",
        _row(cols, text, "th"),
        *(_row(row, text) for row in serving_cells(view, lambda spec: spec.label)),
        "</table>",
    ]
    return "\n".join(lines)


def figures_html(figures: Sequence[WrittenFigure], relative_to: Path) -> str:
    """Each figure: the PNG inline, its caption, and links to the SVG and PDF beside the report."""
    parts = []
    for f in figures:
        links = " ".join(
            f"<a href='{_e(str(p.relative_to(relative_to)) if p.is_relative_to(relative_to) else str(p))}'>{kind}</a>"
            for kind, p in (("SVG", f.svg), ("PDF", f.pdf))
        )
        parts.append(
            f"<figure><img class='plot' alt='{_e(f.title)}' src='data:image/png;base64,{f.png_base64}'>"
            f"<figcaption><b>{_e(f.title)}.</b> {_e(f.caption)} ({links})</figcaption></figure>"
        )
    return "\n".join(parts)


def render_html(view: ResultsView, figures: Sequence[WrittenFigure], report_dir: Path, extra: str = "") -> str:
    """The whole page: title, header facts, what was ranked and how, tables, notes, figures."""
    energy = view.ranking.note is None or "energy unavailable" not in view.ranking.note
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>llem report: {_e(view.campaign)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(view.campaign)}</h1>",
        header_html(view),
        f"<p>{view.n_results} results from {len(view.rows)} configs.</p>",
        f"<p class='method'>{_e(view.method_line)}</p>",
    ]
    if not energy:
        parts.append(
            "<p class='note'>No energy data: these runs were measured without NVML (no NVIDIA GPU), so configs are"
            f" ranked by {_e(view.ranked_spec.phrase)}; throughput and latency are shown below.</p>"
        )
    parts += [f"<p class='note'>{_e(w)}</p>" for w in view.warnings]
    parts.append("<h2>Ranking</h2>")
    parts.append(ranked_table_html(view))
    parts += [f"<p>{_e(n)}</p>" for n in view.notes if "energy unavailable" not in n]
    parts.append(serving_table_html(view))
    parts.append(extra)
    if figures:
        parts.append("<h2>Figures</h2>")
        parts.append(figures_html(figures, report_dir))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def render_comparison_html(view: ComparisonView, figures: Sequence[WrittenFigure], report_dir: Path) -> str:
    """The comparison page: the campaigns' facts side by side (differences marked), the table, the figures."""
    facts = [*view.facts, *view.environment]
    fact_rows = "".join(
        f"<tr{' class=differs' if len(set(values)) > 1 else ''}><th class='t'>{_e(name)}</th>"
        + "".join(f"<td class='t'>{_e(v)}</td>" for v in values)
        + "</tr>"
        for name, values in facts
    )
    text = [c in view.text_columns for c in view.columns]
    table = [_row(view.columns, [True] * len(view.columns), "th"), *(_row(r, text) for r in view.rows)]
    title = " vs ".join(view.campaigns)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>llem comparison: {_e(title)}</title>",
        f"<style>{STYLE}tr.differs th,tr.differs td{{background:#fff3d6}}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        "<h2>Campaigns</h2><p>Rows that differ between campaigns are highlighted.</p>",
        "<table><tr><th class='t'>fact</th>" + "".join(f"<th class='t'>{_e(c)}</th>" for c in view.campaigns) + "</tr>",
        fact_rows,
        "</table>",
        f"<p class='method'>{_e(view.method_line)}</p>",
        "<table class='compare'>",
        *table,
        "</table>",
        *(f"<p class='note'>{_e(n)}</p>" for n in view.notes),
    ]
    if figures:
        parts += ["<h2>Figures</h2>", figures_html(figures, report_dir)]
    parts.append("</body></html>")
    return "\n".join(parts)
