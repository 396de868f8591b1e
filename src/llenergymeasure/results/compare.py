"""Campaigns side by side: the same configs matched across them, each later one against the first. Pure.

A comparison is between campaigns run apart (two machines, two engine versions, before and after a
change), so their cycles are not paired blocks the way one campaign's configs are (stats.py
``paired_compare``): cycle 2 of one campaign shares no drift with cycle 2 of another. The test is
therefore unpaired, Welch's t, which does not assume the two campaigns are equally noisy.

Strictly positive metrics (J/token, tokens/s, latency) are compared as a ratio B / A of geometric
means, with the Welch interval built on log values and mapped back: a ratio's interval that stays
positive, and agrees with the geometric-mean centres the tables show. Metrics that can be zero or
negative (energy above idle) are compared as a difference of means B - A with the plain Welch
interval. Welch-Satterthwaite degrees of freedom are not whole numbers; scipy takes them as they are.
"""

from __future__ import annotations

import difflib
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from llenergymeasure.errors import LlemError
from llenergymeasure.results.axes import axis_name, value_text
from llenergymeasure.results.metrics import SPECS, spec
from llenergymeasure.results.naming import short_hashes
from llenergymeasure.results.stats import ConfigStats, t_critical

CONFIG_PREFIX = "config."
# The fix every ambiguous match suggests, beside the fields that actually tell the clashing configs apart.
MATCH_EXAMPLE = "model,backend,precision,pytorch.batch_size"
MAX_SUGGESTED = 3  # fields added to the suggestion, so the error stays one readable line


class MatchError(LlemError, ValueError):
    """``--match`` cannot pair configs across campaigns: an unknown field, or two configs share a key."""

    exit_code = 2


@dataclass(frozen=True)
class CampaignStats:
    """One campaign as a comparison reads it: a name for headers and legends, its rows and per-config stats."""

    name: str
    rows: list[dict[str, Any]]
    stats: list[ConfigStats]


