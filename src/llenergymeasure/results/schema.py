"""The result file: one JSON per experiment+cycle. Units are in every field name."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

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
    service_s: float | None = Field(None, description="PyTorch: its static batch's own generate time.")


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
    latency_s: Distribution = Field(
        description=(
            "Per request, from its submission in the pass (every request of a pass is submitted when the pass "
            "starts) to its last token: queueing behind earlier batches or sequences included, on every backend."
        )
    )
    ttft_s: Distribution | None = Field(
        None, description="Per request, from its submission in the pass to its first token (queueing included)."
    )
    itl_s: Distribution | None = None
    service_latency_s: Distribution | None = Field(
        None,
        description=(
            "PyTorch only: per request, its own static batch's generate time (start of its batch to its end), "
            "without the wait behind earlier batches."
        ),
    )
    prompt_sets_distinct: int | None = Field(
        None, description="Passes of the window whose prompts no earlier pass of it held (the rest repeat, noted)."
    )
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
        None, description="Share of wall_time_s spent in prefill (the split's intercept, energy.prefill_split)."
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
    phase_split_method: str | None = Field(
        None,
        description=(
            "How prefill and decode were split: 'differential' (a second window with split_output_tokens per "
            "request; decode J/token is the slope of energy per pass over decode tokens per pass, prefill the "
            "intercept). Older results without it used one-token passes."
        ),
    )
    split_output_tokens: int | None = Field(None, description="Output tokens per request in the split's window.")
    split_window_first: bool | None = Field(
        None, description="The split's window ran before the main one (the order alternates across cycles)."
    )
    split_window_energy_j: float | None = Field(None, description="GPU energy of the split's window, all passes.")
    prefill_energy_j: float | None = Field(
        None, description="GPU energy of the window's prefill work: the split's intercept times the window's passes."
    )
    decode_energy_j: float | None = Field(None, description="total_energy_j minus prefill_energy_j.")
    energy_per_decode_token_j: float | None = Field(
        None, description="The split's slope: extra energy per decode token (decode_energy_j / metrics.decode_tokens)."
    )
    prefill_energy_uncertainty_j: float | None = None
    decode_energy_uncertainty_j: float | None = Field(
        None, description="From both windows' budgets (experiment/phases.py derives it)."
    )
    energy_per_decode_token_uncertainty_j: float | None = None
    prefill_window_s: float | None = Field(
        None, description="Length of the split's window as the meter saw it (like duration_s for the main one)."
    )
    prefill_passes: int | None = Field(None, description="Passes in the split's window.")
    split_window_input_tokens: int | None = Field(
        None, description="Input tokens of the split window's prompts: its figures are per input token of these."
    )
    split_window_decode_tokens: int | None = Field(
        None, description="Decode tokens of the split's window (output tokens after each request's first)."
    )
    split_prompt_sets_distinct: int | None = Field(
        None,
        description="Passes of the split's window whose prompts no earlier pass of it held (the rest repeat, noted).",
    )
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


class GpuThermal(_Model):
    """One GPU's temperature and power when a thermal wait began and when it ended (None: unreadable)."""

    gpu: int = Field(description="The unit's CUDA ordinal (as in energy.per_gpu_energy_j).")
    start_temperature_c: float | None = None
    start_power_w: float | None = None
    end_temperature_c: float | None = None
    end_power_w: float | None = None


class GpuCooldown(GpuThermal):
    """One GPU's cooldown: where it started and ended, and the idle reference it waited for."""

    uuid: str | None = None
    idle_temperature_c: float | None = Field(
        None, description="The GPU's idle reference: its first reading in the campaign, before any model loaded."
    )
    idle_power_w: float | None = None
    idle_recorded_here: bool = Field(
        False, description="This unit recorded the reference (the campaign's first unit on this GPU): no wait."
    )


class Cooldown(_Model):
    """What ``execution.cooldown`` saw before the unit started (``experiment/cooldown.py``)."""

    outcome: Literal["reached", "capped", "unavailable"] = Field(
        description=(
            "'reached': every GPU got back within the band of its idle reference; 'capped': max_wait_s ran out first "
            "and the unit started anyway; 'unavailable': no readings (no NVML), no wait."
        )
    )
    reason: str | None = Field(None, description="Why the cooldown was unavailable.")
    waited_s: float = Field(0.0, description="From the first reading to the verdict.")
    temperature_band_c: float
    power_band_w: float
    max_wait_s: float
    gpus: list[GpuCooldown] = Field(default_factory=list)


