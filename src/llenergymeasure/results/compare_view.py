"""Several campaigns side by side as table rows. Pure: campaigns in, text cells out.

Each matched config's headline metrics, per campaign, and each later campaign against the first
with its interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llenergymeasure.results.axes import NOT_APPLICABLE, applies, axis_name, scope_of, value_text
from llenergymeasure.results.compare import (
    CampaignStats,
    Comparison,
    MatchedConfig,
    compare,
    compared_metrics,
    environment_differences,
    environment_facts,
    match,
    missing_note,
)
from llenergymeasure.results.metrics import HEADLINE, sig, spec
from llenergymeasure.results.view import Fact


@dataclass(frozen=True)
class ComparisonView:
    """The comparison table and what stands around it: environments, notes, and how it was computed."""

    campaigns: list[str]
    columns: list[str]
    rows: list[list[str]]
    text_columns: set[str]
    environment: list[tuple[str, list[str]]]  # every fact, a value per campaign
    differences: list[tuple[str, list[str]]]  # only those that differ
    notes: list[str]
    method_line: str
    comparisons: list[Comparison]
    matched: list[MatchedConfig]
    facts: list[tuple[str, list[str]]] = field(default_factory=list)  # each campaign's header facts, side by side


def config_label(mc: MatchedConfig) -> str:
    """The matched config as a reader names it: its key, then the swept values that apply to its backend."""
    s = next(c for c in mc.configs if c is not None)
    backend = s.label.get("config.backend")
    values = [
        f"{axis_name(d).split('.')[-1] if scope_of(d) else axis_name(d)}={value_text(v)}"
        for d, v in s.label.items()
        if applies(d, str(backend) if backend else scope_of(d)) and value_text(v) != NOT_APPLICABLE
    ]
    return f"{mc.label} ({', '.join(values)})" if values and len(mc.key) == 1 else mc.label


def _centre(mc: MatchedConfig, i: int, metric: str) -> str:
    s = mc.configs[i]
    m = s.metrics.get(metric) if s is not None else None
    return sig(m.value) if m else "-"


def build_comparison(
    campaigns: list[CampaignStats],
    fields: list[str] | None = None,
    confidence: float = 0.95,
    facts: list[list[Fact]] | None = None,
) -> ComparisonView:
    """Match configs (by hash, or ``fields``), then each headline metric: every campaign's centre and the change."""
    matched = match(campaigns, fields)
    have = compared_metrics(matched)
    metrics = [m for m in HEADLINE if m in have]
    comparisons = compare(campaigns, matched, metrics, confidence)
    base = campaigns[0].name
    later = [c.name for c in campaigns[1:]]
    columns = ["config", "metric", *(c.name for c in campaigns)]
    for name in later:  # each later campaign's own headers: no two columns share a name (CSV readers)
        columns += [f"{name} vs {base}", f"{name} {confidence:.0%} CI", f"{name} differs"]
    rows = []
    for comp in comparisons:
        if all(_centre(comp.config, i, comp.metric) == "-" for i in range(len(campaigns))):
            continue
        cells = [config_label(comp.config), spec(comp.metric).short]
        cells += [_centre(comp.config, i, comp.metric) for i in range(len(campaigns))]
        for ch in comp.changes:
            if ch.estimate is None:
                estimate = "-"
            elif ch.kind == "ratio":
                estimate = f"{sig(ch.estimate)}x"
            else:  # a difference later - first, signed either way
                estimate = sig(ch.estimate) if ch.estimate < 0 else f"+{sig(ch.estimate)}"
            ci = "-" if ch.ci_low is None or ch.ci_high is None else f"{sig(ch.ci_low)}–{sig(ch.ci_high)}"
            differs = {True: "yes", False: "no", None: "-"}[ch.distinguishable]
            cells += [estimate, ci, differs]
        rows.append(cells)
    notes = [n for mc in matched if (n := missing_note(mc, campaigns))]
    notes += sorted({ch.note for comp in comparisons for ch in comp.changes if ch.note and "cycle" in ch.note})
    method = (
        f"Each later campaign against {base}: ratios (x) of geometric means for quantities that cannot be negative,"
        f" differences of means (+: later minus {base}) otherwise, with {confidence:.0%} Welch intervals across"
        " cycles (unpaired: campaigns share no cycles); differs: the interval excludes no change."
    )
    text = {"config", "metric", *(f"{name} differs" for name in later)}
    return ComparisonView(
        [c.name for c in campaigns],
        columns,
        rows,
        text,
        environment_facts(campaigns),
        environment_differences(campaigns),
        notes,
        method,
        comparisons,
        matched,
        side_by_side(facts) if facts else [],
    )


# The header facts a comparison shows per campaign (where the numbers came from and under what design).
COMPARED_FACTS = ("design_hash", "campaign_file", "fixed", "dataset", "slo", "cycles", "images", "started", "ended")


def side_by_side(facts: list[list[Fact]]) -> list[tuple[str, list[str]]]:
    """Each compared header fact with its text in every campaign (``-`` where a campaign has none)."""
    out = []
    for key in COMPARED_FACTS:
        found = [next((f for f in per if f.key == key), None) for per in facts]
        if any(found):
            name = next(f.name for f in found if f is not None)
            out.append((name, [f.text if f is not None else "-" for f in found]))
    return out
