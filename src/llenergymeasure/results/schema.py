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


class UncertaintyBudget(_Model):
    """The bound on one energy figure: named components (J, added linearly), their total, and what is left out.

    A component llem cannot know (the power sensor's calibration, say) is listed under
    ``not_included`` with the reason, never counted as zero.
    """

    components_j: dict[str, float] = Field(
        description=(
            "counter_resolution (the counter's brackets at both edges), sampling (power between samples), "
            "power_averaging (a 1 s-averaged reading's edges), reading_resolution (whole mW), "
            "baseline (the idle baseline's bound x the window's length, above-idle figures only)."
        )
    )
    total_j: float
    not_included: dict[str, str] = Field(default_factory=dict, description="Known sources of error left out, and why.")


class Energy(_Model):
    """Energy of the measured window, or why there is none; never an invented number.

    Every energy figure comes with a bound that holds against the truth over the window's recorded
    edges (``window_*_monotonic_s``): ``total_energy_uncertainty_j`` is the whole budget
    (``uncertainty_budget``), and each derived figure carries its own.
    """

    available: bool
    reason: str | None = None
    method: str | None = Field(None, description="'counter' (NVML's energy counter) or 'sampling' (integrated power).")
    duration_s: float | None = None
    window_start_monotonic_s: float | None = Field(None, description="The window's start on CLOCK_MONOTONIC.")
    window_end_monotonic_s: float | None = Field(None, description="The window's end on CLOCK_MONOTONIC.")
    window_start_unix_s: float | None = Field(None, description="The window's start on the wall clock (Unix s).")
    window_end_unix_s: float | None = Field(None, description="The window's end on the wall clock (Unix s).")
    total_energy_j: float | None = None
    per_gpu_energy_j: dict[str, float] = Field(default_factory=dict)
    mean_power_w: float | None = None
    energy_per_output_token_j: float | None = None
    energy_per_request_j: float | None = None
    power_source: str | None = Field(
        None,
        description=(
            "The power reading sampled: 'instant_field' (NVML_FI_DEV_POWER_INSTANT), 'power_usage_average' "
            "(nvmlDeviceGetPowerUsage, a trailing average on Ampere and newer, integrated shifted by half its "
            "window) or 'power_usage_instant' (older GPUs and GA100)."
        ),
    )
    power_average_window_s: float | None = Field(None, description="Averaging window of the power reading (0: none).")
    baseline_power_w: float | None = Field(
        None,
        description=(
            "Idle power of the unit's GPUs (sum) in the loaded state: model loaded and warmed, context, weights "
            "and KV cache resident; the median of sub-windows."
        ),
    )
    baseline_power_uncertainty_w: float | None = Field(
        None,
        description=(
            "Bound on baseline_power_w: the idle window's budget / its length, plus |median - mean| of the sub-windows."
        ),
    )
    baseline_per_gpu_power_w: dict[str, float] = Field(default_factory=dict)
    baseline_per_gpu_uncertainty_w: dict[str, float] = Field(default_factory=dict)
    baseline_sub_window_power_w: dict[str, list[float]] = Field(
        default_factory=dict, description="Per GPU, the mean power of each sub-window the median is taken over."
    )
    baseline_state: str | None = Field(None, description="'loaded': after model load and warmup, before the window.")
    baseline_method: str | None = None
    baseline_window_start_monotonic_s: float | None = None
    baseline_window_end_monotonic_s: float | None = None
    baseline_window_start_unix_s: float | None = None
    baseline_window_end_unix_s: float | None = None
    baseline_temperature_start_c: float | None = Field(None, description="Hottest GPU at the baseline's start.")
    baseline_temperature_end_c: float | None = Field(None, description="Hottest GPU at the baseline's end.")
    adjusted_energy_j: float | None = Field(None, description="Total minus idle baseline over the window.")
    adjusted_energy_uncertainty_j: float | None = Field(
        None, description="The window's budget plus the baseline's bound x the window's length."
    )
    adjusted_uncertainty_budget: UncertaintyBudget | None = None
    adjusted_energy_per_output_token_j: float | None = None
    adjusted_energy_per_output_token_uncertainty_j: float | None = None
    sampled_energy_j: float | None = Field(
        None,
        description=(
            "Energy from the sampled power readings over the same window. Beside the counter it is a cross-check of "
            "the integration and the edges' timing; both come from the board's one power sensor, so their agreement "
            "says nothing about that sensor's accuracy."
        ),
    )
    sampled_energy_uncertainty_j: float | None = None
    counter_sampling_gap: float | None = Field(
        None, description="|counter - sampled| / the larger: the cross-check above (counter method only)."
    )
    sample_count: int | None = None
    sample_interval_s: float | None = None
    temperature_start_c: float | None = Field(None, description="Hottest GPU at the window's start.")
    temperature_end_c: float | None = Field(None, description="Hottest GPU at the window's end.")
    throttled: bool | None = Field(
        None,
        description=(
            "A reason that slows the GPU (power, thermal, sync boost, board limit, reliability) held for at least "
            "throttle_threshold_share of the window; None when energy is unavailable."
        ),
    )
    throttle_reasons: list[str] = Field(default_factory=list, description="The reasons that crossed the threshold.")
    throttle_share: dict[str, float] = Field(
        default_factory=dict, description="Share of the window each reason held (largest over the GPUs)."
    )
    throttle_method: str | None = Field(
        None,
        description=(
            "'violation_time' (nvmlDeviceGetViolationStatus deltas at the edges) or 'sampled_clock_event_bits' "
            "(share of sampling ticks with the bit set, where violation time is unreadable)."
        ),
    )
    throttle_threshold_share: float | None = None
    notes: list[str] = Field(default_factory=list)
    timeseries_file: str | None = None
    counter_update_period_s: float | None = Field(
        None, description="How often the GPU energy counter updated, estimated by polling before the window."
    )
    total_energy_uncertainty_j: float | None = Field(
        None, description="The whole budget of total_energy_j (uncertainty_budget.total_j): truth lies within +-this."
    )
    uncertainty_budget: UncertaintyBudget | None = None
    per_gpu_energy_uncertainty_j: dict[str, float] = Field(default_factory=dict)
    energy_per_output_token_uncertainty_j: float | None = Field(
        None, description="total_energy_uncertainty_j / tokens."
    )
    energy_per_request_uncertainty_j: float | None = None
    uncertainty_method: str | None = Field(
        None,
        description=(
            "'counter_brackets' (each edge between two counter values read around it) or 'sampling' (the power "
            "readings' integration bounds)."
        ),
    )
    prefill_energy_j: float | None = Field(
        None, description="GPU energy of the window's prefill work (prefill-only window, scaled to the passes)."
    )
    decode_energy_j: float | None = Field(None, description="total_energy_j minus prefill_energy_j.")
    energy_per_decode_token_j: float | None = Field(None, description="decode_energy_j / metrics.decode_tokens.")
    prefill_energy_uncertainty_j: float | None = None
    decode_energy_uncertainty_j: float | None = Field(
        None, description="Sum of the window's and the scaled prefill window's budgets."
    )
    energy_per_decode_token_uncertainty_j: float | None = None
    prefill_window_s: float | None = Field(
        None, description="Length of the prefill-only window as the meter saw it (like duration_s for the main one)."
    )
    prefill_passes: int | None = Field(None, description="Passes in the prefill-only window.")
    prefill_window_start_monotonic_s: float | None = None
    prefill_window_end_monotonic_s: float | None = None
    prefill_window_start_unix_s: float | None = None
    prefill_window_end_unix_s: float | None = None
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
        None,
        description=(
            "The unit's CPU energy (apportioned_energy_j) plus GPU total_energy_j; None unless both were measured, "
            "or when the sockets were shared and no share could be read."
        ),
    )
    node_energy_per_output_token_j: float | None = None
    shared: bool | None = Field(
        None,
        description=(
            "Other units may have run on this host's CPU sockets during this window (concurrent_units > 1); RAPL "
            "counts whole sockets, so total_energy_j then includes their CPU energy."
        ),
    )
    concurrent_units: int | None = Field(
        None, description="Most units the host could run at once, this one included (LLEM_CONCURRENT_UNITS); a bound."
    )
    attribution_method: str | None = Field(
        None,
        description=(
            "'whole_host': the unit had the sockets alone; 'cpu_time_share': apportioned_energy_j = total_energy_j x "
            "cpu_time_share; 'shared_unapportioned': shared, but no CPU-time share could be read."
        ),
    )
    apportioned_energy_j: float | None = Field(
        None, description="This unit's CPU energy: total_energy_j alone, total x cpu_time_share when shared."
    )
    cpu_time_share: float | None = Field(
        None, description="unit_cpu_time_s / host_busy_cpu_time_s over the window, in [0, 1]."
    )
    unit_cpu_time_s: float | None = Field(
        None, description="CPU time (user+system) of the unit's process tree over the window, reaped children included."
    )
    host_busy_cpu_time_s: float | None = Field(
        None, description="Busy CPU time of all host CPUs over the window (/proc/stat), in s."
    )
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
    start_monotonic_s: float | None = Field(None, description="The window's start on CLOCK_MONOTONIC.")
    end_monotonic_s: float | None = Field(None, description="The window's end on CLOCK_MONOTONIC.")
    start_unix_s: float | None = Field(None, description="The window's start on the wall clock (Unix s).")
    end_unix_s: float | None = Field(None, description="The window's end on the wall clock (Unix s).")
    energy_j: float | None = Field(None, description="GPU energy over the window; None without NVML.")
    energy_uncertainty_j: float | None = Field(None, description="The whole budget of energy_j.")
    energy_per_output_token_j: float | None = None
    energy_per_output_token_uncertainty_j: float | None = None
    energy_per_request_j: float | None = None
    energy_per_request_uncertainty_j: float | None = None


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
    energy_per_goodput_token_uncertainty_j: float | None = None
    token_count_mismatches: int = Field(
        0, description="Requests whose streamed token count differs from the server's usage figure."
    )
    whole_run: ServingWindow
    steady_state: ServingWindow | None = None
    steady_state_note: str | None = Field(None, description="Why there is no steady state, or why it is unreliable.")
    load_started_monotonic_s: float = Field(description="CLOCK_MONOTONIC at the load's start (the windows' origin).")
    server_log: str | None = Field(None, description="The server's log file, relative to the result folder.")


ExperimentResult.model_rebuild()  # `serving` refers to models defined after it
