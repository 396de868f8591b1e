"""The results view model: what every view of a campaign's results shows, built once. Pure.

The terminal table, ``llem results --json``, the CSV/Markdown/LaTeX exports and the HTML report all
render a ``ResultsView``: the same ranked rows, serving rows, header facts and notes, with each
number's name, unit and rounding from results/metrics.py. A figure therefore never disagrees with
the table beside it, and a fix to a label or a rounding rule reaches every output.

Inputs are plain data: the flat result rows (results/table.py), the manifest and the campaign
snapshot as dicts (the caller reads the files), and the options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from llenergymeasure.config.dotted import varying_keys
from llenergymeasure.results.axes import axis_name, value_text
from llenergymeasure.results.drift import baseline_drift, drift_line
from llenergymeasure.results.metrics import SERVING_SHOWN, MetricSpec, sig, spec
from llenergymeasure.results.stats import (
    FALLBACK_METRIC,
    ConfigStats,
    PairedComparison,
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


@dataclass(frozen=True)
class Cell:
    """One metric of one config as shown: centre, what surrounds it, and how that was computed.

    ``kind``: ``interval`` (``low``..``high`` at the view's confidence), ``range`` (n = 2: the two
    cycles), or ``none`` (one cycle). ``interval_low``/``interval_high`` are the interval whatever is
    shown (None below 2 cycles): ``--json`` carries it at every n >= 2.
    """

    centre: float
    centre_kind: str
    low: float | None
    high: float | None
    kind: str
    method: str
    n: int
    cv: float | None
    interval_low: float | None
    interval_high: float | None
    interval_method: str | None

    @property
    def spread_text(self) -> str:
        """``low–high`` (``(range)`` after a 2-cycle range); ``one cycle`` when there is none."""
        if self.low is None or self.high is None:
            return "one cycle"
        return f"{sig(self.low)}–{sig(self.high)}{' (range)' if self.kind == 'range' else ''}"

    @property
    def text(self) -> str:
        """``centre [low–high]``, ``centre (range low–high)``, ``centre (one cycle)``: one cell of a wide table."""
        if self.low is None or self.high is None:
            return f"{sig(self.centre)} (one cycle)"
        if self.kind == "range":
            return f"{sig(self.centre)} (range {sig(self.low)}–{sig(self.high)})"
        return f"{sig(self.centre)} [{sig(self.low)}–{sig(self.high)}]"


def cell(s: Summary, intervals_at_2: bool) -> Cell:
    """``s`` as a view shows it: the range at n = 2 unless ``intervals_at_2``, nothing at n = 1."""
    sp = spread(s, intervals_at_2)
    method = sp.method if sp.kind != "interval" else f"{s.centre_kind.replace('_', ' ')}, {sp.method}"
    return Cell(
        s.value,
        s.centre_kind,
        sp.low,
        sp.high,
        sp.kind,
        method,
        s.n,
        s.cv,
        s.ci_low,
        s.ci_high,
        s.ci_method,
    )


@dataclass(frozen=True)
class ConfigRow:
    """One config in ranked order (``rank`` None: left out, with ``reason``)."""

    rank: int | None
    mark: str  # ≈ not distinguishable from the row above, ? not compared, "" otherwise
    exp_id: str | None
    config_hash: str
    short_hash: str
    backend: str
    fields: dict[str, str]  # swept axis (as the campaign file names it) -> value text ("-": not this backend's)
    ranked: Cell | None
    beside: Cell | None
    throughput: Cell | None
    vs_above: PairedComparison | None
    reason: str | None
    high_cv: list[str]


@dataclass(frozen=True)
class ServingRow:
    """One server-mode config: its identity and each shown serving metric."""

    exp_id: str | None
    short_hash: str
    backend: str
    fields: dict[str, str]
    cells: dict[str, Cell]


@dataclass(frozen=True)
class Fact:
    """One line of the header: a name, its text, and the plain value ``--json`` carries."""

    key: str
    name: str
    text: str
    value: Any = None


@dataclass
class ResultsView:
    """Everything a view of one campaign's results shows, in the order it shows it."""

    campaign: str
    facts: list[Fact]
    ranking: Ranking
    ranked_spec: MetricSpec
    beside_spec: MetricSpec | None
    throughput_spec: MetricSpec | None
    axes: list[str]  # swept axes as the campaign file names them
    rows: list[ConfigRow]
    serving_specs: list[MetricSpec]
    serving_rows: list[ServingRow]
    method_line: str
    notes: list[str]
    warnings: list[str]
    confidence: float
    intervals_at_2: bool
    n_results: int
    stats: list[ConfigStats] = field(default_factory=list)
    dims: list[str] = field(default_factory=list)  # the same axes as row keys (``config.*``)

    def fact(self, key: str) -> Fact | None:
        """The header fact ``key``, if the view has it."""
        return next((f for f in self.facts if f.key == key), None)


