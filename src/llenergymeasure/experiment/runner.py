"""One experiment, start to finish, in this process: the body of ``llem-exp``.

Order matters for honest numbers: idle baseline before the model loads, warmup before the
window, and only generation inside the window (no tokenizer loading, no file writes).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from loguru import logger

from llenergymeasure import __version__
from llenergymeasure.atomic import write_json_atomic
from llenergymeasure.backends.base import RequestRecord
from llenergymeasure.backends.registry import load_runner_class
from llenergymeasure.clock import utcnow
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.energy.meter import EnergyMeasurement, EnergyMeter
from llenergymeasure.energy.nvml import NvmlDevices, load_pynvml
from llenergymeasure.energy.rapl import DEFAULT_POWERCAP_ROOT, CpuEnergyMeasurement, RaplMeter
from llenergymeasure.energy.scope import gpu_targets, parse_visible
from llenergymeasure.errors import EnergyUnavailableError
from llenergymeasure.experiment.baseline import baseline_power_w
from llenergymeasure.experiment.environment import collect_environment
from llenergymeasure.experiment.phases import PhaseSplit, split_phases
from llenergymeasure.experiment.prompts import select_prompts
from llenergymeasure.experiment.warmup import run_warmup
from llenergymeasure.experiment.window import Window, run_passes
from llenergymeasure.models.tiny import ensure_tiny_model, is_tiny
from llenergymeasure.results.schema import (
    CpuEnergy,
    Energy,
    ExperimentResult,
    Metrics,
    RequestSample,
    distribution,
)
from llenergymeasure.results.timeseries import write_timeseries


@dataclass(frozen=True)
class ExperimentOutcome:
    """Where the result landed."""

    result_path: Path
    result: ExperimentResult


def resolve_model(model: str) -> str:
    """A built-in tiny model becomes its local build; anything else goes to the engine as given."""
    return str(ensure_tiny_model(model)) if is_tiny(model) else model


def open_devices(
    config: ExperimentConfig, nvml_loader: Callable[[], ModuleType] = load_pynvml
) -> tuple[NvmlDevices | None, str | None]:
    """The GPUs the experiment uses (see ``energy.scope``), or None and the reason energy is unavailable.

    A ``gpu_indices`` that names no visible GPU is the config's fault: ConfigError, the unit fails.
    """
    try:
        nvml = nvml_loader()
        visible = parse_visible(os.environ.get("CUDA_VISIBLE_DEVICES"))
        try:
            n_nvml = int(nvml.nvmlDeviceGetCount())
        except nvml.NVMLError as exc:
            raise EnergyUnavailableError(f"NVML cannot count GPUs ({exc})") from None
        targets = gpu_targets(visible, n_nvml, config.gpu_count(), config.energy.gpu_indices)
        return NvmlDevices(nvml, targets=targets), None
    except EnergyUnavailableError as exc:
        return None, str(exc)


def run_experiment(
    config: ExperimentConfig,
    out_dir: Path,
    stem: str,
    config_hash: str,
    cycle: int,
    nvml_loader: Callable[[], ModuleType] = load_pynvml,
    clock: Callable[[], float] = time.monotonic,
    powercap_root: Path = DEFAULT_POWERCAP_ROOT,
) -> ExperimentOutcome:
    """Measure one experiment and write ``{stem}.json`` (and ``{stem}.parquet``) into ``out_dir``.

    ``clock`` times the window (its passes and the energy meters alike), so tests can inject one;
    CPU energy is read from RAPL under ``powercap_root`` over the same window.
    """
    started = utcnow()
    devices, no_energy_reason = open_devices(config, nvml_loader)
    interval_s = config.energy.sample_interval_ms / 1000.0
    baseline_w = None
    if devices is not None and config.baseline.enabled:
        baseline_w = baseline_power_w(devices, config.baseline, out_dir, interval_s)
    elif devices is None:
        logger.warning("energy unavailable: {}", no_energy_reason)

    if config.scenario.kind == "server":
        from llenergymeasure.experiment.serving import run_server_experiment

        served = run_server_experiment(
            config,
            out_dir,
            stem,
            config_hash,
            cycle,
            devices,
            no_energy_reason,
            baseline_w,
            resolve_model(config.model),
            clock,
            powercap_root,
        )
        return ExperimentOutcome(result_path=out_dir / f"{stem}.json", result=served)

    runner = load_runner_class(config.backend)(config)
    model_path = resolve_model(config.model)
    logger.info("loading {} on {} at {}", config.model, config.backend, config.precision)
    runner.load(model_path)
    prompts = select_prompts(config, runner.vocab_size)
    batch = prompts[: _batch_size(config)]

    def warm_step() -> float:
        t = time.perf_counter()
        runner.run(batch)
        return time.perf_counter() - t

    warm = run_warmup(config.warmup, warm_step)
    if config.warmup.thermal_settle_s:
        time.sleep(config.warmup.thermal_settle_s)
    logger.info("warmup done ({} runs); measuring {} prompts", warm.runs, len(prompts))

    meter = EnergyMeter(devices, interval_s, config.energy.method, clock) if devices is not None else None
    if meter is not None:
        meter.probe_counter_period()
    # Everything allocated so far (model, tokenizer, harness) is moved out of the collector's view,
    # so a full collection inside the window scans only what the window itself allocates.
    gc.collect()
    gc.freeze()
    cpu_meter = RaplMeter(powercap_root, clock)
    cpu: CpuEnergyMeasurement | None = None
    no_cpu_reason = None
    try:
        try:
            cpu_meter.begin()
        except EnergyUnavailableError as exc:
            no_cpu_reason = str(exc)
        if meter is not None:
            meter.begin()
        window = run_passes(lambda: runner.run(prompts), clock, config.energy.min_window_s)
        measurement = meter.end() if meter is not None else None
        if no_cpu_reason is None:
            try:
                cpu = cpu_meter.end()
            except EnergyUnavailableError as exc:
                no_cpu_reason = str(exc)
        prefill = _prefill_window(config, runner, prompts, meter, clock) if config.energy.prefill_split else None
    finally:
        gc.unfreeze()
    if no_cpu_reason:
        logger.info("CPU energy unavailable: {}", no_cpu_reason)

    memory = runner.memory()
    described = runner.describe()
    versions = runner.versions()
    runner.teardown()

    peak, kind = (
        (memory.peak_bytes, memory.kind)
        if memory.peak_bytes is not None
        else (nvml_peak_memory(measurement), "nvml_used")
    )
    metrics = build_metrics(
        window.records, window.wall_s, peak, memory.device, described.get("n_parameters"), window.n_passes
    ).model_copy(update={"peak_memory_kind": kind if peak is not None else None})
    split = None
    if prefill is not None:
        split = _split(measurement, window, prefill)
        metrics = metrics.model_copy(
            update={
                "decode_tokens": split.decode_tokens,
                "prefill_time_s": split.prefill_time_s,
                "decode_time_s": split.decode_time_s,
                "decode_tokens_per_s": split.decode_tokens_per_s,
            }
        )
    energy, cpu_energy = energy_sections(
        config, measurement, no_energy_reason, metrics, baseline_w, out_dir, stem, cpu, no_cpu_reason, powercap_root
    )
    if measurement is not None and split is not None and prefill is not None:
        energy = with_phases(energy, split, prefill)
    result = ExperimentResult(
        llem_version=__version__,
        config_hash=config_hash,
        cycle=cycle,
        config=config.model_dump(mode="json"),
        started_at=started,
        finished_at=utcnow(),
        warmup_runs=warm.runs,
        warmup_final_cv=warm.final_cv,
        metrics=metrics,
        energy=energy,
        cpu_energy=cpu_energy,
        environment=collect_environment(devices, versions) | {"device": described.get("device")},
    )
    path = out_dir / f"{stem}.json"
    write_json_atomic(path, result.model_dump(mode="json"))
    logger.info(
        "{:.1f} output tok/s, energy {}",
        metrics.output_tokens_per_s,
        f"{energy.energy_per_output_token_j:.4g} J/token" if energy.available else "unavailable",
    )
    return ExperimentOutcome(result_path=path, result=result)


def energy_sections(
    config: ExperimentConfig,
    measurement: EnergyMeasurement | None,
    no_energy_reason: str | None,
    metrics: Metrics,
    baseline_w: float | None,
    out_dir: Path,
    stem: str,
    cpu: CpuEnergyMeasurement | None,
    no_cpu_reason: str | None,
    powercap_root: Path,
) -> tuple[Energy, CpuEnergy]:
    """A result's GPU and CPU energy sections (carbon included where asked), its timeseries written beside it.

    Offline and server-mode experiments both end here, so every energy figure a config asks for is
    derived the same way whichever scenario measured the window.
    """
    ts_name = None
    if measurement is not None and measurement.samples:
        ts_name = f"{stem}.parquet"
        write_timeseries(out_dir / ts_name, measurement.samples, measurement.samples[0].t_s)
    energy = build_energy(measurement, no_energy_reason, metrics, baseline_w, ts_name)
    cpu_energy = build_cpu_energy(cpu, no_cpu_reason, powercap_root, metrics, energy)
    if config.energy.grid_intensity_g_per_kwh is not None:
        energy = with_carbon(energy, cpu_energy, metrics, config.energy.grid_intensity_g_per_kwh)
    return energy, cpu_energy


@dataclass(frozen=True)
class PrefillWindow:
    """The prefill-only window: its passes, length, and GPU energy where measured."""

    window: Window
    measurement: EnergyMeasurement | None


def _prefill_window(
    config: ExperimentConfig,
    runner: Any,
    prompts: list[Any],
    meter: EnergyMeter | None,
    clock: Callable[[], float],
) -> PrefillWindow:
    """Same prompts, same batches, one output token each, as long as the main window's minimum."""
    if meter is not None:
        meter.begin()
    window = run_passes(lambda: runner.run(prompts, max_new_tokens=1), clock, config.energy.min_window_s)
    m = meter.end() if meter is not None else None
    logger.info("prefill-only window: {} passes in {:.3f} s", window.n_passes, window.wall_s)
    return PrefillWindow(window, m)


