"""Warmup until steady state: a fixed count, or until latency stops varying; then, if asked, until the GPUs settle.

``warmup.until_settled`` goes on running warmup batches after the count/cv rule until every
measured GPU's temperature and power have settled (the rule is ``energy.thermal.settle_verdict``),
capped by ``warmup.settle_max_s``. It replaces an idle pause after warmup, which let the GPU cool
before the window it was meant to settle. The GPUs are read between batches, at most every
``SETTLE_POLL_S`` (and at least ``READINGS_PER_WINDOW`` times per settle window), from the
warmup's first batch on, so batches counted by the rule count towards settling too. A batch
longer than the poll interval is read after it ends: the readings are then sparser, never wrong.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from llenergymeasure.config.experiment import WarmupConfig
from llenergymeasure.energy.thermal import (
    Drift,
    SettleRule,
    SettleVerdict,
    ThermalProbe,
    ThermalReading,
    describe,
    settle_verdict,
)
from llenergymeasure.results.schema import GpuSettle, WarmupSettle

# Read the GPUs at most this often while settling; NVML's power average is 1 s, its temperature whole °C.
SETTLE_POLL_S = 1.0
# ... and at least this many times per settle window, so a short window still has a line to fit.
READINGS_PER_WINDOW = 10
# A unit that prints nothing for execution.idle_timeout_s is taken for hung: say something this often.
LOG_EVERY_S = 60.0


@dataclass(frozen=True)
class WarmupOutcome:
    """How many warmup runs were made, the final coefficient of variation (cv mode) and how settling ended."""

    runs: int
    final_cv: float | None
    settle: WarmupSettle | None = None


def coefficient_of_variation(values: list[float]) -> float:
    """Sample standard deviation over mean; 0 for fewer than two values or a zero mean."""
    if len(values) < 2:
        return 0.0
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if mean else 0.0


def settle_rule(cfg: WarmupConfig) -> SettleRule:
    """The settle rule of ``cfg``'s ``settle_*`` fields."""
    return SettleRule(cfg.settle_window_s, cfg.settle_max_drift_c, cfg.settle_max_power_change, cfg.settle_max_s)


