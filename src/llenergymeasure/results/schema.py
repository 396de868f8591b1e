"""The result file: one JSON per experiment+cycle. Units are in every field name."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llenergymeasure import RESULT_SCHEMA_VERSION


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Distribution(_Model):
    """Summary of a per-request quantity."""

    mean: float
    p50: float
    p90: float
    p99: float
    min: float
    max: float


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

    return Distribution(mean=sum(s) / len(s), p50=pct(0.5), p90=pct(0.9), p99=pct(0.99), min=s[0], max=s[-1])


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