class GpuSettle(GpuThermal):
    """One GPU's warmup until settled, and its drift over the last window when it ended."""

    temperature_drift_c: float | None = Field(
        None, description="Fitted temperature change over warmup.settle_window_s at the end (signed)."
    )
    power_change: float | None = Field(
        None, description="Fitted power change over the window at the end, as a fraction of its mean power."
    )


class WarmupSettle(_Model):
    """How ``warmup.until_settled`` ended (``energy/thermal.py`` holds the rule)."""

    outcome: Literal["settled", "capped", "unavailable"] = Field(
        description=(
            "'settled': every GPU's temperature and power settled; 'capped': warmup.settle_max_s ran out first; "
            "'unavailable': no readings (no NVML), warmup ran its n_runs/cv rule only."
        )
    )
    reason: str | None = Field(None, description="Why settling was unavailable.")
    duration_s: float = Field(0.0, description="From the warmup's first reading to the verdict.")
    runs: int = Field(0, description="Warmup batches (or server warmup rounds) run in that time.")
    gpus: list[GpuSettle] = Field(default_factory=list)


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
    workload: Workload | None = Field(
        None, description="The requests as they ran: dataset kind, arrivals, input and output lengths."
    )
    cooldown: Cooldown | None = Field(
        None, description="The wait for the GPUs to cool down before the unit (execution.cooldown); None: not asked."
    )
    warmup_settle: WarmupSettle | None = Field(
        None, description="The warmup until temperature and power settled (warmup.until_settled); None: not asked."
    )
    engine_telemetry: EngineTelemetryRecord | None = Field(
        None, description="The engine's own metrics beside power (telemetry.enabled); None: off or not available."
    )


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
    """One window of a server run (the whole load, its steady state, or an overloaded would-be steady state).

    Requests count by completion inside the window, tokens by their arrival inside it; the goodput
    figures count only the requests meeting the SLO, the same way (None in results that predate them).
    """

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
    goodput_requests: int | None = Field(None, description="Requests meeting the SLO that finished inside the window.")
    request_goodput_per_s: float | None = Field(
        None, description="goodput_requests / duration_s: vLLM's request goodput over this window."
    )
    goodput_output_tokens: int | None = Field(
        None, description="Output tokens of requests meeting the SLO, streamed inside the window."
    )
    energy_per_goodput_token_j: float | None = Field(None, description="energy_j / goodput_output_tokens.")
    energy_per_goodput_token_uncertainty_j: float | None = None


class LoadStability(_Model):
    """An open loop's would-be steady window tested for stability (``llenergymeasure.serving.stability``).

    Arrivals are due times and completions any finished request (failed ones too) inside ``(start,
    end]``; the queue is requests arrived and not finished, so ``queue_end - queue_start = arrivals -
    completions``. The net growth ``queue_end - queue_start - 1`` gets the interval ``[growth_low,
    growth_high]`` (2 x sqrt(2 x arrival_rate_per_s x reference_time_in_system_s x max(1, 1/burstiness))
    either side), compared with ``growth_tolerance`` (0.10 x arrivals): above it overload, at or below
    it steady, straddling it unresolved.
    """

    verdict: Literal["steady", "overload", "unresolved"]
    arrivals: int
    completions: int
    arrival_rate_per_s: float
    completion_rate_per_s: float
    queue_start: int = Field(description="Requests in flight at the window's start.")
    queue_end: int = Field(description="Requests in flight at the window's end.")
    queue_mean: float = Field(description="Time-averaged requests in flight over the window.")
    reference_time_in_system_s: float = Field(
        description="Median arrival-to-end time of the requests that arrived before the window opened."
    )
    growth_low: float
    growth_high: float
    growth_tolerance: float


class ServedRequest(_Model):
    """One request of a server run, times in seconds after the load started, so every figure can be recomputed."""

    index: int = Field(description="Position in the prompt set (and in the schedule).")
    due_s: float | None = Field(None, description="Scheduled arrival under a request rate; None in a closed loop.")
    sent_s: float = Field(description="When the client sent it.")
    first_token_s: float | None = Field(None, description="When its first token arrived; None if none did.")
    done_s: float = Field(description="When its stream ended (or failed).")
    output_tokens: int
    ok: bool = Field(description="Finished without an error and streamed at least one token.")
    meets_slo: bool = Field(description="Counted towards request goodput.")