def run_warmup(
    cfg: WarmupConfig,
    step: Callable[[], float],
    probe: ThermalProbe | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> WarmupOutcome:
    """Call ``step`` (which returns a latency) until the warmup rule is satisfied, then until settled if asked.

    ``probe`` reads the measured GPUs (None without NVML: ``until_settled`` then records
    'unavailable' and the rule alone applies); ``clock`` stamps its readings.
    """
    settling = _Settling(settle_rule(cfg), probe, clock) if cfg.until_settled and probe is not None else None
    if settling is not None and not settling.readable:
        settling = None

    def counted_step() -> float:
        latency = step()
        if settling is not None:
            settling.after_step()
        return latency

    runs, cv = _count_rule(cfg, counted_step)
    settle = None
    if settling is not None:
        settle = settling.finish(step)
        runs = settle.runs  # settling began with the first batch: it counted the rule's batches too
    elif cfg.until_settled:
        settle = _unavailable(probe)
    return WarmupOutcome(runs=runs, final_cv=cv, settle=settle)


def settle_warmup(
    cfg: WarmupConfig,
    step: Callable[[], object] | None,
    probe: ThermalProbe | None,
    clock: Callable[[], float] = time.monotonic,
) -> WarmupSettle | None:
    """Repeat ``step`` (one round of a server's warmup requests) until the GPUs settle; None unless asked.

    Run after the count/cv rule, the idle baseline and input preparation, right before the window
    (offline batches and server rounds alike), so the window opens on the settled state.
    ``step`` None (no warmup requests to repeat) cannot heat anything: 'unavailable', no wait.
    """
    if not cfg.until_settled:
        return None
    if step is None:
        return _unavailable(probe, "no warmup work to repeat (scenario.warmup_requests is 0)")
    settling = _Settling(settle_rule(cfg), probe, clock) if probe is not None else None
    if settling is None or not settling.readable:
        return _unavailable(probe)
    return settling.finish(step)


def _count_rule(cfg: WarmupConfig, step: Callable[[], float]) -> tuple[int, float | None]:
    """The fixed count, or cv: runs made and the final coefficient of variation."""
    if cfg.mode == "fixed":
        for _ in range(cfg.n_runs):
            step()
        return cfg.n_runs, None
    latencies: list[float] = []
    cv: float | None = None
    while len(latencies) < cfg.max_runs:
        latencies.append(step())
        if len(latencies) >= max(cfg.n_runs, cfg.window):
            cv = coefficient_of_variation(latencies[-cfg.window :])
            if cv <= cfg.cv_threshold:
                break
    return len(latencies), cv


def _unavailable(probe: ThermalProbe | None, reason: str | None = None) -> WarmupSettle:
    """The record of a settle that could not be judged: no NVML, GPUs that report neither quantity, no work."""
    if reason is None:
        no_readings = "the GPUs report neither temperature nor power"
        reason = "no GPU readings (NVML unavailable)" if probe is None else no_readings
    logger.warning("warmup until settled: {}; the n_runs/cv rule alone applied", reason)
    return WarmupSettle(outcome="unavailable", reason=reason)


class _Settling:
    """The GPUs' readings since the warmup began, and the latest verdict on them."""

    def __init__(self, rule: SettleRule, probe: ThermalProbe, clock: Callable[[], float]) -> None:
        self.rule = rule
        self.probe = probe
        self.clock = clock
        self.poll_s = min(SETTLE_POLL_S, rule.window_s / READINGS_PER_WINDOW)
        first = probe.read()
        self.series: list[list[ThermalReading]] = [[r] for r in first]
        self.started_s = first[0].t_s if first else clock()
        self.last_log_s = self.started_s
        self.runs = 0
        self.verdict: SettleVerdict = "waiting"
        self.drifts: list[Drift | None] = [None] * len(first)
        self.readable = any(r.temperature_c is not None or r.power_w is not None for r in first)

    def after_step(self) -> None:
        """Count a finished batch; read the GPUs and judge them if a poll interval has passed."""
        self.runs += 1
        last_s = self.series[0][-1].t_s
        if self.clock() - last_s < self.poll_s:
            return
        readings = self.probe.read()
        for s, r in zip(self.series, readings, strict=True):
            s.append(r)
        now_s = readings[0].t_s
        self.verdict, self.drifts = settle_verdict(self.series, self.started_s, now_s, self.rule)
        if now_s - self.last_log_s >= LOG_EVERY_S:
            self.last_log_s = now_s
            logger.info(
                "warmup: waiting for the GPUs to settle ({:.0f} s, {})",
                now_s - self.started_s,
                describe(self.probe.gpus, [s[-1] for s in self.series]),
            )

    def finish(self, step: Callable[[], object]) -> WarmupSettle:
        """Run ``step`` until the latest verdict is no longer 'waiting'; the record of how it ended."""
        while self.verdict == "waiting":
            step()
            self.after_step()
        ended_s = self.series[0][-1].t_s
        logger.info(
            "warmup {} after {:.1f} s ({})",
            self.verdict,
            ended_s - self.started_s,
            describe(self.probe.gpus, [s[-1] for s in self.series]),
        )
        return WarmupSettle(
            outcome="settled" if self.verdict == "settled" else "capped",
            duration_s=ended_s - self.started_s,
            runs=self.runs,
            gpus=[
                GpuSettle(
                    gpu=gpu,
                    start_temperature_c=s[0].temperature_c,
                    start_power_w=s[0].power_w,
                    end_temperature_c=s[-1].temperature_c,
                    end_power_w=s[-1].power_w,
                    temperature_drift_c=d.temperature_c if d is not None else None,
                    power_change=_finite(d.power_change) if d is not None else None,
                )
                for gpu, s, d in zip(self.probe.gpus, self.series, self.drifts, strict=True)
            ],
        )


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