def _split(measurement: EnergyMeasurement | None, window: Window, prefill: PrefillWindow) -> PhaseSplit:
    """Energy and time split of the main window; energy figures are 0 when there is no energy."""
    main_j = measurement.total_energy_j if measurement is not None else 0.0
    pre_j = prefill.measurement.total_energy_j if prefill.measurement is not None else 0.0
    return split_phases(
        total_energy_j=main_j,
        total_uncertainty_j=measurement.total_energy_uncertainty_j if measurement is not None else None,
        wall_s=window.wall_s,
        n_passes=window.n_passes,
        output_tokens=sum(r.output_tokens for r in window.records),
        n_requests=len(window.records),
        prefill_energy_j=pre_j,
        prefill_uncertainty_j=(
            prefill.measurement.total_energy_uncertainty_j if prefill.measurement is not None else None
        ),
        prefill_wall_s=prefill.window.wall_s,
        prefill_passes=prefill.window.n_passes,
    )


def with_phases(energy: Energy, split: PhaseSplit, prefill: PrefillWindow) -> Energy:
    """The energy section with its prefill/decode split added (and the split's notes)."""
    pm = prefill.measurement
    notes = [*energy.notes, *split.notes, *(f"prefill window: {n}" for n in (pm.notes if pm is not None else []))]
    return energy.model_copy(
        update={
            "prefill_energy_j": split.prefill_energy_j,
            "decode_energy_j": split.decode_energy_j,
            "energy_per_decode_token_j": split.energy_per_decode_token_j,
            "prefill_energy_uncertainty_j": split.prefill_uncertainty_j,
            "decode_energy_uncertainty_j": split.decode_uncertainty_j,
            # The energy section's lengths are the meter's (as duration_s is): begin() to end().
            "prefill_window_s": pm.duration_s if pm is not None else prefill.window.wall_s,
            "prefill_passes": prefill.window.n_passes,
            "notes": notes,
        }
    )