class SaturationPoint(_Model):
    """One phase of a saturation sweep: the load offered, what the server completed, its own energy window."""

    profile: Literal["synchronous", "throughput", "rate"] = Field(
        description="'synchronous': one request at a time; 'throughput': all at once; 'rate': an open loop."
    )
    target_rate_per_s: float | None = Field(None, description="The rate asked for ('rate' phases).")
    offered_rate_per_s: float | None = Field(
        None, description="Arrivals per second as sent: the schedule's own rate, or the achieved sends' rate."
    )
    completed_rate_per_s: float | None = Field(
        None, description="Successful requests per second: their count over the phase's start to its last completion."
    )
    sustained: bool | None = Field(
        None,
        description=(
            "'rate' phases: nothing failed and the stability test called the window steady; False: a failure or "
            "overload; None: too short to tell (unresolved)."
        ),
    )
    stability: LoadStability | None = Field(None, description="'rate' phases: the open loop's stability test.")
    n_requests: int
    n_failed: int
    ttft_ms: Distribution | None = None
    itl_ms: Distribution | None = None
    e2e_ms: Distribution | None = None
    window: ServingWindow = Field(description="The phase's energy window: throughput and energy per token.")


class SaturationCurve(_Model):
    """A saturation sweep (``scenario.saturation``): every phase in order, and the highest rate that held."""

    points: list[SaturationPoint]
    max_sustained_rate_per_s: float | None = Field(
        None, description="The highest offered rate that held; None when none of the rate phases did."
    )
    note: str | None = None


class LengthSummary(_Model):
    """Token lengths of the requests a window ran: the distribution, and the exact counts behind it."""

    distribution: Distribution | None = None
    total: int = 0


class Workload(_Model):
    """What the requests were: where they came from, their input and output lengths as they ran."""

    dataset: str = Field(description="The dataset's kind (builtin, jsonl, sharegpt, table, hf, synthetic, trace).")
    output_lengths: Literal["fixed", "dataset", "natural"] = "fixed"
    arrivals: str | None = Field(
        None, description="How requests arrived: offline, closed_loop, gamma, ramp, trace, saturation."
    )
    n_requests: int
    input_tokens: LengthSummary
    output_tokens: LengthSummary = Field(description="Output tokens that actually ran (per request).")
    requested_output_tokens: LengthSummary | None = Field(
        None, description="The lengths asked for, per request, where each had its own (output_lengths dataset, trace)."
    )


class Serving(_Model):
    """Server mode (scenario.kind: server): client-side timings from the stream, goodput, both windows.

    Latencies (``ttft_ms``, ``e2e_ms``) run from each request's arrival: its due time under a request
    rate, so the client's lateness and any wait for a slot are included, and its send in a closed loop.
    """

    concurrency: int | None = Field(
        description="Most requests in flight at once as run (closed loop: its clients); None: an uncapped open loop."
    )
    requested_rate_per_s: float | None = Field(None, description="scenario.request_rate; None: closed loop.")
    schedule_rate_per_s: float | None = Field(
        None,
        description=(
            "The drawn arrival schedule's own rate: (n - 1) / (last due time - first due time). A finite gamma "
            "schedule only approximates request_rate; this is the load that was asked for. None: closed loop."
        ),
    )
    achieved_rate_per_s: float = Field(
        description="Requests sent per second: (n - 1) / (last send - first send), the schedule rate's estimator."
    )
    arrival_seed: int | None = Field(
        None, description="Seed of the arrival schedule (scenario.arrival_schedule: seed, or seed and cycle)."
    )
    send_lateness_ms: Distribution | None = Field(
        None, description="Per request, send minus due time (open loop; None in a closed loop)."
    )
    send_lateness_flagged: bool | None = Field(
        None, description="send_lateness_ms.p99 above 5 ms (SEND_LATENESS_NOTE_P99_MS): the load was not the schedule."
    )
    n_requests: int
    n_failed: int
    failures: list[str] = Field(default_factory=list, description="Distinct error messages, with counts.")
    ttft_ms: Distribution | None = Field(
        None, description="Arrival (due time under a request rate, else send) to first streamed token."
    )
    send_ttft_ms: Distribution | None = Field(
        None, description="Send to first streamed token (open loop; in a closed loop it is ttft_ms)."
    )
    itl_ms: Distribution | None = Field(None, description="Every gap between streamed token chunks.")
    tpot_ms: Distribution | None = Field(None, description="Per request: (last token - first token) / (tokens - 1).")
    e2e_ms: Distribution | None = Field(
        None, description="Arrival (due time under a request rate, else send) to end of stream."
    )
    send_e2e_ms: Distribution | None = Field(
        None, description="Send to end of stream (open loop; in a closed loop it is e2e_ms)."
    )
    queue_ms: Distribution | None = Field(None, description="Time queued in the server, where it reports it.")
    slo_ttft_ms: float | None = None
    slo_tpot_ms: float | None = None
    goodput_requests: int = Field(description="Successful requests meeting the SLO (all successful without one).")
    request_goodput_per_s: float = Field(
        validation_alias=AliasChoices("request_goodput_per_s", "goodput_requests_per_s"),
        description=(
            "Request goodput as vLLM's bench defines it: goodput_requests / the whole run's duration "
            "(goodput_requests_per_s in older results)."
        ),
    )
    goodput_output_tokens_per_s: float = Field(
        description="Output tokens of the requests meeting the SLO / the whole run's duration (token goodput)."
    )
    energy_per_goodput_token_j: float | None = Field(None, description="Whole-run energy / goodput output tokens.")
    energy_per_goodput_token_uncertainty_j: float | None = None
    token_count_mismatches: int = Field(
        0, description="Requests whose streamed token count differs from the server's usage figure."
    )
    whole_run: ServingWindow
    steady_state: ServingWindow | None = Field(
        None, description="The steady-state window; None when there is none, or when an open loop's failed its test."
    )
    steady_state_note: str | None = Field(None, description="Why there is no steady state, or why it is unreliable.")
    load_state: Literal["steady", "overload", "unresolved"] | None = Field(
        None,
        description=(
            "'steady': steady_state holds (a closed loop's by construction, an open loop's once its stability test "
            "showed completions keeping up); 'overload': an open loop's completions fell behind beyond chance; "
            "'unresolved': its window was too short to tell; None: no window (steady_state_note says why)."
        ),
    )
    stability: LoadStability | None = Field(None, description="The open loop's stability test of its window.")
    rejected_window: ServingWindow | None = Field(
        None,
        description=(
            "An open loop's would-be steady window that its stability test did not pass (load_state overload or "
            "unresolved): kept for inspection, never ranked as a steady state."
        ),
    )
    notes: list[str] = Field(
        default_factory=list, description="Notes on the load as offered: sends late behind their schedule."
    )
    requests: list[ServedRequest] = Field(default_factory=list, description="Every request's own timings.")
    load_started_monotonic_s: float = Field(description="CLOCK_MONOTONIC at the load's start (the windows' origin).")
    server_log: str | None = Field(None, description="The server's log file, relative to the result folder.")
    saturation: SaturationCurve | None = Field(None, description="The saturation sweep's curve (scenario.saturation).")


