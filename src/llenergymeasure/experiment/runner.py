"""One offline experiment, start to finish, in this process: the body of ``llem-exp``.

Order matters for honest numbers: model load and warmup (on the measured batch shape) first, then
the idle baseline in that loaded state, then the measured windows holding only the engine's passes
(no tokenizer loading, no file writes): the main one and the prefill/decode split's shorter one,
in an order that alternates across cycles (``offline``). Server mode branches to ``serving`` before the
engine loads here. Measuring is ``measure.MeasuredWindow``'s; the result's sections are built by
the pure ``result`` module.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from loguru import logger

from llenergymeasure import __version__
from llenergymeasure.atomic import write_json_atomic
from llenergymeasure.backends.registry import load_runner_class
from llenergymeasure.clock import utcnow
from llenergymeasure.config.experiment import ExperimentConfig
from llenergymeasure.energy.cputime import DEFAULT_PROC_ROOT
from llenergymeasure.energy.nvml import NvmlDevices, load_pynvml
from llenergymeasure.energy.rapl import DEFAULT_POWERCAP_ROOT
from llenergymeasure.energy.scope import gpu_targets, parse_visible
from llenergymeasure.energy.thermal import probe_of
from llenergymeasure.errors import EnergyUnavailableError
from llenergymeasure.experiment.cooldown import cool_down_from_env
from llenergymeasure.experiment.environment import collect_environment, settings_notes
from llenergymeasure.experiment.measure import MeasuredWindow, save_timeseries
from llenergymeasure.experiment.offline import measure_windows, prepare_windows
from llenergymeasure.experiment.prompts import select_prompt_sets
from llenergymeasure.experiment.result import (
    build_metrics,
    energy_sections,
    nvml_peak_memory,
    with_phases,
    workload_section,
)
from llenergymeasure.experiment.telemetry import offline_telemetry
from llenergymeasure.experiment.warmup import run_warmup, settle_warmup
from llenergymeasure.models.tiny import ensure_tiny_model, is_tiny
from llenergymeasure.results.schema import Cooldown, ExperimentResult


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
    sleep: Callable[[float], None] = time.sleep,
    proc_root: Path = DEFAULT_PROC_ROOT,
) -> ExperimentOutcome:
    """Measure one experiment and write ``{stem}.json`` (and ``{stem}.parquet``) into ``out_dir``.

    ``clock`` times the windows (passes and meters alike) and ``sleep`` the idle baseline, so tests
    can inject them; CPU energy is read from RAPL under ``powercap_root`` over the same windows.
    """
    devices, no_energy_reason = open_devices(config, nvml_loader)
    if devices is None:
        logger.warning("energy unavailable: {}", no_energy_reason)
    # execution.cooldown (the host sets LLEM_COOLDOWN): before anything loads, back to the idle state.
    cooldown = cool_down_from_env(os.environ, devices, no_energy_reason, out_dir, clock, sleep)
    measured = MeasuredWindow(devices, config.energy, powercap_root, clock, sleep, proc_root=proc_root)
    try:
        return _run(config, out_dir, stem, config_hash, cycle, devices, no_energy_reason, measured, clock, cooldown)
    finally:
        measured.release()


def _run(
    config: ExperimentConfig,
    out_dir: Path,
    stem: str,
    config_hash: str,
    cycle: int,
    devices: NvmlDevices | None,
    no_energy_reason: str | None,
    measured: MeasuredWindow,
    clock: Callable[[], float],
    cooldown: Cooldown | None = None,
) -> ExperimentOutcome:
    """The scenario's body, with the unit's measured window."""
    started = utcnow()
    if config.scenario.kind == "server":
        from llenergymeasure.experiment.serving import run_server_experiment

        served = run_server_experiment(
            config,
            out_dir,
            stem,
            config_hash,
            cycle,
            measured,
            no_energy_reason,
            resolve_model(config.model),
            clock,
            cooldown=cooldown,
        )
        return ExperimentOutcome(result_path=out_dir / f"{stem}.json", result=served)

    runner = load_runner_class(config.backend)(config)
    model_path = resolve_model(config.model)
    logger.info("loading {} on {} at {}", config.model, config.backend, config.precision)
    runner.load(model_path)
    # Warmup runs the shape the window runs: a static batch, or every sequence the engine holds at once.
    concurrent = config.concurrent_sequences()
    first = select_prompt_sets(config, runner.vocab_size, 1, runner.count_tokens)
    batch = first.sets[0][:concurrent]
    lengths = first.output_tokens[0][:concurrent] if first.output_tokens else None
    last_step_s: list[float] = []

    def warm_step() -> float:
        t = time.perf_counter()
        runner.run(batch, output_tokens=lengths)
        last_step_s.append(time.perf_counter() - t)
        return last_step_s[-1]

    # The count (or cv) rule first; settling, when asked, comes right before the windows (below).
    warm = run_warmup(config.warmup.model_copy(update={"until_settled": False}), warm_step)
    logger.info("warmup done ({} runs of {} sequences)", warm.runs, len(batch))
    measured.prepare()
    baseline = measured.baseline(config.baseline) if config.baseline.enabled else None
    est_pass_s = last_step_s[-1] * math.ceil(config.n_prompts / concurrent) if last_step_s else None
    inputs = prepare_windows(runner, config, measured, est_pass_s)
    # warmup.until_settled: the idle baseline and input preparation cooled the GPUs; heat them to a
    # settled state again with the measured shape, right before the first window opens.
    settle = settle_warmup(config.warmup, warm_step, probe_of(devices, clock), clock)
    windows = measure_windows(inputs, config, measured, clock, cycle)
    main, records = windows.main.measured, windows.main.records
    engine_telemetry = offline_telemetry(out_dir, stem, runner, main)

    memory = runner.memory()
    described = runner.describe()
    versions = runner.versions()
    runner.teardown()

    peak, kind = (
        (memory.peak_bytes, memory.kind) if memory.peak_bytes is not None else (nvml_peak_memory(main.gpu), "nvml_used")
    )
    wall_s, n_passes = windows.main.wall_s, windows.main.n_passes
    metrics = build_metrics(records, wall_s, peak, memory.device, described.get("n_parameters"), n_passes).model_copy(
        update={"peak_memory_kind": kind if peak is not None else None}
    )
    metrics = metrics.model_copy(update={"prompt_sets_distinct": windows.prompt_sets_distinct})
    split = windows.split
    if split is not None:
        metrics = metrics.model_copy(
            update={
                "decode_tokens": split.decode_tokens,
                "prefill_time_s": split.prefill_time_s,
                "decode_time_s": split.decode_time_s,
                "decode_tokens_per_s": split.decode_tokens_per_s,
            }
        )
    ts_name = save_timeseries(out_dir, stem, main.gpu)
    energy, cpu_energy = energy_sections(
        config, main, no_energy_reason, metrics, baseline, ts_name, str(measured.rapl.root)
    )
    if windows.notes:
        energy = energy.model_copy(update={"notes": [*energy.notes, *windows.notes]})
    if main.gpu is not None and split is not None and windows.split_run is not None:
        energy = with_phases(energy, split, windows.split_run, windows.split_first, windows.split_prompt_sets_distinct)
    environment = collect_environment(devices, versions) | {"device": described.get("device")}
    if notes := settings_notes(config.gpu.power_limit_w, environment["gpus"]):
        energy = energy.model_copy(update={"notes": [*energy.notes, *notes]})
    result = ExperimentResult(
        llem_version=__version__,
        config_hash=config_hash,
        cycle=cycle,
        config=config.model_dump(mode="json"),
        started_at=started,
        finished_at=utcnow(),
        warmup_runs=warm.runs + (settle.runs if settle is not None else 0),
        warmup_final_cv=warm.final_cv,
        warmup_settle=settle,
        cooldown=cooldown,
        metrics=metrics,
        energy=energy,
        cpu_energy=cpu_energy,
        environment=environment,
        workload=workload_section(config, records, windows.main.requested),
        engine_telemetry=engine_telemetry,
    )
    path = out_dir / f"{stem}.json"
    write_json_atomic(path, result.model_dump(mode="json"))
    logger.info(
        "{:.1f} output tok/s, energy {}",
        metrics.output_tokens_per_s,
        f"{energy.energy_per_output_token_j:.4g} J/token" if energy.available else "unavailable",
    )
    return ExperimentOutcome(result_path=path, result=result)