def with_carbon(energy: Energy, cpu: CpuEnergy, metrics: Metrics, g_per_kwh: float) -> Energy:
    """gCO2e per 1k output tokens from the node's measured energy (GPU, plus CPU where read)."""
    update: dict[str, Any] = {"grid_intensity_g_per_kwh": g_per_kwh}
    if energy.available and energy.total_energy_j is not None and metrics.output_tokens:
        joules = cpu.node_energy_j if cpu.node_energy_j is not None else energy.total_energy_j
        update["co2e_g_per_1k_tokens"] = joules / 3.6e6 * g_per_kwh / metrics.output_tokens * 1000.0
    return energy.model_copy(update=update)


def _hottest(m: EnergyMeasurement, first: bool) -> float | None:
    """Highest GPU temperature at the first (or last) sampling tick."""
    if not m.samples:
        return None
    tick = m.samples[0].t_s if first else m.samples[-1].t_s
    temps = [s.temperature_c for s in m.samples if s.t_s == tick and s.temperature_c is not None]
    return max(temps) if temps else None


def nvml_peak_memory(m: EnergyMeasurement | None) -> int | None:
    """Peak device memory summed over GPUs, from the timeseries (for engines outside torch's allocator)."""
    if m is None:
        return None
    per_tick: dict[float, int] = {}
    for s in m.samples:
        if s.memory_used_bytes is not None:
            per_tick[s.t_s] = per_tick.get(s.t_s, 0) + s.memory_used_bytes
    return max(per_tick.values()) if per_tick else None