# Settings shown in the header when every config shares them (swept ones are columns instead).
FIXED_SETTINGS: tuple[str, ...] = (
    "config.precision",
    "config.n_prompts",
    "config.max_input_tokens",
    "config.max_output_tokens",
    "config.decoding.do_sample",
    "config.decoding.temperature",
    "config.decoding.ignore_eos",
    "config.seed",
    "config.scenario.kind",
    "config.scenario.concurrency",
    "config.scenario.request_rate",
    "config.scenario.n_requests",
    "config.energy.split_output_tokens",
    "config.warmup.mode",
    "config.baseline.enabled",
)


def _distinct(values: Any) -> list[str]:
    return sorted({str(v) for v in values if v not in (None, "", "None")})


def when(stamp: str | None) -> str | None:
    """``2026-12-01 00:47:06 UTC`` (or ``+02:00``) from an ISO time: a time is never given without its zone."""
    if not stamp:
        return None
    try:
        t = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if t.tzinfo is None:
        return f"{t:%Y-%m-%d %H:%M:%S} (zone not recorded)"
    offset = t.utcoffset()
    zone = "UTC" if offset is not None and offset.total_seconds() == 0 else t.strftime("%z")
    if zone not in ("UTC",) and len(zone) == 5:
        zone = f"UTC{zone[:3]}:{zone[3:]}"
    return f"{t:%Y-%m-%d %H:%M:%S} {zone}"


def _utc_key(stamp: str) -> datetime:
    t = datetime.fromisoformat(stamp)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _engines(rows: list[dict[str, Any]]) -> tuple[str, dict[str, dict[str, str]]]:
    text, value = [], {}
    for backend in _distinct(r.get("config.backend") for r in rows):
        mine = [r for r in rows if r.get("config.backend") == backend]
        names = sorted({k for r in mine for k, v in r.items() if k.startswith("environment.packages.") and v})
        versions = {n.removeprefix("environment.packages."): "/".join(_distinct(r.get(n) for r in mine)) for n in names}
        versions = {k: v for k, v in versions.items() if v}
        value[backend] = versions
        listed = ", ".join(f"{k} {v}" for k, v in versions.items())
        text.append(f"{backend} ({listed})" if listed else backend)
    return "; ".join(text), value