@dataclass(frozen=True)
class MatchedConfig:
    """One config as found in each campaign: ``configs[i]`` is campaign i's, None where it has none.

    ``key`` is the match key: the values of the ``--match`` fields (as text, ``-`` where a
    backend-scoped field does not apply), or the config hash alone. ``label`` is that key as tables
    and plots show it. ``missing`` names the campaigns without it, so they are reported, never dropped.
    """

    key: tuple[str, ...]
    label: str
    configs: tuple[ConfigStats | None, ...]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Whether every campaign has this config."""
        return not self.missing


def match_fields(fields: Iterable[str] | None) -> list[str]:
    """``--match`` fields as the campaign file names them: ``config.model`` and `` model`` both -> ``model``."""
    return [axis_name(f.strip()) for f in fields or () if f.strip()]


def match(campaigns: list[CampaignStats], fields: list[str] | None = None) -> list[MatchedConfig]:
    """Pair each config of every campaign with the same config in the others.

    By config hash when ``fields`` is None or empty: the same config file field for field, which two
    engine versions or two machines share. By ``fields`` otherwise (``model``, ``backend``,
    ``pytorch.batch_size``): for campaigns whose configs differ in a field that is not compared
    (a changed default, a renamed image), so their hashes differ. Order: the baseline's configs as it
    lists them, then those only later campaigns have. Raises ``MatchError`` for a field in no row of
    any campaign, and for two configs of one campaign with the same key (which would be compared with
    what?), naming the fields that tell them apart.
    """
    names = match_fields(fields)
    _check_known(campaigns, names)
    found: dict[tuple[str, ...], list[ConfigStats | None]] = {}
    for i, campaign in enumerate(campaigns):
        first_rows = _first_rows(campaign.rows)
        seen: dict[tuple[str, ...], ConfigStats] = {}
        for s in campaign.stats:
            row = first_rows.get(s.config_hash, {})
            key = tuple(value_text(row.get(CONFIG_PREFIX + f)) for f in names) if names else (s.config_hash,)
            if key in seen:
                raise MatchError(_clash(campaign.name, names, key, [seen[key], s], first_rows))
            seen[key] = s
            found.setdefault(key, [None] * len(campaigns))[i] = s
    short = short_hashes(k[0] for k in found) if not names else {}
    out = []
    for key, configs in found.items():
        # A field another backend's config has no value for is left out of the label, not shown as "=-".
        if names:
            text = ", ".join(f"{f}={v}" for f, v in zip(names, key, strict=True) if v != NONE_TEXT)
        else:
            text = short[key[0]]
        missing = tuple(c.name for c, s in zip(campaigns, configs, strict=True) if s is None)
        out.append(MatchedConfig(key, text, tuple(configs), missing))
    return out


def missing_note(m: MatchedConfig, campaigns: list[CampaignStats]) -> str | None:
    """``model=x, backend=vllm: only in B (not in A)``; None for a config every campaign has."""
    if m.complete:
        return None
    present = [c.name for c, s in zip(campaigns, m.configs, strict=True) if s is not None]
    return f"{m.label}: only in {', '.join(present)} (not in {', '.join(m.missing)})"


def _first_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each config's first row: its config fields (the same in every cycle)."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out.setdefault(row["config_hash"], row)
    return out


def _config_fields(campaigns: list[CampaignStats]) -> list[str]:
    """Every config field named in some row of some campaign, as the campaign file names it, in row order."""
    keys = dict.fromkeys(k for c in campaigns for r in c.rows for k in r if k.startswith(CONFIG_PREFIX))
    return [axis_name(k) for k in keys]


def _check_known(campaigns: list[CampaignStats], names: list[str]) -> None:
    known = _config_fields(campaigns)
    for name in names:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = (
            f"did you mean {close[0]}?" if close else f"fields are named as in the campaign file, e.g. {MATCH_EXAMPLE}"
        )
        where = ", ".join(c.name for c in campaigns)
        raise MatchError(f"unknown --match field {name!r}: no config.{name} in any result of {where}; {hint}")


def _clash(
    campaign: str,
    names: list[str],
    key: tuple[str, ...],
    clashing: list[ConfigStats],
    first_rows: dict[str, dict[str, Any]],
) -> str:
    """The one-line error for two configs of ``campaign`` sharing ``key``, naming fields that tell them apart."""
    a, b = (first_rows.get(s.config_hash, {}) for s in clashing)
    differ = [
        axis_name(k)
        for k in dict.fromkeys([*a, *b])
        if k.startswith(CONFIG_PREFIX) and axis_name(k) not in names and value_text(a.get(k)) != value_text(b.get(k))
    ]
    shown = ", ".join(f"{f}={v}" for f, v in zip(names, key, strict=True))
    hashes = " and ".join(short_hashes(s.config_hash for s in clashing).values())
    example = ",".join([*names, *differ[:MAX_SUGGESTED]]) if differ else MATCH_EXAMPLE
    return (
        f"campaign {campaign!r}: configs {hashes} share the --match key {shown};"
        f" add fields to --match, e.g. --match {example}"
    )


ChangeKind = Literal["ratio", "difference"]
WELCH_LOG_T = "Welch log-t"
WELCH_T = "Welch t"


@dataclass(frozen=True)
class Change:
    """One metric of one config: a later campaign against the baseline.

    ``kind`` ``ratio``: ``estimate`` is the geometric mean in ``campaign`` over that in ``baseline``
    (0.5: halved), its interval a Welch interval on log values mapped back. ``difference``: the mean
    in ``campaign`` minus that in ``baseline``, a plain Welch interval. ``distinguishable`` is whether
    the interval excludes no change (1 for a ratio, 0 for a difference): Welch's two-sided test at
    level 1 - confidence. Without an interval (a side with fewer than 2 cycles, or without the
    config or metric) the bounds, ``dof`` and ``distinguishable`` are None and ``note`` says why.
    """

    metric: str
    baseline: str
    campaign: str
    kind: ChangeKind
    method: str
    n_baseline: int
    n: int
    estimate: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    dof: float | None = None
    distinguishable: bool | None = None
    note: str | None = None


def welch_change(
    metric: str,
    baseline: tuple[str, list[float]],
    other: tuple[str, list[float]],
    confidence: float = 0.95,
) -> Change:
    """``other`` against ``baseline`` (each a campaign name and its per-cycle values of ``metric``).

    A ratio when ``metric`` is strictly positive and every value is > 0 (as ``summarize`` falls back
    to the t interval otherwise, so a stray 0 is compared rather than dropped), else a difference.
    With means m, variances v and counts n of the compared values (logs for a ratio), the estimate is
    m_B - m_A with standard error se = sqrt(v_A/n_A + v_B/n_B), and Welch-Satterthwaite
    dof = se^4 / ((v_A/n_A)^2/(n_A-1) + (v_B/n_B)^2/(n_B-1)); the interval is the estimate
    +- t(confidence, dof) * se, exponentiated for a ratio.
    """
    (base_name, a), (name, b) = baseline, other
    ratio = spec(metric).positive and all(x > 0 for x in [*a, *b])
    xs, ys = ([math.log(x) for x in a], [math.log(y) for y in b]) if ratio else (list(a), list(b))
    back = math.exp if ratio else float
    blank = _blank(metric, base_name, name, ratio, len(xs), len(ys))
    absent = [n for n, v in ((base_name, xs), (name, ys)) if not v]
    if absent:
        return replace(blank, note=f"no {metric} in {' or '.join(absent)}")
    d = statistics.fmean(ys) - statistics.fmean(xs)
    few = [f"{len(v)} cycle in {n}" for n, v in ((base_name, xs), (name, ys)) if len(v) < 2]
    if few:
        note = f"no interval: {' and '.join(few)} (a Welch interval needs 2 or more cycles in each)"
        return replace(blank, estimate=back(d), note=note)
    va, vb = statistics.variance(xs) / len(xs), statistics.variance(ys) / len(ys)
    if va + vb == 0:  # every cycle of both campaigns the same value: no spread to test against
        return replace(blank, estimate=back(d), ci_low=back(d), ci_high=back(d), distinguishable=d != 0)
    dof = (va + vb) ** 2 / (va**2 / (len(xs) - 1) + vb**2 / (len(ys) - 1))
    # t_critical is annotated with an int dof; scipy takes Welch's fractional one as it is.
    half = t_critical(confidence, dof) * math.sqrt(va + vb)
    low, high = d - half, d + half
    return replace(
        blank, estimate=back(d), ci_low=back(low), ci_high=back(high), dof=dof, distinguishable=not low <= 0.0 <= high
    )


def _blank(metric: str, baseline: str, campaign: str, ratio: bool, n_baseline: int, n: int) -> Change:
    """A change without estimate: what every outcome of ``welch_change`` starts from."""
    if ratio:
        return Change(metric, baseline, campaign, "ratio", WELCH_LOG_T, n_baseline, n, None)
    return Change(metric, baseline, campaign, "difference", WELCH_T, n_baseline, n, None)


@dataclass(frozen=True)
class Comparison:
    """One metric of one matched config: each later campaign against the baseline (the first)."""

    config: MatchedConfig
    metric: str
    changes: tuple[Change, ...]


def compared_metrics(matched: list[MatchedConfig]) -> list[str]:
    """The summarised metrics some matched config has in some campaign, in the metrics table's order."""
    have = {m for mc in matched for s in mc.configs if s is not None for m in s.metrics}
    return [s.key for s in SPECS if s.key in have]


