"""The saturation sweep's curve (``scenario.saturation``) in the report: load offered against what it bought.

One figure for the campaign: offered request rate on x; output throughput (left) and energy per
output token (right, or median TTFT where no energy was measured) on y; a line per unit of a
config with a sweep, sustained rates filled, rates the server fell behind hollow, the highest
sustained rate marked. Rates are numbers, not categories, so a config's points are joined.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llenergymeasure.results.plots import MARKERS, Figure, _axes, _caption, _legend_outside


@dataclass(frozen=True)
class CurvePoint:
    """One phase of one unit's sweep, as drawn."""

    profile: str
    offered_per_s: float
    tokens_per_s: float
    energy_per_token_j: float | None
    ttft_p50_ms: float | None
    sustained: bool | None


@dataclass(frozen=True)
class Curve:
    """One unit's sweep: its label (config and cycle), its phases by offered rate, its highest sustained rate."""

    label: str
    points: list[CurvePoint]
    max_sustained_per_s: float | None


def curve_of(result: Mapping[str, Any], label: str) -> Curve | None:
    """A unit's curve from its result document; None when it ran no sweep."""
    sat = ((result.get("serving") or {}).get("saturation")) or None
    if not sat:
        return None
    points = []
    for p in sat.get("points") or []:
        offered = p.get("offered_rate_per_s") or p.get("completed_rate_per_s")
        if offered is None:
            continue
        window = p.get("window") or {}
        points.append(
            CurvePoint(
                profile=str(p.get("profile")),
                offered_per_s=float(offered),
                tokens_per_s=float(window.get("output_tokens_per_s") or 0.0),
                energy_per_token_j=window.get("energy_per_output_token_j"),
                ttft_p50_ms=(p.get("ttft_ms") or {}).get("p50"),
                sustained=p.get("sustained"),
            )
        )
    points.sort(key=lambda q: q.offered_per_s)
    return Curve(label, points, sat.get("max_sustained_rate_per_s")) if points else None


def curves(rows: Sequence[Mapping[str, Any]], campaign_dir: Path) -> list[Curve]:
    """Every unit's curve, in the rows' order, read from its result file."""
    out = []
    for row in rows:
        name = row.get("file")
        if not name or not row.get("config.scenario.saturation.points"):
            continue
        try:
            doc = json.loads((campaign_dir / str(name)).read_text())
        except (OSError, ValueError):
            continue
        label = f"{str(row.get('config_hash', ''))[:8]} cycle {row.get('cycle')}"
        curve = curve_of(doc, label)
        if curve is not None:
            out.append(curve)
    return out


def saturation_figure(drawn: Sequence[Curve]) -> Figure | None:
    """The figure described in the module docstring; None without a sweep."""
    if not drawn:
        return None
    with_energy = any(p.energy_per_token_j is not None for c in drawn for p in c.points)
    fig, ax = _axes((7.2, 3.6))
    right = ax.twinx()
    for k, c in enumerate(drawn):
        colour, marker = f"C{k % 10}", MARKERS[k % len(MARKERS)]
        xs = [p.offered_per_s for p in c.points]
        ax.plot(xs, [p.tokens_per_s for p in c.points], color=colour, linewidth=1.0, label=c.label)
        ys = [p.energy_per_token_j if with_energy else p.ttft_p50_ms for p in c.points]
        right.plot(xs, [y if y is not None else float("nan") for y in ys], color=colour, linestyle=":", linewidth=1.0)
        for p, y in zip(c.points, ys, strict=True):
            filled = p.sustained is not False
            ax.plot(
                [p.offered_per_s],
                [p.tokens_per_s],
                marker=marker,
                color=colour,
                markerfacecolor=colour if filled else "none",
                linestyle="none",
            )
            if y is not None:
                right.plot(
                    [p.offered_per_s], [y], marker=marker, color=colour, markerfacecolor="none", linestyle="none"
                )
        if c.max_sustained_per_s is not None:
            ax.axvline(c.max_sustained_per_s, color=colour, linestyle="--", linewidth=0.8, alpha=0.6)
    ax.set_xlabel("Offered load (requests/s)")
    ax.set_ylabel("Output throughput (tokens/s), solid")
    right.set_ylabel("Energy per output token (J), dotted" if with_energy else "Median TTFT (ms), dotted")
    ax.set_ylim(bottom=0)
    right.set_ylim(bottom=0)
    _legend_outside(ax, "unit")
    title = "Saturation sweep: throughput and " + ("energy per token" if with_energy else "TTFT") + " by offered load"
    ax.set_title(title)
    caption = _caption(
        "solid: output tokens/s of each phase's window; dotted: "
        + ("its energy per output token" if with_energy else "its median time to first token"),
        "filled marker: a rate the server sustained (or the synchronous and throughput phases); hollow: it fell behind",
        "dashed line: the highest sustained rate",
    )
    return Figure("saturation", title, caption, fig)