class EngineTelemetry(_Model):
    """The engine's own metrics over one energy window (``serving.telemetry.summarise``).

    Gauges are means over the scrapes inside the window; counters are deltas from the last scrape at
    or before its start to the first at or after its end (else the nearest inside). None: not exposed
    by the engine, or too few scrapes.
    """

    n_samples: int = Field(description="Scrapes inside the window.")
    interval_s: float | None = Field(None, description="Mean time between those scrapes, as achieved.")
    max_gap_s: float | None = Field(None, description="Longest time between two of them.")
    mean_running: float | None = Field(None, description="Mean requests in the engine's running batch.")
    mean_waiting: float | None = Field(None, description="Mean requests queued in the engine.")
    mean_kv_cache_usage: float | None = Field(None, description="Mean KV-cache usage, a fraction (0..1).")
    max_kv_cache_usage: float | None = Field(None, description="Highest KV-cache usage seen, a fraction.")
    preemptions: float | None = Field(None, description="Requests preempted across the window.")
    prefix_cache_hit_rate: float | None = Field(
        None, description="Prefix-cache hit tokens / queried tokens across the window; None without queries."
    )
    prompt_tokens: float | None = Field(None, description="Prompt tokens the engine prefilled across the window.")
    generation_tokens: float | None = Field(None, description="Tokens the engine generated across the window.")


class EngineTelemetryRecord(_Model):
    """Engine telemetry beside power (``telemetry`` in the config): its timeseries and its summaries."""

    source: str = Field(
        description="Where it was read: the server's metrics URL, or 'in-process' (offline vLLM's registry)."
    )
    interval_s: float = Field(description="The requested scrape interval (telemetry.interval_s).")
    timeseries: str | None = Field(
        None, description="The samples' parquet, relative to the result folder (t_s from the window start)."
    )
    n_failed_scrapes: int = Field(0, description="Scrapes that failed (refused, timed out, unparseable).")
    whole_run: EngineTelemetry | None = Field(None, description="Over the whole energy window.")
    steady_state: EngineTelemetry | None = Field(None, description="Over the steady-state window (server mode).")
    note: str | None = Field(None, description="Why a part is missing: no samples, scrapes failing.")


ExperimentResult.model_rebuild()  # `serving` refers to models defined after it