def _batch_size(config: ExperimentConfig) -> int:
    section: Any = config.backend_section()
    return int(getattr(section, "batch_size", None) or getattr(section, "max_batch_size", None) or 1)


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
            )
            for r in records
        ],
    )


def build_energy(
    m: EnergyMeasurement | None,
    reason: str | None,
    metrics: Metrics,
    baseline_w: float | None,
    timeseries_file: str | None,
) -> Energy:
    """Energy section of the result: derived per-token figures, or the reason there are none."""
    if m is None:
        return Energy(available=False, reason=reason or "no energy measurement")
    adjusted = m.total_energy_j - baseline_w * m.duration_s if baseline_w is not None else None

    def per_token(energy_j: float) -> float | None:
        return energy_j / metrics.output_tokens if metrics.output_tokens else None

    unc = m.total_energy_uncertainty_j
    notes = list(m.notes)
    if adjusted is not None and adjusted < 0:
        note = (
            f"energy above idle is negative ({adjusted:.4g} J): the window drew less than the idle baseline"
            f" ({baseline_w:.4g} W); flagged, and left out of rankings"
        )
        notes.append(note)
        logger.warning(note)

    return Energy(
        available=True,
        method=m.method,
        duration_s=m.duration_s,
        total_energy_j=m.total_energy_j,
        per_gpu_energy_j={str(k): v for k, v in m.per_gpu_energy_j.items()},
        mean_power_w=m.mean_power_w,
        energy_per_output_token_j=per_token(m.total_energy_j),
        energy_per_request_j=m.total_energy_j / metrics.n_requests,
        baseline_power_w=baseline_w,
        adjusted_energy_j=adjusted,
        adjusted_energy_per_output_token_j=per_token(adjusted) if adjusted is not None else None,
        adjusted_negative=adjusted < 0 if adjusted is not None else None,
        sampled_energy_j=m.sampled_energy_j,
        counter_sampling_gap=m.counter_sampling_gap,
        sample_count=m.sample_count,
        sample_interval_s=m.sample_interval_s,
        temperature_start_c=_hottest(m, first=True),
        temperature_end_c=_hottest(m, first=False),
        throttled=bool(m.throttle_reasons),
        throttle_reasons=m.throttle_reasons,
        notes=notes,
        timeseries_file=timeseries_file,
        counter_update_period_s=m.counter_update_period_s,
        total_energy_uncertainty_j=unc,
        per_gpu_energy_uncertainty_j={str(k): v for k, v in (m.per_gpu_uncertainty_j or {}).items()},
        energy_per_output_token_uncertainty_j=per_token(unc) if unc is not None else None,
        uncertainty_method=m.uncertainty_method if unc is not None else None,
    )


def build_cpu_energy(
    m: CpuEnergyMeasurement | None, reason: str | None, root: Path, metrics: Metrics, gpu: Energy
) -> CpuEnergy:
    """CPU section of the result, with the node total (CPU + GPU) where both were measured."""
    if m is None:
        return CpuEnergy(available=False, reason=reason or "no CPU energy measurement", source=str(root))
    total = m.total_energy_j
    node = total + gpu.total_energy_j if gpu.available and gpu.total_energy_j is not None else None
    tokens = metrics.output_tokens
    return CpuEnergy(
        available=True,
        source=str(root),
        duration_s=m.duration_s,
        package_energy_j={str(k): v for k, v in m.package_energy_j.items()},
        dram_energy_j={str(k): v for k, v in m.dram_energy_j.items()},
        total_energy_j=total,
        energy_per_output_token_j=total / tokens if tokens else None,
        node_energy_j=node,
        node_energy_per_output_token_j=node / tokens if node is not None and tokens else None,
        notes=m.notes,
    )
