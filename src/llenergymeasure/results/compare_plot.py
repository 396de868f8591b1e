"""One metric of the same configs across campaigns, side by side: a group per config, a colour per campaign.

The layout (which campaign's centre, bar and cycles go where, and the view) is pure
(``compare_points``, ``compare_view``); ``plot_compare`` only draws it. Like the report's plots, the
view follows the centres and the cycles, never the interval bounds: from 3 cycles a log-t interval
can reach 37 times its centre, and a view that held it would squash every centre into one line.
Bars beyond the view are clipped and the title says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llenergymeasure.errors import MissingDependencyError
from llenergymeasure.results.compare import CampaignStats, MatchedConfig
from llenergymeasure.results.metrics import label
from llenergymeasure.results.stats import SpreadKind, spread

GROUP_WIDTH = 0.7  # of the space between two configs, shared by the campaigns' markers
MARGIN = 0.4  # above the highest point (from 0 up), or around negatives, as a share of the span


@dataclass(frozen=True)
class ComparePoint:
    """One campaign's value for one config: where it is drawn and what its bar shows."""

    group: int  # the config's position on the x axis
    campaign: int  # index into the campaigns (colour and offset within the group)
    x: float
    centre: float
    low: float | None  # the bar: interval, 2 cycles' range, or None (one cycle)
    high: float | None
    kind: SpreadKind
    cycles: tuple[float, ...]


def compare_points(
    campaigns: list[CampaignStats], matched: list[MatchedConfig], metric: str, intervals_at_2: bool = False
) -> tuple[list[MatchedConfig], list[ComparePoint]]:
    """The configs drawn (those some campaign has ``metric`` for) and one point per campaign that has it.

    Within a group campaign i sits at ``group + (i - (k - 1) / 2) * GROUP_WIDTH / k`` for k campaigns,
    so a campaign keeps its place in every group and a gap shows where it lacks that config.
    """
    k = len(campaigns)
    shown = [m for m in matched if any(s is not None and metric in s.metrics for s in m.configs)]
    points = []
    for g, m in enumerate(shown):
        for i, s in enumerate(m.configs):
            if s is None or metric not in s.metrics:
                continue
            summary = s.metrics[metric]
            sp = spread(summary, intervals_at_2)
            x = g + (i - (k - 1) / 2) * GROUP_WIDTH / k
            cycles = tuple(s.cycles.get(metric, {}).values())
            points.append(ComparePoint(g, i, x, summary.value, sp.low, sp.high, sp.kind, cycles))
    return shown, points


def compare_view(points: list[ComparePoint]) -> tuple[float, float]:
    """Y limits from the centres and the cycles: from 0 up to 1.4 x the highest, or 20% around negatives."""
    values = [v for p in points for v in (p.centre, *p.cycles)]
    lo, hi = min(values), max(values)
    if lo >= 0:
        return 0.0, hi * (1 + MARGIN) if hi > 0 else 1.0
    margin = MARGIN / 2 * ((hi - lo) or -lo)
    return lo - margin, max(hi, 0.0) + margin


def bars_caption(points: list[ComparePoint], confidence: float, view: tuple[float, float]) -> str:
    """What the bars are (the interval; 2 cycles: their range) and whether some reach beyond the view."""
    kinds = {p.kind for p in points}
    if "range" in kinds and "interval" not in kinds:
        text = "centre and range of the 2 cycles"
    else:
        text = f"centre and {confidence:.0%} CI" + ("; 2 cycles: their range" if "range" in kinds else "")
    beyond = any((p.low is not None and p.low < view[0]) or (p.high is not None and p.high > view[1]) for p in points)
    return text + ("; bars clipped to the view" if beyond else "")


def _figure_class() -> Any:
    """The matplotlib Figure class, headless (Agg) and drawing every text as written (no mathtext), as in the report."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        # Labels hold user strings (model names, swept values, campaign names); '$' in one is not mathtext.
        matplotlib.rcParams["text.parse_math"] = False
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            "comparison plots need matplotlib: pip install 'llenergymeasure[report]'"
        ) from None
    return Figure


def plot_compare(
    campaigns: list[CampaignStats],
    matched: list[MatchedConfig],
    metric: str,
    confidence: float = 0.95,
    intervals_at_2: bool = False,
) -> Any | None:
    """``metric`` of each matched config in each campaign, side by side; None when no config has it.

    Returns a matplotlib ``Figure`` not registered with pyplot (nothing to close; the caller saves it).
    Each campaign: its centre as a marker, its bar as in the tables (interval; 2 cycles: their range;
    1: none), every cycle as a faint point. The legend names the campaigns, outside the axes.
    """
    shown, points = compare_points(campaigns, matched, metric, intervals_at_2)
    if not points:
        return None
    fig = _figure_class()(figsize=(max(6.0, 0.9 * len(shown) + 2.5), 4.5))
    ax = fig.add_subplot()
    view = compare_view(points)
    for i, campaign in enumerate(campaigns):
        mine = [p for p in points if p.campaign == i]
        if not mine:
            continue
        colour = f"C{i}"
        for p in mine:
            ax.scatter([p.x] * len(p.cycles), p.cycles, color=colour, alpha=0.3, s=12)
        below = [p.centre - p.low if p.low is not None else 0.0 for p in mine]
        above = [p.high - p.centre if p.high is not None else 0.0 for p in mine]
        ax.errorbar(
            [p.x for p in mine],
            [p.centre for p in mine],
            yerr=[[max(b, 0.0) for b in below], [max(a, 0.0) for a in above]],
            fmt="o",
            capsize=4,
            color=colour,
            label=campaign.name if campaign.name not in ("", "None") else f"campaign {i + 1}",
        )
    ax.set_ylim(*view)
    ax.set_xlim(-0.5, len(shown) - 0.5)
    ax.set_xticks(range(len(shown)), [m.label for m in shown], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(label(metric))
    caption = bars_caption(points, confidence, view)
    ax.set_title(f"{label(metric)} across campaigns\n({caption}; faint: each cycle)", fontsize=9)
    ax.legend(title="campaign", loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
    return fig
