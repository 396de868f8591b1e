"""The ranked table of a ``ResultsView`` as CSV, Markdown, LaTeX or JSON. Pure: text out.

Every format holds the same columns and the same digits (results/metrics.sig: 4 significant
figures); the JSON keeps full precision and adds what a script needs (rank, centre, interval,
method, n, exp id, the comparison with the row above, the campaign's facts). For every cycle's
full-precision values, read results.parquet.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

from llenergymeasure.results.metrics import MetricSpec, sig
from llenergymeasure.results.view import Cell, ConfigRow, ResultsView

Format = Literal["csv", "md", "latex", "json"]
FORMATS: tuple[Format, ...] = ("csv", "md", "latex", "json")


def _head(spec: MetricSpec) -> str:
    """The column header: the metric's short name, which carries its unit (``J/tok``, ``p90 TTFT ms``)."""
    return spec.short


def ranked_columns(view: ResultsView) -> list[str]:
    """Headers of the ranked table: rank, identity, swept axes, the ranked metric's centre and spread, then beside."""
    cols = ["rank", "exp", "config", *view.axes, _head(view.ranked_spec), "low", "high", "spread", "method", "n", "CV"]
    cols += [_head(s) for s in (view.beside_spec, view.throughput_spec) if s is not None]
    return cols


def _centre(c: Cell | None) -> str:
    return sig(c.centre) if c else "-"


def ranked_cells(view: ResultsView, row: ConfigRow) -> list[str]:
    """One row of the ranked table as text, in ``ranked_columns`` order."""
    rank = "-" if row.rank is None else f"{row.rank}{' ' + row.mark if row.mark else ''}"
    c = row.ranked
    if row.rank is None or c is None:
        spread_cells = ["-", "-", "-", row.reason or "-", str(c.n) if c else "0", "-"]
    else:
        kind = {"interval": f"{view.confidence:.0%} CI", "range": "range", "none": "none"}[c.kind]
        cv = f"{c.cv:.1%}" if c.cv is not None else "-"
        spread_cells = [sig(c.low), sig(c.high), kind, c.method, str(c.n), cv]
    cells = [rank, row.exp_id or "-", row.short_hash, *(row.fields[a] for a in view.axes), _centre(c), *spread_cells]
    if view.beside_spec is not None:
        cells.append(_centre(row.beside))
    if view.throughput_spec is not None:
        cells.append(_centre(row.throughput))
    return cells


def serving_columns(view: ResultsView) -> list[str]:
    """Headers of the serving table: one row per config and metric, narrow at any count of metrics."""
    return ["exp", "config", *view.axes, "metric", "centre", "CI", "method", "n"]


def serving_cells(view: ResultsView, metric_name: Callable[[MetricSpec], str]) -> list[list[str]]:
    """The serving table's rows; a config's identity only on its first row. ``metric_name``: short or full label."""
    rows = []
    for s in view.serving_rows:
        ident = [s.exp_id or "-", s.short_hash, *(s.fields[a] for a in view.axes)]
        for spec in (sp for sp in view.serving_specs if sp.key in s.cells):
            c = s.cells[spec.key]
            rows.append([*ident, metric_name(spec), sig(c.centre), c.spread_text, c.method, str(c.n)])
            ident = [""] * len(ident)
    return rows


