"""A result's sections from what was measured, pure: the same for offline and server-mode experiments.

Nothing here reads a meter or writes a file; ``runner`` (offline) and ``serving`` (server mode)
measure, then hand their window, baseline and requests to these functions. Every energy figure
is derived with its own bound: a per-token figure's bound is the window's budget over the tokens,
an above-idle figure's adds the baseline's bound times the window's length.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from llenergymeasure.backends.base import RequestRecord
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.energy.cputime import apportion_cpu_energy
from llenergymeasure.energy.idle import IdleBaseline, hottest
from llenergymeasure.energy.settle import THROTTLE_SHARE, Budget, EnergyMeasurement
from llenergymeasure.experiment.phases import PhaseSplit
from llenergymeasure.results.schema import (
    CpuEnergy,
    Energy,
    LengthSummary,
    Metrics,
    RequestSample,
    UncertaintyBudget,
    Workload,
    distribution,
)

if TYPE_CHECKING:  # the measuring side, imported for its types only: this module reads no meter
    from llenergymeasure.experiment.measure import WindowMeasurement
    from llenergymeasure.experiment.offline import MeasuredPasses

IDLE_DRIFT = (
    "idle power changing between the baseline and the window: llem results flags baselines that drift across units"
)


def lengths(values: list[int]) -> LengthSummary:
    """A per-request token count's distribution and total."""
    return LengthSummary(distribution=distribution([float(v) for v in values]) if values else None, total=sum(values))


def arrivals_kind(config: ExperimentConfig) -> str:
    """How the requests arrived, in one word (the result's ``workload.arrivals``)."""
    scenario = config.scenario
    if scenario.kind == "offline":
        return "offline"
    if scenario.saturation is not None:
        return "saturation"
    if scenario.replay is not None:
        return "trace"
    if scenario.ramp_up is not None:
        return "ramp"
    return "gamma" if scenario.request_rate is not None else "closed_loop"


def workload_section(
    config: ExperimentConfig,
    records: list[RequestRecord],
    requested: list[int] | None,
    dataset_kind: str | None = None,
    output_lengths: Literal["fixed", "dataset", "natural"] | None = None,
) -> Workload:
    """The requests as they ran: input and output lengths per request, and the lengths asked for where own.

    ``dataset_kind`` and ``output_lengths`` default to the config's; a replayed trace passes its own.
    """
    return Workload(
        dataset=dataset_kind or config.dataset.kind,
        output_lengths=output_lengths or config.output_lengths,
        arrivals=arrivals_kind(config),
        n_requests=len(records),
        input_tokens=lengths([r.input_tokens for r in records]),
        output_tokens=lengths([r.output_tokens for r in records]),
        requested_output_tokens=lengths(requested) if requested is not None else None,
    )


def budget_model(b: Budget) -> UncertaintyBudget:
    """The result's form of a budget."""
    return UncertaintyBudget(components_j=dict(b.components_j), total_j=b.total_j, not_included=dict(b.not_included))


def build_metrics(
    records: list[RequestRecord],
    wall_s: float,
    peak: int | None,
    device: str,
    n_params: int | None,
    n_passes: int = 1,
) -> Metrics:
    """Aggregate per-request records of the window (all its passes) into throughput and latency figures."""
    n_in = sum(r.input_tokens for r in records)
    n_out = sum(r.output_tokens for r in records)
    ttft = [r.ttft_s for r in records if r.ttft_s is not None]
    itl = [r.itl_s for r in records if r.itl_s is not None]
    service = [r.service_s for r in records if r.service_s is not None]
    return Metrics(
        n_passes=n_passes,
        n_requests=len(records),
        input_tokens=n_in,
        output_tokens=n_out,
        wall_time_s=wall_s,
        output_tokens_per_s=n_out / wall_s,
        total_tokens_per_s=(n_in + n_out) / wall_s,
        requests_per_s=len(records) / wall_s,
        latency_s=distribution([r.latency_s for r in records]),
        ttft_s=distribution(ttft) if ttft else None,
        itl_s=distribution(itl) if itl else None,
        service_latency_s=distribution(service) if service else None,
        peak_memory_bytes=peak,
        memory_device=device,
        n_parameters=n_params,
        flops_estimate=2.0 * n_params * (n_in + n_out) if n_params else None,
        requests=[
            RequestSample(
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                latency_s=r.latency_s,
                ttft_s=r.ttft_s,
                itl_s=r.itl_s,
                service_s=r.service_s,
            )
            for r in records
        ],
    )