def compare(
    campaigns: list[CampaignStats],
    matched: list[MatchedConfig],
    metrics: list[str] | None = None,
    confidence: float = 0.95,
) -> list[Comparison]:
    """Every matched config and metric: ``welch_change`` of each later campaign against ``campaigns[0]``.

    ``metrics`` defaults to ``compared_metrics``. A config a campaign lacks gets a change without
    estimate saying so (``not in B``), so a table shows the gap rather than a missing row.
    """
    base = campaigns[0]
    out = []
    for mc in matched:
        for metric in metrics if metrics is not None else compared_metrics(matched):
            changes = []
            for campaign, s in zip(campaigns[1:], mc.configs[1:], strict=True):
                changes.append(_change(metric, (base.name, mc.configs[0]), (campaign.name, s), confidence))
            out.append(Comparison(mc, metric, tuple(changes)))
    return out


def _change(
    metric: str, base: tuple[str, ConfigStats | None], other: tuple[str, ConfigStats | None], confidence: float
) -> Change:
    absent = [name for name, s in (base, other) if s is None]
    if absent:
        blank = _blank(metric, base[0], other[0], spec(metric).positive, _n(base[1], metric), _n(other[1], metric))
        return replace(blank, note=f"not in {' or '.join(absent)}")
    values = [(name, list(s.cycles.get(metric, {}).values()) if s else []) for name, s in (base, other)]
    return welch_change(metric, values[0], values[1], confidence)


def _n(s: ConfigStats | None, metric: str) -> int:
    return len(s.cycles.get(metric, {})) if s is not None else 0


# Facts about where each campaign ran, in header order: (name, row column).
ENVIRONMENT_FACTS: tuple[tuple[str, str], ...] = (
    ("GPU", "gpu"),
    ("CPU", "environment.cpu"),
    ("driver", "environment.driver_version"),
    ("CUDA driver", "environment.cuda_driver_version"),
)
TRAILING_FACTS: tuple[tuple[str, str], ...] = (
    ("container image", "environment.container_image"),
    ("llem", "environment.llem_version"),
)
PACKAGE_PREFIX = "environment.packages."
NONE_TEXT = "-"


def environment_facts(campaigns: list[CampaignStats]) -> list[tuple[str, list[str]]]:
    """Per fact (GPU, CPU, driver, each engine package, container image, llem), its value in each campaign.

    A campaign's value is its rows' distinct values joined by ``, `` (``-`` for none); facts no row of
    any campaign has (a driver column, an image on a local run) are left out. This is the header of a
    comparison: what besides the configs differed between the campaigns.
    """
    packages = sorted({k for c in campaigns for r in c.rows for k in r if k.startswith(PACKAGE_PREFIX)})
    columns = [*ENVIRONMENT_FACTS, *((k.removeprefix(PACKAGE_PREFIX), k) for k in packages), *TRAILING_FACTS]
    out = []
    for name, column in columns:
        values = [_values(c.rows, column) for c in campaigns]
        if any(v != NONE_TEXT for v in values):
            out.append((name, values))
    return out


def environment_differences(campaigns: list[CampaignStats]) -> list[tuple[str, list[str]]]:
    """The ``environment_facts`` whose value is not the same in every campaign."""
    return [(name, values) for name, values in environment_facts(campaigns) if len(set(values)) > 1]


def _values(rows: list[dict[str, Any]], column: str) -> str:
    seen = sorted({str(r[column]) for r in rows if r.get(column) not in (None, "", "None")})
    return ", ".join(seen) or NONE_TEXT
