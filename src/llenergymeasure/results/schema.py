"""The result file: one JSON per experiment+cycle. Units are in every field name."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llenergymeasure import RESULT_SCHEMA_VERSION


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Distribution(_Model):
    """Summary of a per-request quantity, with how many independent values it rests on.

    With static batching every request of a batch shares the batch's timings, so 64 requests in 2
    batches are 2 values, not 64: ``n_distinct`` says so, and percentiles over few distinct values
    should be read as such.
    """

    mean: float
    p50: float
    p90: float
    p99: float
    min: float
    max: float
    std: float | None = Field(None, description="Sample standard deviation over the requests (None for one).")
    n: int | None = Field(None, description="Requests summarised.")
    n_distinct: int | None = Field(None, description="Distinct values among them (batches, under static batching).")


class RequestSample(_Model):
    """One request of the measured window as the engine timed it; None where the engine hides a timing."""

    input_tokens: int
    output_tokens: int
    latency_s: float
    ttft_s: float | None = None
    itl_s: float | None = None


class Metrics(_Model):
    """Throughput, latency and memory of the measured window."""

    n_passes: int = Field(1, description="Whole passes over the prompt set in the window (energy.min_window_s).")
    n_requests: int
    input_tokens: int
    output_tokens: int
    wall_time_s: float
    output_tokens_per_s: float
    total_tokens_per_s: float
    requests_per_s: float
    latency_s: Distribution
    ttft_s: Distribution | None = None
    itl_s: Distribution | None = None
    peak_memory_bytes: int | None = None
    memory_device: str | None = None
    peak_memory_kind: str | None = Field(
        None,
        description=(
            "What peak_memory_bytes counts: 'torch_allocated' (tensors on the GPU), 'nvml_used' (device memory in "
            "use, every process), or 'process_rss' (the whole process on the CPU, imports and runtime included)."
        ),
    )
    decode_tokens: int | None = Field(None, description="Output tokens after each request's first.")
    prefill_time_s: float | None = Field(
        None, description="Share of wall_time_s spent in prefill (from the prefill-only window, energy.prefill_split)."
    )
    decode_time_s: float | None = Field(None, description="wall_time_s minus prefill_time_s.")
    decode_tokens_per_s: float | None = Field(
        None, description="decode_tokens / decode_time_s: generation speed once prompts are processed."
    )
    n_parameters: int | None = None
    flops_estimate: float | None = Field(None, description="2 x parameters x processed tokens (forward only).")
    requests: list[RequestSample] = Field(
        default_factory=list,
        description="Every request of the window in order, so distributions can be recomputed and checked.",
    )


class Energy(_Model):
    """Energy of the measured window, or why there is none; never an invented number."""

    available: bool
    reason: str | None = None
    method: str | None = None
    duration_s: float | None = None
    total_energy_j: float | None = None
    per_gpu_energy_j: dict[str, float] = Field(default_factory=dict)
    mean_power_w: float | None = None
    energy_per_output_token_j: float | None = None
    energy_per_request_j: float | None = None
    baseline_power_w: float | None = None
    adjusted_energy_j: float | None = Field(None, description="Total minus idle baseline over the window.")
    adjusted_energy_per_output_token_j: float | None = None
    sampled_energy_j: float | None = None
    counter_sampling_gap: float | None = None
    sample_count: int | None = None
    sample_interval_s: float | None = None
    temperature_start_c: float | None = Field(None, description="Hottest GPU at the window's start.")
    temperature_end_c: float | None = Field(None, description="Hottest GPU at the window's end.")
    throttled: bool | None = Field(None, description="None when energy is unavailable: throttling was not observed.")
    throttle_reasons: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    timeseries_file: str | None = None
    counter_update_period_s: float | None = Field(
        None, description="How often the GPU energy counter updated, estimated by polling before the window."
    )
    total_energy_uncertainty_j: float | None = Field(
        None,
        description=(
            "Bound on total_energy_j from the counter's update period: sum over GPUs of "
            "period x max(edge power readings, mean power). None for sampled power."
        ),
    )
    per_gpu_energy_uncertainty_j: dict[str, float] = Field(default_factory=dict)
    energy_per_output_token_uncertainty_j: float | None = Field(
        None, description="total_energy_uncertainty_j / output tokens (also bounds the adjusted figure)."
    )
    uncertainty_method: str | None = Field(
        None,
        description=(
            "How the bound was obtained: 'counter_resolution' (update period x power at the edges) or "
            "'sampling_resolution' (half the gap between left and right Riemann sums of the samples, plus the edges)."
        ),
    )
    prefill_energy_j: float | None = Field(
        None, description="GPU energy of the window's prefill work (prefill-only window, scaled to the passes)."
    )
    decode_energy_j: float | None = Field(None, description="total_energy_j minus prefill_energy_j.")
    energy_per_decode_token_j: float | None = Field(None, description="decode_energy_j / metrics.decode_tokens.")
    prefill_energy_uncertainty_j: float | None = None
    decode_energy_uncertainty_j: float | None = Field(
        None, description="Sum of the window's and the scaled prefill window's resolution bounds."
    )
    prefill_window_s: float | None = Field(
        None, description="Length of the prefill-only window as the meter saw it (like duration_s for the main one)."
    )
    prefill_passes: int | None = Field(None, description="Passes in the prefill-only window.")
    adjusted_negative: bool | None = Field(
        None,
        description=(
            "adjusted_energy_j is below zero: the load drew less than the idle baseline (a stale baseline or a "
            "noisy one); such a figure is flagged and never ranked."
        ),
    )
    grid_intensity_g_per_kwh: float | None = Field(None, description="energy.grid_intensity_g_per_kwh, when set.")
    co2e_g_per_1k_tokens: float | None = Field(
        None, description="gCO2e per 1000 output tokens: measured energy (GPU, plus CPU where read) x grid intensity."
    )


class CpuEnergy(_Model):
    """CPU package and DRAM energy from Linux RAPL over the same window, or why there is none."""

    available: bool
    reason: str | None = None
    source: str | None = Field(None, description="The powercap root that was read.")
    duration_s: float | None = None
    package_energy_j: dict[str, float] = Field(default_factory=dict, description="Per socket.")
    dram_energy_j: dict[str, float] = Field(default_factory=dict, description="Per socket; empty without a DRAM zone.")
    total_energy_j: float | None = Field(None, description="Packages plus DRAM.")
    energy_per_output_token_j: float | None = None
    node_energy_j: float | None = Field(
        None, description="CPU total plus GPU total_energy_j; None unless both were measured."
    )
    node_energy_per_output_token_j: float | None = None
    notes: list[str] = Field(default_factory=list)


def _cpu_not_recorded() -> CpuEnergy:
    return CpuEnergy(available=False, reason="not recorded (result written before CPU energy was measured)")


class ExperimentResult(_Model):
    """Everything needed to interpret and reproduce one measurement."""

    schema_version: str = RESULT_SCHEMA_VERSION
    llem_version: str
    config_hash: str
    cycle: int
    config: dict[str, Any]
    started_at: str
    finished_at: str
    warmup_runs: int
    warmup_final_cv: float | None = None
    metrics: Metrics
    energy: Energy
    cpu_energy: CpuEnergy = Field(default_factory=_cpu_not_recorded)
    environment: dict[str, Any]
    serving: Serving | None = Field(None, description="Server-mode figures; None for offline runs.")


def distribution(values: list[float]) -> Distribution:
    """Mean and nearest-rank percentiles of ``values`` (non-empty)."""
    s = sorted(values)

    def pct(q: float) -> float:
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]

    mean = sum(s) / len(s)
    std = math.sqrt(sum((v - mean) ** 2 for v in s) / (len(s) - 1)) if len(s) > 1 else None
    return Distribution(
        mean=mean,
        p50=pct(0.5),
        p90=pct(0.9),
        p99=pct(0.99),
        min=s[0],
        max=s[-1],
        std=std,
        n=len(s),
        n_distinct=len(set(s)),
    )


class ServingWindow(_Model):
    """One window of a server run (the whole load, or its steady state): what was served and its energy."""

    start_s: float = Field(description="Seconds after the load started.")
    end_s: float = Field(description="Seconds after the load started.")
    duration_s: float
    completed_requests: int = Field(description="Successful requests that finished inside the window.")
    output_tokens: int = Field(description="Output tokens streamed inside the window (by arrival time).")
    output_tokens_per_s: float
    requests_per_s: float
    energy_j: float | None = Field(None, description="GPU energy over the window; None without NVML.")
    energy_uncertainty_j: float | None = Field(None, description="Counter resolution bound on energy_j.")
    energy_per_output_token_j: float | None = None
    energy_per_request_j: float | None = None


class Serving(_Model):
    """Server mode (scenario.kind: server): client-side timings from the stream, goodput, both windows."""

    concurrency: int
    requested_rate_per_s: float | None = Field(None, description="scenario.request_rate; None: closed loop.")
    achieved_rate_per_s: float = Field(description="Requests sent / time from the first send to the last.")
    n_requests: int
    n_failed: int
    failures: list[str] = Field(default_factory=list, description="Distinct error messages, with counts.")
    ttft_ms: Distribution | None = Field(None, description="Send to first streamed token.")
    itl_ms: Distribution | None = Field(None, description="Every gap between streamed token chunks.")
    tpot_ms: Distribution | None = Field(None, description="Per request: (last token - first token) / (tokens - 1).")
    e2e_ms: Distribution | None = Field(None, description="Send to end of stream.")
    queue_ms: Distribution | None = Field(None, description="Time queued in the server, where it reports it.")
    slo_ttft_ms: float | None = None
    slo_tpot_ms: float | None = None
    goodput_requests: int = Field(description="Successful requests meeting the SLO (all successful without one).")
    goodput_requests_per_s: float
    goodput_output_tokens_per_s: float
    energy_per_goodput_token_j: float | None = Field(None, description="Whole-run energy / goodput output tokens.")
    token_count_mismatches: int = Field(
        0, description="Requests whose streamed token count differs from the server's usage figure."
    )
    whole_run: ServingWindow
    steady_state: ServingWindow | None = None
    steady_state_note: str | None = Field(None, description="Why there is no steady state, or why it is unreliable.")
    load_started_monotonic_s: float = Field(description="CLOCK_MONOTONIC at the load's start (the windows' origin).")
    server_log: str | None = Field(None, description="The server's log file, relative to the result folder.")


ExperimentResult.model_rebuild()  # `serving` refers to models defined after it