def build_energy(
    w: WindowMeasurement | None,
    reason: str | None,
    metrics: Metrics,
    baseline: IdleBaseline | None,
    timeseries_file: str | None,
) -> Energy:
    """Energy section of the result: every figure with its bound, or the reason there are none."""
    m = w.gpu if w is not None else None
    if m is None:
        return Energy(available=False, reason=reason or "no energy measurement")
    tokens = metrics.output_tokens
    requests = metrics.n_requests

    def per(energy_j: float | None, n: int) -> float | None:
        return energy_j / n if energy_j is not None and n else None

    budget = m.budget
    unc = budget.total_j
    notes = list(m.notes)
    adjusted = adj_budget = None
    base_fields: dict[str, Any] = {}
    if baseline is not None:
        adjusted = m.total_energy_j - baseline.power_w * m.duration_s
        adj_budget = Budget(
            {**budget.components_j, "baseline": baseline.uncertainty_w * m.duration_s},
            {**budget.not_included, "idle_drift": IDLE_DRIFT},
        )
        notes.extend(f"baseline: {n}" for n in baseline.notes)
        if adjusted < 0:
            notes.append(
                f"energy above idle is negative ({adjusted:.4g} J): the window drew less than the idle baseline"
                f" ({baseline.power_w:.4g} W); flagged, and left out of rankings"
            )
        base_fields = baseline_fields(baseline)
    return Energy(
        available=True,
        method=m.method,
        duration_s=m.duration_s,
        window_start_monotonic_s=m.start_s,
        window_end_monotonic_s=m.end_s,
        window_start_unix_s=m.start_unix_s,
        window_end_unix_s=m.end_unix_s,
        total_energy_j=m.total_energy_j,
        per_gpu_energy_j={str(k): v for k, v in m.per_gpu_energy_j.items()},
        mean_power_w=m.mean_power_w,
        energy_per_output_token_j=per(m.total_energy_j, tokens),
        energy_per_request_j=per(m.total_energy_j, requests),
        power_source=m.power_source,
        power_average_window_s=m.power_average_s,
        **base_fields,
        adjusted_energy_j=adjusted,
        adjusted_energy_uncertainty_j=adj_budget.total_j if adj_budget is not None else None,
        adjusted_uncertainty_budget=budget_model(adj_budget) if adj_budget is not None else None,
        adjusted_energy_per_output_token_j=per(adjusted, tokens),
        adjusted_energy_per_output_token_uncertainty_j=per(adj_budget.total_j, tokens) if adj_budget else None,
        adjusted_negative=adjusted < 0 if adjusted is not None else None,
        sampled_energy_j=m.sampled_energy_j,
        sampled_energy_uncertainty_j=m.sampled_budget.total_j,
        counter_sampling_gap=m.counter_sampling_gap,
        sample_count=m.sample_count,
        sample_interval_s=m.sample_interval_s,
        temperature_start_c=hottest(m, first=True),
        temperature_end_c=hottest(m, first=False),
        throttled=bool(m.throttle_reasons),
        throttle_reasons=m.throttle_reasons,
        throttle_share=m.throttle_share,
        throttle_method=m.throttle_method,
        throttle_threshold_share=THROTTLE_SHARE,
        notes=notes,
        timeseries_file=timeseries_file,
        counter_update_period_s=m.counter_update_period_s,
        total_energy_uncertainty_j=unc,
        uncertainty_budget=budget_model(budget),
        per_gpu_energy_uncertainty_j={str(k): v for k, v in m.per_gpu_uncertainty_j.items()},
        energy_per_output_token_uncertainty_j=per(unc, tokens),
        energy_per_request_uncertainty_j=per(unc, requests),
        uncertainty_method=m.uncertainty_method,
    )


def baseline_fields(b: IdleBaseline) -> dict[str, Any]:
    """The energy section's baseline fields."""
    return {
        "baseline_power_w": b.power_w,
        "baseline_power_uncertainty_w": b.uncertainty_w,
        "baseline_per_gpu_power_w": {str(k): v for k, v in b.per_gpu_power_w.items()},
        "baseline_per_gpu_uncertainty_w": {str(k): v for k, v in b.per_gpu_uncertainty_w.items()},
        "baseline_sub_window_power_w": {str(k): v for k, v in b.sub_window_power_w.items()},
        "baseline_state": "loaded",
        "baseline_method": b.method,
        "baseline_window_start_monotonic_s": b.start_s,
        "baseline_window_end_monotonic_s": b.end_s,
        "baseline_window_start_unix_s": b.start_unix_s,
        "baseline_window_end_unix_s": b.end_unix_s,
        "baseline_temperature_start_c": b.temperature_start_c,
        "baseline_temperature_end_c": b.temperature_end_c,
    }


