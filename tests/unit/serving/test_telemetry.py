"""Prometheus text to telemetry samples, and their summary over a window: exact values."""

from __future__ import annotations

import pytest

from llenergymeasure.results.schema import EngineTelemetry
from llenergymeasure.serving.telemetry import (
    TRTLLM_METRICS,
    VLLM_METRICS,
    TelemetrySample,
    counter_delta,
    keep_lines,
    parse_metrics,
    summarise,
)

# The shape vLLM 0.32's /metrics writes (two engines of one model), trimmed, plus neighbours whose
# names share a prefix with a wanted one and must not be counted.
VLLM_TEXT = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} 3.0
vllm:num_requests_running{engine="1",model_name="tiny"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="tiny"} 1.0
vllm:num_requests_waiting{engine="1",model_name="tiny"} 0.0
# HELP vllm:num_requests_waiting_by_reason Waiting requests by reason.
# TYPE vllm:num_requests_waiting_by_reason gauge
vllm:num_requests_waiting_by_reason{engine="0",model_name="tiny",reason="capacity"} 7.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="tiny"} 0.75
# HELP vllm:num_preemptions Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions counter
vllm:num_preemptions_total{engine="0",model_name="tiny"} 4.0
vllm:num_preemptions_created{engine="0",model_name="tiny"} 1.7e9
vllm:num_preemptions_total{engine="1",model_name="tiny"} 1.0
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="tiny"} 640.0
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{engine="0",model_name="tiny"} 160.0
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{engine="0",model_name="tiny"} 512.0
# TYPE vllm:prompt_tokens_cached counter
vllm:prompt_tokens_cached_total{engine="0",model_name="tiny"} 99.0
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{engine="0",model_name="tiny"} 2048.0
# TYPE vllm:request_prompt_tokens histogram
vllm:request_prompt_tokens_bucket{engine="0",le="+Inf",model_name="tiny"} 16.0
vllm:request_prompt_tokens_count{engine="0",model_name="tiny"} 16.0
vllm:request_prompt_tokens_sum{engine="0",model_name="tiny"} 512.0
"""


def test_vllm_text_sums_over_engines_and_averages_kv_usage() -> None:
    assert parse_metrics(VLLM_TEXT, VLLM_METRICS, 12.5) == TelemetrySample(
        t_s=12.5,
        running=5.0,
        waiting=1.0,
        kv_cache_usage=0.5,
        preemptions_total=5.0,
        prefix_cache_hits_total=160.0,
        prefix_cache_queries_total=640.0,
        prompt_tokens_total=512.0,
        generation_tokens_total=2048.0,
    )


def test_missing_metrics_are_none_and_the_older_kv_name_is_read() -> None:
    text = '# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{model_name="m"} 0.125\n'
    assert parse_metrics(text, VLLM_METRICS, 1.0) == TelemetrySample(t_s=1.0, kv_cache_usage=0.125)
    assert parse_metrics("", VLLM_METRICS, 2.0) == TelemetrySample(t_s=2.0)


def test_untyped_counters_are_read_with_their_total_suffix() -> None:
    text = "vllm:generation_tokens_total 7\nvllm:num_requests_running 2\n"
    assert parse_metrics(text, VLLM_METRICS, 0.0) == TelemetrySample(t_s=0.0, running=2.0, generation_tokens_total=7.0)


def test_trtllm_table() -> None:
    text = (
        "# TYPE trtllm_num_requests_running gauge\n"
        'trtllm_num_requests_running{model_name="undefined",engine_type="undefined"} 8.0\n'
        "# TYPE trtllm_kv_cache_utilization gauge\n"
        'trtllm_kv_cache_utilization{model_name="undefined",engine_type="undefined"} 0.5\n'
        "# TYPE trtllm_generation_tokens counter\n"
        'trtllm_generation_tokens_total{model_name="undefined",engine_type="undefined"} 100.0\n'
    )
    assert parse_metrics(text, TRTLLM_METRICS, 3.0) == TelemetrySample(
        t_s=3.0, running=8.0, kv_cache_usage=0.5, generation_tokens_total=100.0
    )


def test_keep_lines_drops_unwanted_families() -> None:
    kept = keep_lines(VLLM_TEXT, ("vllm:num_requests_running",))
    assert kept.splitlines() == VLLM_TEXT.splitlines()[:4]


def test_garbage_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"could not convert|Invalid"):
        parse_metrics("vllm:num_requests_running{engine=0 oops\n", VLLM_METRICS, 0.0)


def _s(t: float, running: float, kv: float, gen: float, hits: float = 0.0, queries: float = 0.0) -> TelemetrySample:
    return TelemetrySample(
        t_s=t,
        running=running,
        waiting=0.0,
        kv_cache_usage=kv,
        preemptions_total=0.0,
        prefix_cache_hits_total=hits,
        prefix_cache_queries_total=queries,
        prompt_tokens_total=gen / 2,
        generation_tokens_total=gen,
    )


SAMPLES = [
    _s(9.5, 0.0, 0.0, 0.0),  # before the window: the counters' start reading
    _s(10.5, 4.0, 0.25, 40.0, 10.0, 40.0),
    _s(11.5, 8.0, 0.5, 120.0, 30.0, 80.0),
    _s(12.5, 6.0, 0.75, 200.0, 50.0, 120.0),
    _s(13.5, 0.0, 0.0, 240.0, 60.0, 140.0),  # after it: the end reading
    _s(14.5, 0.0, 0.0, 240.0, 60.0, 140.0),
]


def test_summary_over_a_window() -> None:
    assert summarise(SAMPLES, 10.0, 13.0) == EngineTelemetry(
        n_samples=3,
        interval_s=1.0,
        max_gap_s=1.0,
        mean_running=6.0,
        mean_waiting=0.0,
        mean_kv_cache_usage=0.5,
        max_kv_cache_usage=0.75,
        preemptions=0.0,
        prefix_cache_hit_rate=60.0 / 140.0,
        prompt_tokens=120.0,
        generation_tokens=240.0,
    )


def test_counter_edges_fall_back_to_the_nearest_reading_inside() -> None:
    inside_only = SAMPLES[1:4]
    assert counter_delta(inside_only, "generation_tokens_total", 10.0, 13.0) == 160.0
    assert counter_delta(SAMPLES[:2], "generation_tokens_total", 10.0, 13.0) == 40.0  # 9.5 -> 10.5
    assert counter_delta(SAMPLES[1:2], "generation_tokens_total", 10.0, 13.0) is None  # one reading
    assert counter_delta(SAMPLES, "generation_tokens_total", 10.0, 12.5) == 200.0  # an edge on a reading


def test_summary_without_samples_or_metrics() -> None:
    assert summarise([], 0.0, 1.0) == EngineTelemetry(n_samples=0)
    bare = [TelemetrySample(t_s=0.5), TelemetrySample(t_s=0.75)]
    assert summarise(bare, 0.0, 1.0) == EngineTelemetry(n_samples=2, interval_s=0.25, max_gap_s=0.25)
