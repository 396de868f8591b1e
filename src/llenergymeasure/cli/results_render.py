"""``llem results`` in the terminal: the view model's ranked and serving tables, its notes and warnings."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from llenergymeasure.cli.render import table
from llenergymeasure.results.export import ranked_cells, ranked_columns, serving_cells, serving_columns
from llenergymeasure.results.view import ResultsView


def ranked_table(view: ResultsView) -> Table:
    """Configs in ranked order: the same columns and digits as the CSV/Markdown/LaTeX exports."""
    out = table(f"{view.campaign}: {view.ranked_spec.label} per config", ranked_columns(view))
    for row in view.rows:
        out.add_row(*(Text(c) for c in ranked_cells(view, row)))
    return out


def serving_table(view: ResultsView) -> Table | None:
    """Server-mode configs, one row per config and metric (narrow at any count): centre, spread, method, n."""
    if not view.serving_rows:
        return None
    out = table(
        f"serving metrics per config ({view.confidence:.0%} CI across cycles; each row says its centre and interval)",
        serving_columns(view),
    )
    for row in serving_cells(view, lambda spec: spec.short):
        out.add_row(*(Text(x) for x in row))
    return out


def print_view(view: ResultsView, out: Console) -> None:
    """The ranking line, the tables, then what a reader must know to trust them."""
    out.print(view.method_line, markup=False)
    out.print(ranked_table(view))
    served = serving_table(view)
    if served is not None:
        out.print(served)
    for note in view.notes:
        out.print(note, markup=False)
    for warning in view.warnings:
        out.print(warning, style="yellow", markup=False)