def _dataset(
    rows: list[dict[str, Any]], builtin_digest: str | None, builtin_llem: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """The prompts measured; a built-in set's digest only where this llem is the one that measured (same prompts)."""
    measured = _distinct(r.get("environment.llem_version") for r in rows)
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = {k.removeprefix("config.dataset."): v for k, v in r.items() if k.startswith("config.dataset.")}
        if d:
            seen.setdefault(repr(sorted(d.items())), d)
    texts, values = [], []
    for d in seen.values():
        kind = d.get("kind")
        if kind == "jsonl":
            digest = d.get("sha256")
            text = f"{d.get('path')} (field {d.get('field')}), sha256 {digest or 'not recorded'}"
        elif kind == "synthetic":
            text = f"synthetic, {d.get('input_tokens')} tokens per prompt (seeded; no file)"
            digest = None
        else:
            digest = builtin_digest if builtin_digest and builtin_llem and measured == [builtin_llem] else None
            text = f"built-in {d.get('name', 'default')}"
            if digest:
                text += f", sha256 {digest}"
            elif builtin_digest and builtin_llem:
                was = "/".join(measured) or "unknown"
                text += f" of llem {was} (no digest: only this llem {builtin_llem}'s own set can be hashed here)"
        texts.append(text)
        values.append({**d, "digest": digest})
    return "; ".join(texts) or "unknown", values


def header_facts(
    rows: list[dict[str, Any]],
    manifest: dict[str, Any] | None,
    snapshot: dict[str, Any] | None,
    dims: list[str],
    builtin_digest: str | None = None,
    builtin_llem: str | None = None,
) -> list[Fact]:
    """Where the numbers come from and under what fixed settings: the header a reviewer asks for."""
    man = manifest or {}
    execution = (snapshot or {}).get("execution") or {}
    facts = [
        Fact(
            "design_hash", "Design hash", man.get("design_hash") or "unknown (no manifest.json)", man.get("design_hash")
        ),
        Fact("campaign_file", "Campaign file", man.get("campaign_file") or "unknown", man.get("campaign_file")),
    ]
    models = _distinct(r.get("config.model") for r in rows)
    facts.append(Fact("models", "Model(s)", ", ".join(models) or "unknown", models))
    fixed = {}
    for key in FIXED_SETTINGS:
        if key in dims:
            continue
        values = {repr(r.get(key)) for r in rows if key in r}
        present = [r[key] for r in rows if r.get(key) is not None]
        if len(values) == 1 and present:
            fixed[axis_name(key)] = present[0]
    facts.append(
        Fact("fixed", "Fixed settings", ", ".join(f"{k}={value_text(v)}" for k, v in fixed.items()) or "none", fixed)
    )
    text, datasets = _dataset(rows, builtin_digest, builtin_llem)
    facts.append(Fact("dataset", "Dataset", text, datasets))
    slo = {
        axis_name(k): " or ".join(vs)
        for k in ("config.scenario.slo.ttft_ms", "config.scenario.slo.tpot_ms")
        if (vs := _distinct(r.get(k) for r in rows if r.get("config.scenario.kind") == "server"))
    }
    servers = any(r.get("config.scenario.kind") == "server" for r in rows)
    slo_text = ", ".join(f"{k.removeprefix('scenario.slo.')} <= {v} ms" for k, v in slo.items())
    if not servers:
        slo_text = "none: offline runs have no goodput"
    facts.append(Fact("slo", "SLOs (goodput)", slo_text or "none set: goodput counts every request", slo))
    n_cycles = execution.get("n_cycles") or max((int(r.get("cycle") or 0) for r in rows), default=0)
    order = execution.get("cycle_order")
    cycles_text = f"{n_cycles}, {order}" if order else f"{n_cycles} (order not recorded)"
    facts.append(Fact("cycles", "Cycles", cycles_text, {"n_cycles": n_cycles, "cycle_order": order}))
    engines, versions = _engines(rows)
    facts.append(Fact("engines", "Engines", engines or "unknown", versions))
    images = _distinct(
        f"{r.get('environment.container_image')}"
        + (f" ({r.get('environment.container_image_id')})" if r.get("environment.container_image_id") else "")
        for r in rows
        if r.get("environment.container_image")
    )
    facts.append(Fact("images", "Images", ", ".join(images) or "none (local processes)", images))
    gpus = _distinct(r.get("gpu") for r in rows)
    cpus = _distinct(r.get("environment.cpu") for r in rows)
    hardware = f"GPU: {'; '.join(gpus)}" if gpus else "no GPU"
    hardware += f"; CPU: {'; '.join(cpus)}" if cpus else ""
    facts.append(Fact("hardware", "Hardware", hardware, {"gpus": gpus, "cpus": cpus}))
    executor = man.get("executor") or "unknown"
    launch = _distinct(r.get("environment.launch") for r in rows)
    facts.append(Fact("executor", "Executor", executor + (f" ({'/'.join(launch)} launch)" if launch else ""), executor))
    llem = _distinct(r.get("environment.llem_version") for r in rows)
    facts.append(Fact("llem", "llem", ", ".join(llem) or "unknown", llem))
    # The campaign's span as `llem campaign status` shows it (units' starts and ends), else the measurements'.
    entries = [e for e in man.get("entries") or [] if isinstance(e, dict)]
    starts = [str(e["started_at"]) for e in entries if e.get("started_at")]
    ends = [str(e["completed_at"]) for e in entries if e.get("completed_at")]
    starts = starts or [str(r["started_at"]) for r in rows if r.get("started_at")]
    ends = ends or [str(r["finished_at"]) for r in rows if r.get("finished_at")]
    first = min(starts, key=_utc_key) if starts else None
    last = max(ends, key=_utc_key) if ends else None
    facts.append(Fact("started", "Started", when(first) or "unknown", first))
    facts.append(Fact("ended", "Ended", when(last) or "unknown", last))
    return facts


def method_line(ranked: MetricSpec, confidence: float, shown: list[Cell]) -> str:
    """One line: what was ranked, which way, and how the intervals shown were computed (only those shown)."""
    line = f"Ranked by {ranked.phrase}, {ranked.direction}."
    methods = {c.interval_method for c in shown if c.kind == "interval"}
    parts = []
    if "log-t" in methods:
        parts.append(
            f"geometric means with {confidence:.0%} log-t intervals across cycles (quantities that cannot be negative)"
        )
    if "t" in methods:
        parts.append(f"arithmetic means with {confidence:.0%} t intervals (quantities that can be zero or negative)")
    if parts:
        line += " Centres: " + "; ".join(parts)
    if any(c.kind == "range" for c in shown):
        line += ("; " if parts else " ") + "2 cycles: their range, not an interval"
    if any(c.kind == "none" for c in shown):
        line += ("; " if parts or any(c.kind == "range" for c in shown) else " ") + "1 cycle: no interval"
    return line + ("." if not line.endswith(".") else "")


def build_view(
    rows: list[dict[str, Any]],
    manifest: dict[str, Any] | None = None,
    snapshot: dict[str, Any] | None = None,
    *,
    campaign: str = "",
    rank_by: RankBy = "total",
    confidence: float = 0.95,
    cv_threshold: float = 0.05,
    intervals_at_2: bool = False,
    problems: list[str] | None = None,
    builtin_digest: str | None = None,
    builtin_llem: str | None = None,
) -> ResultsView:
    """The view of one campaign: ranking, rows, serving rows, header facts, notes."""
    dims = varying_keys(rows, "config.")
    stats = by_config(rows, dims, cv_threshold, confidence)
    ranking = ranking_metric(stats, rank_by)
    exp_ids = {
        e.get("config_hash"): e.get("exp_id") for e in (manifest or {}).get("entries") or [] if isinstance(e, dict)
    }
    backend_of = {str(r["config_hash"]): str(r.get("config.backend") or "") for r in rows}

    def fields(s: ConfigStats) -> dict[str, str]:
        return {axis_name(d): value_text(s.label.get(d)) for d in dims}

    def get(s: ConfigStats, key: str | None) -> Cell | None:
        m = s.metrics.get(key) if key else None
        return cell(m, intervals_at_2) if m else None

    tps = FALLBACK_METRIC if ranking.metric != FALLBACK_METRIC else None
    out_rows = [
        ConfigRow(
            r.rank,
            r.mark,
            exp_ids.get(r.stats.config_hash),
            r.stats.config_hash,
            r.stats.hash_label,
            backend_of.get(r.stats.config_hash, ""),
            fields(r.stats),
            get(r.stats, ranking.metric),
            get(r.stats, ranking.beside),
            get(r.stats, tps),
            r.vs_above,
            r.reason,
            r.stats.high_cv,
        )
        for r in ranked_order(stats, ranking.metric, confidence)
    ]
    serving_keys = [k for k in SERVING_SHOWN if any(k in s.metrics for s in stats)]
    serving_rows = [
        ServingRow(
            exp_ids.get(s.config_hash),
            s.hash_label,
            backend_of.get(s.config_hash, ""),
            fields(s),
            {k: cell(s.metrics[k], intervals_at_2) for k in serving_keys if k in s.metrics},
        )
        for s in stats
        if any(k in s.metrics for k in serving_keys)
    ]
    ranked_spec = spec(ranking.metric)
    ranged = [c for r in out_rows for c in (r.ranked,) if c] + [c for s in serving_rows for c in s.cells.values()]
    notes = [comparison_note(rank(stats, ranking.metric, confidence), confidence)]
    shown = [s.metrics[ranking.metric] for s in stats if ranking.metric in s.metrics]
    shown += [s.metrics[k] for s in stats for k in serving_keys if k in s.metrics]
    if (note := range_note(shown, intervals_at_2, confidence)) is not None:
        notes.append(note)
    if ranking.note:
        notes.insert(0, ranking.note)
    warnings = [f"skipped: {p}" for p in problems or []]
    warnings += [
        f"high variation {s.hash_label}: {', '.join(spec(m).short for m in s.high_cv)} CV > {cv_threshold:.0%}"
        for s in stats
        if s.high_cv
    ]
    warnings += [drift_line(d) for d in baseline_drift(rows) if d.flagged]
    name = campaign or str((manifest or {}).get("campaign") or "")
    return ResultsView(
        campaign=name,
        facts=header_facts(rows, manifest, snapshot, dims, builtin_digest, builtin_llem),
        ranking=ranking,
        ranked_spec=ranked_spec,
        beside_spec=spec(ranking.beside) if ranking.beside else None,
        throughput_spec=spec(tps) if tps else None,
        axes=[axis_name(d) for d in dims],
        rows=out_rows,
        serving_specs=[spec(k) for k in serving_keys],
        serving_rows=serving_rows,
        method_line=method_line(ranked_spec, confidence, ranged),
        notes=notes,
        warnings=warnings,
        confidence=confidence,
        intervals_at_2=intervals_at_2,
        n_results=len(rows),
        stats=stats,
        dims=dims,
    )