def csv_text(columns: list[str], rows: list[list[str]]) -> str:
    """A CSV table with a header row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def _md_escape(text: str) -> str:
    """A cell that stays one cell: backslash first, then the pipe, no line breaks, no raw HTML."""
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").splitlines())


def markdown_text(columns: list[str], rows: list[list[str]], text_columns: set[str], footer: list[str]) -> str:
    """A pipe table (numbers right-aligned), then the lines saying how it was computed and how to read it."""
    lines = [
        "| " + " | ".join(_md_escape(c) for c in columns) + " |",
        "|" + "|".join("---" if c in text_columns else "---:" for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    for line in footer:
        lines += ["", _md_escape(line)]
    return "\n".join(lines) + "\n"


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "≈": r"$\approx$",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (and ≈, – as LaTeX writes them)."""
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex_text(
    columns: list[str], rows: list[list[str]], text_columns: set[str], footer: list[str], source: str
) -> str:
    """A booktabs ``tabular``; the lines saying how it was computed and how to read it go in comments above it."""
    align = "".join("l" if c in text_columns else "r" for c in columns)
    lines = [
        f"% {source}: needs \\usepackage{{booktabs}}",
        *(f"% {' '.join(line.splitlines())}" for line in footer),
        f"\\begin{{tabular}}{{{align}}}",
        "\\toprule",
        " & ".join(latex_escape(c) for c in columns) + " \\\\",
        "\\midrule",
        *(" & ".join(latex_escape(c) for c in row) + " \\\\" for row in rows),
        "\\bottomrule",
        "\\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def _ranked(view: ResultsView) -> tuple[list[str], list[list[str]], set[str]]:
    cols = ranked_columns(view)
    return cols, [ranked_cells(view, r) for r in view.rows], {"exp", "config", "spread", "method", *view.axes}


def to_csv(view: ResultsView) -> str:
    """The ranked table as CSV: data only, ``rank`` a number (or empty) and its mark (≈, ?) a column of its own."""
    cols, rows, _ = _ranked(view)
    split = [[*r[0].partition(" ")[::2], *r[1:]] for r in rows]
    split = [["" if row[0] == "-" else row[0], *row[1:]] for row in split]
    return csv_text(["rank", "mark", *cols[1:]], split)


def footer(view: ResultsView) -> list[str]:
    """What a pasted table needs under it: how it was computed, what its marks mean, what to beware of."""
    return [view.method_line, *view.notes, *view.warnings]


def to_markdown(view: ResultsView) -> str:
    """The ranked table as Markdown, with the method line and the notes under it."""
    cols, rows, text = _ranked(view)
    return markdown_text(cols, rows, text, footer(view))


def to_latex(view: ResultsView) -> str:
    """The ranked table as a booktabs tabular, the method line and the notes in comments above it."""
    cols, rows, text = _ranked(view)
    return latex_text(cols, rows, text, footer(view), "llem results --format latex")


def _cell_json(c: Cell | None) -> dict[str, Any] | None:
    return asdict(c) if c else None


def to_json(view: ResultsView) -> str:
    """The view as JSON: campaign facts, ranking, and every config in ranked order with full-precision figures."""
    stats = {s.config_hash: s for s in view.stats}
    configs = []
    for row in view.rows:
        c = row.ranked
        s = stats.get(row.config_hash)
        configs.append(
            {
                "rank": row.rank,
                "mark": row.mark,
                "exp_id": row.exp_id,
                "config_hash": row.config_hash,
                "short_hash": row.short_hash,
                "backend": row.backend,
                "fields": row.fields,
                "ranking_metric": view.ranking.metric,
                "centre": c.centre if c else None,
                "centre_kind": c.centre_kind if c else None,
                "ci_low": c.interval_low if c else None,
                "ci_high": c.interval_high if c else None,
                "ci_method": c.interval_method if c else None,
                "shown": {"kind": c.kind, "low": c.low, "high": c.high, "method": c.method} if c else None,
                "confidence": view.confidence,
                "n": c.n if c else 0,
                "cv": c.cv if c else None,
                "vs_above": asdict(row.vs_above) if row.vs_above else None,
                "unranked_reason": row.reason,
                "high_cv": row.high_cv,
                "metrics": {k: asdict(m) for k, m in s.metrics.items()} if s else {},
                "cycles": s.cycles if s else {},
            }
        )
    doc = {
        "campaign": {"name": view.campaign, **{f.key: f.value for f in view.facts}},
        "ranking": {
            "metric": view.ranking.metric,
            "name": view.ranked_spec.label,
            "lower_better": view.ranking.lower_better,
            "beside": view.ranking.beside,
            "note": view.ranking.note,
            "confidence": view.confidence,
            "method": view.method_line,
        },
        "n_results": view.n_results,
        "configs": configs,
    }
    return json.dumps(doc, indent=2, default=str)


def render(view: ResultsView, fmt: Format) -> str:
    """The ranked table (or, for json, the whole view) in ``fmt``."""
    return {"csv": to_csv, "md": to_markdown, "latex": to_latex, "json": to_json}[fmt](view)