def build_cpu_energy(w: WindowMeasurement | None, root: str, metrics: Metrics, gpu: Energy) -> CpuEnergy:
    """CPU section of the result: the unit's own share where sockets were shared, and the node total."""
    if w is None or w.cpu is None:
        reason = w.no_cpu_reason if w is not None else None
        return CpuEnergy(available=False, reason=reason or "no CPU energy measurement", source=root)
    m = w.cpu
    total = m.total_energy_j
    share = apportion_cpu_energy(total, w.cpu_time, w.concurrent_units)
    own = share.apportioned_energy_j
    node = own + gpu.total_energy_j if own is not None and gpu.available and gpu.total_energy_j is not None else None
    tokens = metrics.output_tokens
    return CpuEnergy(
        available=True,
        source=root,
        duration_s=m.duration_s,
        package_energy_j={str(k): v for k, v in m.package_energy_j.items()},
        dram_energy_j={str(k): v for k, v in m.dram_energy_j.items()},
        total_energy_j=total,
        energy_per_output_token_j=own / tokens if own is not None and tokens else None,
        node_energy_j=node,
        node_energy_per_output_token_j=node / tokens if node is not None and tokens else None,
        shared=share.shared,
        concurrent_units=share.concurrent_units,
        attribution_method=share.method,
        apportioned_energy_j=own,
        cpu_time_share=share.share,
        unit_cpu_time_s=w.cpu_time.unit_cpu_s if w.cpu_time is not None else None,
        host_busy_cpu_time_s=w.cpu_time.host_busy_cpu_s if w.cpu_time is not None else None,
        notes=[*m.notes, *share.notes],
    )


def energy_sections(
    config: ExperimentConfig,
    w: WindowMeasurement | None,
    no_energy_reason: str | None,
    metrics: Metrics,
    baseline: IdleBaseline | None,
    timeseries_file: str | None,
    powercap_root: str,
) -> tuple[Energy, CpuEnergy]:
    """A result's GPU and CPU energy sections, carbon included where the config asks for it."""
    energy = build_energy(w, no_energy_reason, metrics, baseline, timeseries_file)
    cpu_energy = build_cpu_energy(w, powercap_root, metrics, energy)
    if config.energy.grid_intensity_g_per_kwh is not None:
        energy = with_carbon(energy, cpu_energy, metrics, config.energy.grid_intensity_g_per_kwh)
    return energy, cpu_energy


def with_phases(
    energy: Energy, split: PhaseSplit, run: MeasuredPasses, run_first: bool, run_distinct: int | None
) -> Energy:
    """The energy section with its prefill/decode split added (and the split's notes); ``run`` is the split's window."""
    pm = run.measured.gpu
    notes = [*energy.notes, *split.notes, *(f"split window: {n}" for n in (pm.notes if pm is not None else []))]
    return energy.model_copy(
        update={
            "phase_split_method": split.method,
            "split_output_tokens": run.output_tokens,
            "split_window_first": run_first,
            "split_window_energy_j": pm.total_energy_j if pm is not None else None,
            "prefill_energy_j": split.prefill_energy_j,
            "decode_energy_j": split.decode_energy_j,
            "energy_per_decode_token_j": split.energy_per_decode_token_j,
            "prefill_energy_uncertainty_j": split.prefill_uncertainty_j,
            "decode_energy_uncertainty_j": split.decode_uncertainty_j,
            "energy_per_decode_token_uncertainty_j": split.energy_per_decode_token_uncertainty_j,
            # The energy section's lengths are the meter's (as duration_s is): its edges.
            "prefill_window_s": run.measured.duration_s,
            "prefill_passes": run.n_passes,
            "split_window_input_tokens": run.split_window().input_tokens,
            "split_window_decode_tokens": run.decode_tokens,
            "split_prompt_sets_distinct": run_distinct,
            "prefill_window_start_monotonic_s": run.measured.start_s,
            "prefill_window_end_monotonic_s": run.measured.end_s,
            "prefill_window_start_unix_s": run.measured.start_unix_s,
            "prefill_window_end_unix_s": run.measured.end_unix_s,
            "notes": notes,
        }
    )


def with_carbon(energy: Energy, cpu: CpuEnergy, metrics: Metrics, g_per_kwh: float) -> Energy:
    """gCO2e per 1k output tokens from the unit's measured energy (GPU, plus its own CPU share where read)."""
    update: dict[str, Any] = {"grid_intensity_g_per_kwh": g_per_kwh}
    if energy.available and energy.total_energy_j is not None and metrics.output_tokens:
        joules = cpu.node_energy_j if cpu.node_energy_j is not None else energy.total_energy_j
        update["co2e_g_per_1k_tokens"] = joules / 3.6e6 * g_per_kwh / metrics.output_tokens * 1000.0
    return energy.model_copy(update=update)


def nvml_peak_memory(m: EnergyMeasurement | None) -> int | None:
    """Peak device memory summed over GPUs, from the timeseries (for engines outside torch's allocator)."""
    if m is None:
        return None
    per_tick: dict[float, int] = {}
    for s in m.samples:
        if s.memory_used_bytes is not None:
            per_tick[s.t_s] = per_tick.get(s.t_s, 0) + s.memory_used_bytes
    return max(per_tick.values()) if per_tick else None
